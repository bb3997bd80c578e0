"""Real node processes for end-to-end tests: each with its own data folder and database, served by gunicorn.

The same steps as `make demo`: migrate, collect static files, seed, serve. On a PostgreSQL run
(DATABASE_URL set) each node gets a fresh database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
import psycopg

DEMO_PASSWORD = "e2e-demo-password-7q"

# How long a node's server may take to answer its first request. Each gunicorn worker imports the whole
# project and Django loads the URL conf on the first request; with the SQLite and PostgreSQL suites running
# side by side on two cores, each starting node processes of its own, that took 40 s once in CI.
STARTUP_SECONDS = 180


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    """Return once GET `url` answers 200; raise with the server's log if `process` ends or STARTUP_SECONDS
    pass first. A request that is slow to answer is waited for (it is the one warming the worker up), not
    abandoned and sent again."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    state = "ended" if process.poll() is not None else f"did not answer within {STARTUP_SECONDS} s"
    raise RuntimeError(f"the node's server {state}; its log:\n" + log.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One running node: its URL, data folder and environment."""

    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    database: str | None = None
    log: Path = field(default_factory=Path)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `cybercoop ARGS` against this node's data."""
        return subprocess.run(
            [sys.executable, "-m", "cybercoop", *args], env=self.env, check=check, capture_output=True, text=True
        )


def _server(base_url: str) -> psycopg.Connection:
    """A connection to the maintenance database of the server `base_url` points at."""
    params = dj_database_url.parse(base_url)
    return psycopg.connect(
        host=params["HOST"],
        port=params["PORT"] or 5432,
        user=params["USER"],
        password=params["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _create_database(base_url: str) -> tuple[str, str]:
    name = f"cybercoop_e2e_{uuid.uuid4().hex[:10]}"
    with _server(base_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{base_url.rsplit('/', 1)[0]}/{name}"


def _drop_database(base_url: str, name: str) -> None:
    with _server(base_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_node(tmp: Path, *, name: str = "E2E-узел") -> Node:
    """Prepare and start one node; raises with the server's log if it does not come up."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CYBERCOOP_DATA_DIR": str(tmp),
            "CYBERCOOP_NODE_NAME": name,
            "CYBERCOOP_DEMO": "true",
            "CYBERCOOP_DEMO_PASSWORD": DEMO_PASSWORD,
            "CYBERCOOP_LOCKOUT_FAILURES": "3",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    base_url = os.environ.get("DATABASE_URL", "")
    database = None
    if base_url:
        database, env["DATABASE_URL"] = _create_database(base_url)
    else:
        env.pop("DATABASE_URL", None)
    node = Node(url=f"http://127.0.0.1:{port}", data_dir=tmp, env=env, database=database, log=tmp / "server.log")
    node.run("manage", "migrate", "--noinput", "-v", "0")
    node.run("manage", "collectstatic", "--noinput", "-v", "0")
    node.run("manage", "seed_demo")
    with node.log.open("w") as log:
        node.process = subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(node.url + "/health/", node.process, node.log)
    except RuntimeError:
        stop_node(node)
        raise
    return node


def stop_node(node: Node) -> None:
    if node.process is not None and node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.process.kill()
    if node.database:
        _drop_database(os.environ["DATABASE_URL"], node.database)
