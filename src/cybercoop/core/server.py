"""The production web server: gunicorn, configured from the command line and the environment."""

from __future__ import annotations

import ssl
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        # Several nodes run side by side on one machine (the demo, the tests): no shared control socket.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        from cybercoop.wsgi import application

        return application


def tls_options(*, cert: str, key: str, client_ca: str) -> dict[str, Any]:
    """gunicorn's TLS settings: HTTPS with `cert` and `key` (PEM files), and with `client_ca` mutual TLS — a
    client is served only with a certificate issued by that CA (for a listener that only other nodes call).
    Raises ValueError for a half configuration: TLS without its key, or client certificates without TLS."""
    if bool(cert) != bool(key):
        raise ValueError("CYBERCOOP_TLS_CERT and CYBERCOOP_TLS_KEY are set together, or neither")
    if client_ca and not cert:
        raise ValueError("CYBERCOOP_TLS_CLIENT_CA (mutual TLS) needs CYBERCOOP_TLS_CERT and CYBERCOOP_TLS_KEY")
    if not cert:
        return {}
    options: dict[str, Any] = {"certfile": cert, "keyfile": key}
    if client_ca:
        options.update({"ca_certs": client_ca, "cert_reqs": ssl.CERT_REQUIRED})
    return options


def run_server(*, bind: str, workers: int, tls: dict[str, Any] | None = None) -> None:
    """Serve the node with gunicorn until stopped (SIGTERM or Ctrl-C); over TLS with `tls` (`tls_options`)."""
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "worker_class": "sync",
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            "forwarded_allow_ips": "127.0.0.1",
            "proc_name": "cybercoop",
            **(tls or {}),
        }
    ).run()
