"""Real node processes for end-to-end tests: each with its own data folder and database, served by gunicorn.

The same steps as `make demo`: migrate, collect static files, seed, serve. On a PostgreSQL run
(DATABASE_URL set) each node gets a fresh database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url
import psycopg

from cybercoop.demo.federation import (
    FederatedNode,
    join,
    node_env,
    nodes_with_cases,
    play_cases,
    prepare_secretariat,
    publish_signing_authorities,
    seed_people,
)
from cybercoop.demo.runner import stop_processes

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


def maintenance_connection(base_url: str) -> psycopg.Connection:
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
    with maintenance_connection(base_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{base_url.rsplit('/', 1)[0]}/{name}"


def _drop_database(base_url: str, name: str) -> None:
    with maintenance_connection(base_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


UNCOMPRESSED_STATIC = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


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
            # Hashed, not compressed: `collectstatic` takes a tenth of the CPU; the browser gets the same files.
            "CYBERCOOP_STATIC_STORAGE": UNCOMPRESSED_STATIC,
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
    if node.process is not None:
        stop_processes([node.process])
    if node.database:
        _drop_database(os.environ["DATABASE_URL"], node.database)


# --- a federation of real nodes, joined as `make demo` joins them (cybercoop.demo.federation) ----------------


def run_cybercoop(node: FederatedNode, args: Sequence[str]) -> str:
    """Run `cybercoop ARGS` as `node`; its output, or AssertionError with what it printed."""
    done = subprocess.run([sys.executable, "-m", "cybercoop", *args], env=node.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{node.code}: cybercoop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def serve_federated(node: FederatedNode) -> subprocess.Popen[bytes]:
    """Start `node`'s web server; return once it answers (raises with its log otherwise)."""
    port = node.url.rsplit(":", 1)[1]
    with (node.data_dir / "server.log").open("a") as log:  # the server keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=node.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(node.url + "/health/", process, node.data_dir / "server.log")
    except RuntimeError:
        process.kill()
        raise
    return process


def start_worker(node: FederatedNode, *, interval: float = 0.5) -> subprocess.Popen[bytes]:
    """Start `node`'s worker, a pass every `interval` seconds (quicker than a real node's, for the tests' sake)."""
    with (node.data_dir / "worker.log").open("a") as log:  # the worker keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "worker", "--interval", str(interval)],
            env=node.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


FEDERATION_NODES = (("secretariat", "Секретариат ОДКБ"), ("kz", "Казахстан"), ("ru", "Россия"))


@contextlib.contextmanager
def federation_of_nodes(
    root: Path, *, play: bool, signers: Collection[str] = (), nodes: Sequence[tuple[str, str]] = FEDERATION_NODES
) -> Iterator[dict[str, FederatedNode]]:
    """Real nodes (by default the Secretariat's, Kazakhstan's and Russia's) joined as `make demo` joins them, each
    serving, with its users and the first acts of their demo cases. With `play`, every demo case is then played to
    its end as in `make demo` (each node's worker running meanwhile, stopped after, so that a test delivers with
    `worker --once` when it chooses); the nodes in `signers` then get their signers (P6.5). Yields the nodes by id."""
    federated = {
        code: FederatedNode(code=code, label=label, url=f"http://127.0.0.1:{free_port()}", data_dir=root / code)
        for code, label in nodes
    }
    secretariat_url = federated["secretariat"].url
    databases: list[str] = []
    servers: list[subprocess.Popen[bytes]] = []
    base_database = os.environ.get("DATABASE_URL", "")
    for node in federated.values():
        node.data_dir.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        env.update(node_env(node, secretariat_url))
        env.update({"CYBERCOOP_DEMO": "true", "CYBERCOOP_DEMO_PASSWORD": DEMO_PASSWORD})
        # Static files hashed but not compressed: `collectstatic` takes a tenth of the time (40 s of CPU per node
        # otherwise), and the tests read the API.
        env.update({"CYBERCOOP_STATIC_STORAGE": UNCOMPRESSED_STATIC})
        if base_database:
            name, env["DATABASE_URL"] = _create_database(base_database)
            databases.append(name)
        node.env = env
    try:
        directory_key = prepare_secretariat(list(federated.values()), run_cybercoop)
        servers.append(serve_federated(federated["secretariat"]))
        others = [node for node in federated.values() if not node.is_secretariat]
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            list(pool.map(lambda n: join(n, directory_key, run_cybercoop), others))
        with ThreadPoolExecutor(max_workers=len(federated)) as pool:
            # Signers only after the play: the played acts are unsigned, with the clock set back.
            list(
                pool.map(
                    lambda n: seed_people(n, run_cybercoop, signers=not play and n.code in signers), federated.values()
                )
            )
        with ThreadPoolExecutor(max_workers=len(others)) as pool:  # side by side; each stopped below if it came up
            starting = [pool.submit(serve_federated, node) for node in others]
        servers += [future.result() for future in starting if future.exception() is None]
        for future in starting:
            future.result()  # the first that did not come up
        if play:
            workers = [start_worker(node) for node in nodes_with_cases(list(federated.values()))]
            try:
                play_cases(list(federated.values()), run_cybercoop, signers=signers)
            finally:
                stop_processes(workers)
        if signers:
            publish_signing_authorities(list(federated.values()), run_cybercoop)
        yield federated
    finally:
        stop_processes(servers)
        for name in databases:
            _drop_database(base_database, name)


def api_token(node: FederatedNode, username: str, *, scope: str = "read") -> str:
    """A fresh API token of the node's user: `read` (GET only) or `act`."""
    return run_cybercoop(node, ["manage", "create_api_token", username, "--scope", scope]).strip().splitlines()[-1]


def api_call(
    node: FederatedNode,
    token: str,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
    *,
    form: bool = False,
) -> tuple[int, Any]:
    """Call the node's API (`/api/v1` + `path`) as the token's user: the status and the decoded answer, whatever the
    status; `form` sends the payload as a form (the acts with attachments)."""
    if form:
        data, kind = urllib.parse.urlencode(payload or {}).encode(), "application/x-www-form-urlencoded"
    else:
        data, kind = (json.dumps(payload).encode() if payload is not None else None), "application/json"
    request = urllib.request.Request(
        node.url + "/api/v1" + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": kind, "Accept-Language": "en"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
