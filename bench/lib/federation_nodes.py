"""Two real CyberCoop nodes for `bench/federation.py`: each its own PostgreSQL database, data folder, keys
(`cybercoop node init`) and gunicorn server (`cybercoop serve`), with registries that know each other.

The same steps as the federation's tests (tests/exchange/peer.py): migrate, `node init`, then the registry
built by `tests.exchange.federation.setup_from_environment` from FEDTEST_NODES (the Protocol in force between
Kazakhstan, Russia and Armenia, their ministries designated, KZ-MIA served by node kz and RU-MIA by node ru),
under the settings `tests.exchange.peer_settings`, which install the test-only message kinds `fedtest.`.
It is replicated here rather than imported, because the peer fixture serves with a fixed number of workers
and creates its database under the test run's DATABASE_URL.

It lives in bench/lib/ so that `make bench`, which runs bench/*.py, does not run it on its own.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
SETTINGS = "tests.exchange.peer_settings"


def postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def maintenance() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def create_database(name: str) -> str:
    with maintenance() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER}/{name}"


def drop_database(name: str) -> None:
    with maintenance() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Node:
    """One node: its id, address, data folder, database and environment, and its server once started."""

    code: str
    port: int
    data_dir: Path
    database: str
    env: dict[str, str] = field(default_factory=dict)
    jwks: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"{SERVER}/{self.database}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def run(self, *args: str) -> str:
        """`cybercoop ARGS` against this node; raises with its output if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "cybercoop", *args], env=self.env, cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"node {self.code}: cybercoop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def serve(self, workers: int) -> None:
        """`cybercoop serve` with `workers` gunicorn workers; raises with the log if it does not come up."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cybercoop",
                    "serve",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/federation/v1/node", timeout=2) as answer:  # noqa: S310 - our URL
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"node {self.code} did not start:\n" + self.log.read_text())

    def server_pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        if self.process is None:
            return []
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def node_env(node: Node, *, synchronous_commit: bool = True) -> dict[str, str]:
    """The environment of a `cybercoop` process of `node` (its server, its commands, the bench's loads);
    without `synchronous_commit`, its connections do not wait for their commits to reach the disk (a
    diagnostic: what the flushes cost)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERCOOP_")}
    env.update(
        {
            "CYBERCOOP_DATA_DIR": str(node.data_dir),
            "CYBERCOOP_NODE_ID": node.code,
            "CYBERCOOP_NODE_URL": node.url,
            "CYBERCOOP_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": node.database_url
            + ("" if synchronous_commit else "?options=-c%20synchronous_commit%3Doff"),
            # The settings module and the test kinds' app live in tests/, which the installed package is not.
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
    )
    return env


def start_pair(root: Path, *, prefix: str, web_workers: int, synchronous_commit: bool = True) -> dict[str, Node]:
    """Nodes kz (KZ-MIA, the sender) and ru (RU-MIA, the receiver), migrated, with keys and registries that
    list both, each served by gunicorn. Returns them by code; `stop_pair` undoes all of it."""
    nodes: dict[str, Node] = {}
    try:
        for code in ("kz", "ru"):
            data_dir = root / code
            data_dir.mkdir(parents=True)
            nodes[code] = node = Node(code=code, port=free_port(), data_dir=data_dir, database=f"{prefix}_{code}")
            create_database(node.database)
            node.env = node_env(node, synchronous_commit=synchronous_commit)
            node.run("manage", "migrate", "--noinput", "-v", "0")
            node.jwks = json.loads(node.run("node", "init", "--id", code))
        known = json.dumps({code: {"url": node.url, "jwks": node.jwks} for code, node in nodes.items()})
        for node in nodes.values():
            node.env["FEDTEST_NODES"] = known
            node.run(
                "manage",
                "shell",
                "-v",
                "0",
                "-c",
                "from tests.exchange.federation import setup_from_environment; setup_from_environment()",
            )
        for node in nodes.values():
            node.serve(web_workers)
        # Both registries agree: each node reaches the other, which holds its keys (a signed ping both ways).
        for code, other in (("kz", "ru"), ("ru", "kz")):
            nodes[code].run("node", "check", other)
    except BaseException:
        stop_pair(nodes)
        raise
    return nodes


def stop_pair(nodes: dict[str, Node], *, keep: bool = False) -> None:
    for node in nodes.values():
        node.stop()
    if not keep:
        for node in nodes.values():
            drop_database(node.database)


# --- CPU accounting, from /proc ------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_pids(databases: tuple[str, ...]) -> list[int]:
    """The PostgreSQL server processes on this machine that work for `databases`: their backends, and the
    server's own helpers (WAL writer, checkpointer, autovacuum…), which they share with any other database;
    not the backends of other databases."""
    backend = re.compile(r"postgres: .*?: \S+ (\S+) (?:\S+\(\d+\)|\[local\])")
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found = backend.search(title)
            if found is None or found.group(1) in databases:
                pids.append(int(entry.name))
    return pids


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)
