"""`cybercoop node …`: this node on the federation — its keys, a peer's health, and the outbox.

node init --id ID [--force] [--directory-key JWK]   create this node's keys; print the public JWKs to register
node show                                           print this node's public JWKs
node check PEER_CODE_OR_URL                         reachable, keys, clock and protocol version of a peer
node outbox                                         outgoing envelopes per state, and the failed and rejected ones
node pin JWK_OR_FILE                                pin the Secretariat's directory key
node refresh                                        fetch the directory now (CYBERCOOP_DIRECTORY_URL)
On the Secretariat's node (as the system, from its operator's shell):
node directory-key                                  create the directory key if needed; print its public half
node register CODE --url URL --keys JWKS [--name N] register (or update) a node with its public keys
node assign BODY [BODY ...] NODE                    say which node serves the bodies
node publish                                        sign and publish the directory now, if it changed
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cybercoop.core.errors import InvalidInput
from cybercoop.exchange.federation import client, directory, keys, node, outbox
from cybercoop.registry import selectors as registry
from cybercoop.registry import services as registry_services


class Command(BaseCommand):
    help = "This node on the federation: `init`, `show`, `check PEER`, `outbox` (docs/federation.md)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="Create this node's keys and print the public keys to register.")
        init.add_argument("--id", required=True, dest="node_id", help="This node's id in the directory.")
        init.add_argument("--force", action="store_true", help="Replace existing keys (the peers must learn them).")
        init.add_argument(
            "--directory-key",
            help="The Secretariat's public directory key to pin: a JWK as JSON, or a file holding it.",
        )
        sub.add_parser("show", help="Print this node's public keys (JWK Set with the node id).")
        check = sub.add_parser("check", help="Check a peer: address, keys, clock, protocol version.")
        check.add_argument("peer", help="The peer's node code (from the directory) or its base URL.")
        check.add_argument("--timeout", type=float, default=10.0, help="Seconds per request (default 10).")
        show_outbox = sub.add_parser("outbox", help="Outgoing envelopes per state; the failed and rejected ones.")
        show_outbox.add_argument("--limit", type=int, default=50, help="How many problem rows to list.")
        pin = sub.add_parser("pin", help="Pin the Secretariat's directory key (a JWK as JSON, or a file).")
        pin.add_argument("key", help="The public JWK, or a file holding it.")
        sub.add_parser("refresh", help="Fetch the directory from the Secretariat's node now.")
        sub.add_parser("directory-key", help="Secretariat: create the directory key if needed; print its public JWK.")
        register = sub.add_parser("register", help="Secretariat: register or update a node and its public keys.")
        register.add_argument("code", help="The node's id (as its CYBERCOOP_NODE_ID).")
        register.add_argument("--url", required=True, help="The node's base URL.")
        register.add_argument("--keys", required=True, help="Its public keys (`node show` there): JSON or a file.")
        register.add_argument("--name", default="", help="A name for people (default: the code).")
        assign = sub.add_parser("assign", help="Secretariat: say which node serves the bodies.")
        assign.add_argument("bodies", nargs="+", metavar="body", help="A body's code.")
        assign.add_argument("node", help="The node's code.")
        sub.add_parser("publish", help="Secretariat: sign and publish the directory now, if its content changed.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = {"pin": "pin_key"}.get(options["action"], options["action"]).replace("-", "_")
        getattr(self, f"_{action}")(options)

    def _init(self, options: dict[str, Any]) -> None:
        try:
            node_keys = node.init_node(options["node_id"], force=options["force"])
        except FileExistsError as error:
            raise CommandError(str(error)) from error
        except keys.InvalidKey as error:
            raise CommandError(f"--id: {error}") from error
        if options["directory_key"]:
            self._pin(options["directory_key"])
        self.stdout.write(json.dumps(keys.public_jwks(node_keys), indent=2, sort_keys=True))
        self.stderr.write(
            f"Keys written to {node.keys_file()} (mode 0600). Send the public keys above to the Secretariat "
            f"to register node {node_keys.node_id!r}, and run this node with CYBERCOOP_NODE_ID={node_keys.node_id}."
        )

    def _pin(self, value: str) -> None:
        path = Path(value)
        text = path.read_text(encoding="utf-8") if not value.lstrip().startswith("{") and path.exists() else value
        try:
            key = directory.pin(json.loads(text))
        except (ValueError, keys.InvalidKey) as error:
            raise CommandError(f"--directory-key: {error}") from error
        self.stderr.write(f"Directory key {key.kid} pinned at {settings.DIRECTORY_KEY_FILE}.")

    def _pin_key(self, options: dict[str, Any]) -> None:
        self._pin(options["key"])

    def _refresh(self, options: dict[str, Any]) -> None:
        result = directory.refresh()
        self.stdout.write(
            f"{result.status}: version {result.version}" + (f" ({result.reason})" if result.reason else "")
        )
        if result.status in ("refused", "unreachable", "not_configured"):
            raise SystemExit(1)

    def _directory_key(self, options: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(directory.public_key_jwk(), indent=2, sort_keys=True))

    def _register(self, options: dict[str, Any]) -> None:
        text = _json_or_file(options["keys"])
        try:
            registered = directory.register_peer(
                actor=None,
                code=options["code"],
                name=options["name"] or options["code"],
                base_url=options["url"],
                public_jwks=json.loads(text),
            )
        except (ValueError, keys.InvalidKey) as error:
            raise CommandError(f"--keys: {error}") from error
        except InvalidInput as error:
            raise CommandError(_errors(error)) from error
        self.stderr.write(f"Node {registered.code} registered at {registered.base_url}.")

    @transaction.atomic
    def _assign(self, options: dict[str, Any]) -> None:
        """All the bodies or none: each must exist, and the node be registered."""
        bodies = [(code, registry.get_body(code=code)) for code in options["bodies"]]
        target = registry.get_node(options["node"])
        unknown = [code for code, body in bodies if body is None]
        if unknown:
            raise CommandError("no body " + ", ".join(repr(code) for code in unknown))
        if target is None:
            raise CommandError(f"no node {options['node']!r} (register it first)")
        for _code, body in bodies:
            try:
                registry_services.assign_body_node(actor=None, body=body, node=target)
            except InvalidInput as error:
                raise CommandError(f"{body.code}: {_errors(error)}") from error
            self.stderr.write(f"{body.code} is served by node {target.code}.")

    def _publish(self, options: dict[str, Any]) -> None:
        try:
            copy = directory.publish()
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"directory version {copy.version} ({copy.sha256[:12]}…)")

    def _show(self, options: dict[str, Any]) -> None:
        try:
            node_keys = node.load_keys()
        except node.NodeNotConfigured as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(keys.public_jwks(node_keys), indent=2, sort_keys=True))

    def _check(self, options: dict[str, Any]) -> None:
        try:
            node.load_keys()
        except node.NodeNotConfigured as error:
            raise CommandError(str(error)) from error
        report = client.check_peer(options["peer"], timeout=options["timeout"])
        self.stdout.write(f"{report.target}: {report.base_url or '?'}")
        for note in report.notes:
            self.stdout.write(f"  {note}")
        for problem in report.problems:
            self.stdout.write(f"  PROBLEM: {problem}")
        if not report.ok:
            raise SystemExit(1)
        self.stdout.write("  OK")

    def _outbox(self, options: dict[str, Any]) -> None:
        for state, count in outbox.summary().items():
            self.stdout.write(f"{state:>10}  {count}")
        rows = outbox.problems(limit=options["limit"])
        if rows:
            self.stdout.write("")
        for item in rows:
            why = f"rejected: {item.reason}" if item.state == "rejected" else f"{item.last_error}"
            when = (
                ""
                if item.state == "rejected"
                else f" (attempt {item.attempts}, next {item.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            self.stdout.write(f"{item.message_id}  {item.message.kind}  → {item.peer}{when}  {why}")


def _json_or_file(value: str) -> str:
    """A JSON argument, given inline or as the path of a file holding it."""
    path = Path(value)
    return path.read_text(encoding="utf-8") if not value.lstrip().startswith("{") and path.exists() else value


def _errors(error: InvalidInput) -> str:
    fields = "; ".join(f"{name}: {' '.join(str(t) for t in texts)}" for name, texts in error.errors.items())
    return f"{error.message} {fields}".strip()
