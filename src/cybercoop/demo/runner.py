"""`cybercoop demo`: prepare and start each demo node as its own processes, then wait.

Four nodes, each a data folder (its own SQLite database, secret key, node keys and static files), a web
server and a worker: the CSTO Secretariat's (which publishes the directory and serves Belarus, Kyrgyzstan
and Tajikistan too), Kazakhstan's, Russia's and Armenia's, on consecutive ports. They are joined the way an
operator joins real nodes (cybercoop.demo.federation), so a request drafted on the Kazakh node is worked on
the Russian node. Before the welcome, every demo case is played to where the single-node demo puts it, each act
on the node of its user, after the act before it has arrived there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cybercoop.demo import federation
from cybercoop.demo.password import demo_password


@dataclass(frozen=True)
class DemoNode:
    key: str
    label: str
    port_offset: int


NODES = [
    DemoNode(key="secretariat", label="Секретариат ОДКБ (и Беларусь, Кыргызстан, Таджикистан)", port_offset=0),
    DemoNode(key="kz", label="Казахстан", port_offset=1),
    DemoNode(key="ru", label="Россия", port_offset=2),
    DemoNode(key="am", label="Армения", port_offset=3),
]


def _cybercoop(*args: str) -> list[str]:
    return [sys.executable, "-m", "cybercoop", *args]


def _url(node: DemoNode, base_port: int) -> str:
    return f"http://127.0.0.1:{base_port + node.port_offset}"


def _node_env(node: DemoNode, data_dir: Path, base_port: int) -> dict[str, str]:
    env = dict(os.environ)
    # Each demo node keeps its own SQLite database, whatever the caller's DATABASE_URL says.
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cybercoop.settings",
            "CYBERCOOP_DEMO": "true",
            "CYBERCOOP_DEMO_NODES": ",".join(
                f"{other.label}={_url(other, base_port)}/" for other in NODES if other != node
            ),
            "CYBERCOOP_DEMO_PASSWORD": demo_password(data_dir),
        }
    )
    return env


def _run(node: federation.FederatedNode, args: Sequence[str]) -> str:
    done = subprocess.run(_cybercoop(*args), env=node.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{node.label}: cybercoop {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


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
    """Prepare every node (migrate, keys, registry and directory, users and requests), start them, play the demo
    cases across them to their end (`federation.play_cases`), print how to sign in."""
    root = Path(data_dir).resolve()
    if reset and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    nodes = []
    for demo_node in NODES:
        node = federation.FederatedNode(
            code=demo_node.key,
            label=demo_node.label,
            url=_url(demo_node, base_port),
            data_dir=root / demo_node.key,
        )
        node.data_dir.mkdir(exist_ok=True)
        node.env = {**_node_env(demo_node, root, base_port), **federation.node_env(node, _url(NODES[0], base_port))}
        nodes.append(node)
    processes: list[subprocess.Popen[bytes]] = []
    logins: list[tuple[str, dict[str, str]]] = []

    def serve(node: federation.FederatedNode) -> None:
        port = node.url.rsplit(":", 1)[1]
        processes.append(
            subprocess.Popen(_cybercoop("serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"), env=node.env)
        )
        _wait_healthy(node.url + "/", processes[-1])

    try:
        print("Preparing the nodes and the Secretariat's directory …", flush=True)
        directory_key = federation.prepare_secretariat(nodes, _run)
        secretariat, others = nodes[0], nodes[1:]
        serve(secretariat)
        for node in others:
            print(f"Joining {node.label} …", flush=True)
            federation.join(node, directory_key, _run)
        for node in nodes:
            logins += [(node.url, login) for login in federation.seed_people(node, _run)]
        for node in others:
            serve(node)
        # The workers once every node serves: an envelope posted to a node not up yet would wait out a backoff.
        processes.extend(subprocess.Popen(_cybercoop("worker"), env=node.env) for node in nodes)
        print("Playing the demo cases across the nodes …", flush=True)
        federation.play_cases(nodes, _run, signers={node.code for node in nodes})
        print("Publishing the Parties' certificate authorities …", flush=True)
        federation.publish_signing_authorities(nodes, _run)
        _print_welcome([(node.label, node.url + "/") for node in nodes], logins, demo_password(root))
        _wait(processes)
    finally:
        stop_processes(processes)


def _print_welcome(urls: list[tuple[str, str]], logins: list[tuple[str, dict[str, str]]], password: str) -> None:
    line = "=" * 78
    print(line)
    print("CyberCoop demo is running: four nodes, joined by the Secretariat's signed directory.")
    for label, url in urls:
        print(f"  {url:<24} {label}")
    print()
    print(f"Demo users (password for all: {password}); each signs in on its own node:")
    for url, login in logins:
        print(f"  {login['username']:<18} {login['role']:<12} {login['body']:<10} {url:<24} {login['full_name']}")
    print()
    print(
        "Heads and deputies give a code after their password, and sign what they approve with one:"
        " `cybercoop demo totp USERNAME` prints it."
    )
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


def stop_processes(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes, and wait for each (killed after 15 s); the tests' nodes stop the same way."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
