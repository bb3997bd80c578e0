"""A peer node in its own process for the federation's tests: its own database, keys and registry, served by
gunicorn on a port of its own, with the test kinds' app installed (`tests.exchange.peer_settings`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cybercoop.demo.runner import stop_processes
from tests.nodes import _create_database, _drop_database, free_port, wait_until_serving


@dataclass
class Peer:
    """A running peer node: its id, URL, public keys and process."""

    code: str
    url: str
    port: int
    data_dir: Path
    env: dict[str, str]
    jwks: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    database: str | None = None

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`cybercoop ARGS` against this node's data (check=True, output captured)."""
        return subprocess.run(
            [sys.executable, "-m", "cybercoop", *args], env=self.env, check=True, capture_output=True, text=True
        )

    def shell(self, code: str) -> str:
        return self.run("manage", "shell", "-v", "0", "-c", code).stdout

    def start(self) -> None:
        """Serve the node (again) on its port; raises with the log if it does not come up."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: `kill` ends the master and its workers
            )
        try:
            wait_until_serving(self.url + "/federation/v1/node", self.process, self.log)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server's whole process group (gunicorn's master and its workers) at once, as a crash
        would: no request it holds is finished, no transaction committed."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def create_peer(tmp: Path, *, code: str, known: dict[str, dict[str, Any]]) -> Peer:
    """Migrate, create keys (`node init`) and set up the registry of node `code`, knowing the nodes `known`
    (`{code: {"url", "jwks"}}`, this one added); then serve it."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CYBERCOOP_DATA_DIR": str(tmp),
            "CYBERCOOP_NODE_ID": code,
            "CYBERCOOP_NODE_URL": f"http://127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": "tests.exchange.peer_settings",
        }
    )
    base_url = os.environ.get("DATABASE_URL", "")
    database = None
    if base_url:
        database, env["DATABASE_URL"] = _create_database(base_url)
    else:
        env.pop("DATABASE_URL", None)
    peer = Peer(code=code, url=f"http://127.0.0.1:{port}", port=port, data_dir=tmp, env=env, jwks={}, database=database)
    try:
        peer.run("manage", "migrate", "--noinput", "-v", "0")
        peer.jwks = json.loads(peer.run("node", "init", "--id", code).stdout)
        nodes = {**known, code: {"url": peer.url, "jwks": peer.jwks}}
        peer.env["FEDTEST_NODES"] = json.dumps(nodes)
        peer.shell("from tests.exchange.federation import setup_from_environment; setup_from_environment()")
        peer.start()
    except BaseException:
        remove_peer(peer)
        raise
    return peer


def remove_peer(peer: Peer) -> None:
    peer.stop()
    if peer.database:
        _drop_database(os.environ["DATABASE_URL"], peer.database)
