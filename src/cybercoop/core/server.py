"""The production web server: gunicorn, configured from the command line and the environment."""

from __future__ import annotations

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


def run_server(*, bind: str, workers: int) -> None:
    """Serve the node with gunicorn until stopped (SIGTERM or Ctrl-C)."""
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
        }
    ).run()
