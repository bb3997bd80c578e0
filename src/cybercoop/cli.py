"""The `cybercoop` command: run a node, its worker, the demo, and the project's administrative commands.

cybercoop serve            the production web server (gunicorn)
cybercoop worker           the background worker: periodic jobs and queued tasks (--once, --interval)
cybercoop demo             migrate, seed and start the demonstration on 127.0.0.1
cybercoop demo totp USER   the TOTP code a demo head or deputy signs with now
cybercoop audit verify     walk the audit chain and report the first broken or missing entry
cybercoop archive check    hash every archived official document again; name those missing or altered
cybercoop rules report     every rule ID with the code that cites it and the tests that prove it
cybercoop node …           this node on the federation: init, show, check PEER, outbox
cybercoop documents …      signers' keys: ca PARTY, issue USERNAME, import USERNAME FILE.p12, show PARTY
cybercoop keys …           keys at rest (attachments, secrets, documents): status, rotate, rewrap, retire
cybercoop manage …         any Django management command (migrate, create_api_token, …)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

SETTINGS = "cybercoop.settings"

# Top-level verbs that are management commands of the same name, with their own sub-commands.
COMMAND_ALIASES = {
    "audit": "Audit log: `cybercoop audit verify`.",
    "archive": "Archive of official documents: `cybercoop archive check [--sweep]`.",
    "rules": "Rule catalogue: `cybercoop rules report`.",
    "i18n": "Translations: `cybercoop i18n extract|compile|check`.",
    "node": "Federation node: `cybercoop node init|show|check|outbox`.",
    "documents": "Signers' keys and certificates: `cybercoop documents ca|issue|import|show`.",
    "keys": "Keys at rest: `cybercoop keys [NAME [status|rotate|rewrap|retire]]`.",
}


def _django(argv: Sequence[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["cybercoop manage", *argv])


def _serve(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from cybercoop.core.server import run_server, tls_options

    try:
        tls = tls_options(
            cert=os.environ.get("CYBERCOOP_TLS_CERT", ""),
            key=os.environ.get("CYBERCOOP_TLS_KEY", ""),
            client_ca=os.environ.get("CYBERCOOP_TLS_CLIENT_CA", ""),
        )
    except ValueError as error:
        raise SystemExit(f"cybercoop serve: {error}") from None
    run_server(bind=args.bind, workers=args.workers, tls=tls)


def _worker(args: argparse.Namespace) -> None:
    argv = ["worker"]
    if args.once:
        argv.append("--once")
    if args.interval is not None:
        argv += ["--interval", args.interval]
    _django(argv)


def _demo(args: argparse.Namespace) -> None:
    if args.action:
        _demo_totp(args.action)
        return
    from cybercoop.demo.runner import run_demo

    run_demo(base_port=args.port, data_dir=args.data_dir, reset=args.reset)


def _demo_totp(action: Sequence[str]) -> None:
    """`cybercoop demo totp USERNAME`: the code a demo signer's authenticator shows now (a fixed demo secret)."""
    if len(action) != 2 or action[0] != "totp":
        raise SystemExit("usage: cybercoop demo totp USERNAME")
    from cybercoop.demo.signers import current_code, seconds_left

    print(current_code(action[1]))
    print(f"valid for {seconds_left()} more seconds; each code signs once", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cybercoop",
        description="CyberCoop node: cooperation of CSTO member states against crime in the information sphere.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="Run the production web server (gunicorn).")
    serve.add_argument("--bind", default=os.environ.get("CYBERCOOP_BIND", "127.0.0.1:8000"))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("CYBERCOOP_WEB_WORKERS", "2")))
    serve.set_defaults(handler=_serve)

    worker = sub.add_parser("worker", help="Run the background worker (periodic jobs and queued tasks).")
    worker.add_argument("--once", action="store_true", help="Run one pass, then exit (for cron).")
    worker.add_argument("--interval", help="Seconds between passes (default 5).")
    worker.set_defaults(handler=_worker)

    demo = sub.add_parser("demo", help="Migrate, seed and serve the demonstration on 127.0.0.1.")
    demo.add_argument("--port", type=int, default=8000, help="Port of the first node (default 8000).")
    demo.add_argument("--data-dir", default="var/demo", help="Where the demo nodes keep their data.")
    demo.add_argument("--reset", action="store_true", help="Delete the demo's data first.")
    demo.add_argument(
        "action", nargs="*", metavar="totp USERNAME", help="Print a demo signer's current TOTP code (P6.5), and exit."
    )
    demo.set_defaults(handler=_demo)

    manage = sub.add_parser("manage", help="Run a Django management command.", add_help=False)
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(handler=lambda a: _django(a.rest))

    for name, text in COMMAND_ALIASES.items():
        alias = sub.add_parser(name, help=text, add_help=False)
        alias.add_argument("rest", nargs=argparse.REMAINDER)
        alias.set_defaults(handler=lambda a, name=name: _django([name, *a.rest]))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        sys.exit(2)
    args.handler(args)


if __name__ == "__main__":
    main()
