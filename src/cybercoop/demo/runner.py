"""`cybercoop demo`: prepare and start each demo node as its own processes, then wait.

A node is a data folder (its own SQLite database, secret key and static files), a web server and a
worker. This version runs one node that hosts every Party; the federation issue adds one node per
Party and the Secretariat's, each on the next port, with links between them in the banner.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cybercoop.demo.password import demo_password


@dataclass(frozen=True)
class DemoNode:
    key: str
    label: str
    port_offset: int


NODES = [DemoNode(key="node", label="Демо-узел: все Стороны и Секретариат ОДКБ", port_offset=0)]


def _cybercoop(*args: str) -> list[str]:
    return [sys.executable, "-m", "cybercoop", *args]


def _node_env(node: DemoNode, data_dir: Path, base_port: int) -> dict[str, str]:
    env = dict(os.environ)
    # Each demo node keeps its own SQLite database, whatever the caller's DATABASE_URL says.
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cybercoop.settings",
            "CYBERCOOP_DATA_DIR": str(data_dir / node.key),
            "CYBERCOOP_NODE_NAME": node.label,
            "CYBERCOOP_DEMO": "true",
            "CYBERCOOP_DEMO_NODES": ",".join(
                f"{other.label}=http://127.0.0.1:{base_port + other.port_offset}/" for other in NODES if other != node
            ),
            "CYBERCOOP_DEMO_PASSWORD": demo_password(data_dir),
        }
    )
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} stopped during start-up (exit {process.returncode})")
        try:
            with urllib.request.urlopen(url + "health/", timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server for {url} did not answer within {seconds:.0f} s")


def run_demo(*, base_port: int, data_dir: str, reset: bool) -> None:
    """Prepare every node (migrate, seed, collect static files), start them, print how to sign in."""
    root = Path(data_dir).resolve()
    if reset and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    logins: list[dict[str, str]] = []
    urls = []
    try:
        for node in NODES:
            env = _node_env(node, root, base_port)
            port = base_port + node.port_offset
            print(f"Preparing {node.label} …", flush=True)
            subprocess.run(_cybercoop("manage", "migrate", "--noinput", "-v", "0"), env=env, check=True)
            subprocess.run(_cybercoop("manage", "collectstatic", "--noinput", "-v", "0"), env=env, check=True)
            seeded = subprocess.run(
                _cybercoop("manage", "seed_demo", "--json"),
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            logins = json.loads(seeded.stdout)
            processes.append(
                subprocess.Popen(_cybercoop("serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"), env=env)
            )
            processes.append(subprocess.Popen(_cybercoop("worker"), env=env))
            url = f"http://127.0.0.1:{port}/"
            _wait_healthy(url, processes[-2])
            urls.append((node.label, url))
        _print_welcome(urls, logins, demo_password(root))
        _wait(processes)
    finally:
        _stop(processes)


def _print_welcome(urls: list[tuple[str, str]], logins: list[dict[str, str]], password: str) -> None:
    line = "=" * 78
    print(line)
    print("CyberCoop demo is running.")
    for label, url in urls:
        print(f"  {url}   {label}")
    print()
    print(f"Demo users (password for all: {password}):")
    for login in logins:
        print(f"  {login['username']:<18} {login['role']:<12} {login['body']:<10} {login['full_name']}")
    print()
    print("Press Ctrl-C to stop.")
    print(line, flush=True)


def _wait(processes: list[subprocess.Popen[bytes]]) -> None:
    stop = {"now": False}

    def _on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop["now"]:
        for process in processes:
            if process.poll() is not None:
                print(f"a demo process stopped (exit {process.returncode}); stopping the demo", flush=True)
                return
        time.sleep(0.5)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
