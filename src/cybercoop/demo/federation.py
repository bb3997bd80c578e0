"""Joining demo nodes into a federation, through the same `cybercoop node …` commands an operator runs
(docs/federation.md, "Two real nodes"): used by `cybercoop demo` and by the multi-node tests.

1. every node: migrate, collect static files, create its keys (`node init`);
2. the Secretariat's node: the registry (`seed_demo --registry-only`), every node registered with its
   public keys and address, every body assigned to its node, the directory published;
3. the Secretariat's node starts serving (the others fetch the directory from it);
4. every other node: pin the Secretariat's directory key, fetch the directory (its registry mirrors it);
5. every node: its users and its requests (`seed_demo --node ID`); then it serves, and its worker delivers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cybercoop.demo import data


@dataclass
class FederatedNode:
    """One node of the demo: its id in the directory, address, data folder and environment."""

    code: str
    label: str
    url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def is_secretariat(self) -> bool:
        return self.code == data.SECRETARIAT_NODE


Run = Callable[[FederatedNode, Sequence[str]], str]  # runs `cybercoop ARGS` for a node, returns its stdout


def node_env(node: FederatedNode, secretariat_url: str) -> dict[str, str]:
    """The variables that make a process this node of the federation."""
    return {
        "CYBERCOOP_DATA_DIR": str(node.data_dir),
        "CYBERCOOP_NODE_ID": node.code,
        "CYBERCOOP_NODE_URL": node.url,
        "CYBERCOOP_NODE_NAME": node.label,
        "CYBERCOOP_DIRECTORY_URL": "" if node.is_secretariat else secretariat_url,
    }


def bodies_by_node(node_codes: set[str]) -> dict[str, list[str]]:
    """Which node serves which of the demo's bodies: its Party's node if that node is among `node_codes`, the
    Secretariat's otherwise."""
    served: dict[str, list[str]] = {}
    for party, code, *_rest in data.BODIES:
        node = data.DEMO_NODE_OF_PARTY.get(party, data.SECRETARIAT_NODE)
        served.setdefault(node if node in node_codes else data.SECRETARIAT_NODE, []).append(code)
    return served


def prepare_secretariat(nodes: Sequence[FederatedNode], run: Run) -> dict[str, Any]:
    """Steps 1 and 2: every node's keys, the Secretariat's registry and its first directory. Returns the
    directory key's public JWK, for the other nodes to pin."""
    public_keys = {}
    for node in nodes:
        run(node, ["manage", "migrate", "--noinput", "-v", "0"])
        run(node, ["manage", "collectstatic", "--noinput", "-v", "0"])
        if not (node.data_dir / "node" / "keys.json").exists():
            run(node, ["node", "init", "--id", node.code])
        public_keys[node.code] = run(node, ["node", "show"])
    secretariat = next(node for node in nodes if node.is_secretariat)
    run(secretariat, ["manage", "seed_demo", "--registry-only"])
    directory_key = json.loads(run(secretariat, ["node", "directory-key"]))
    for node in nodes:
        run(
            secretariat,
            ["node", "register", node.code, "--url", node.url, "--keys", public_keys[node.code], "--name", node.label],
        )
    for node_code, bodies in bodies_by_node({node.code for node in nodes}).items():
        for body in bodies:
            run(secretariat, ["node", "assign", body, node_code])
    run(secretariat, ["node", "publish"])
    return directory_key


def join(node: FederatedNode, directory_key: dict[str, Any], run: Run) -> None:
    """Step 4, on a node other than the Secretariat's (which must be serving by now)."""
    run(node, ["node", "pin", json.dumps(directory_key)])
    run(node, ["node", "refresh"])


def seed_people(node: FederatedNode, run: Run) -> list[dict[str, str]]:
    """Step 5: the node's users and requests; returns their logins."""
    logins: list[dict[str, str]] = json.loads(run(node, ["manage", "seed_demo", "--node", node.code, "--json"]))
    return logins
