"""Joining demo nodes into a federation, through the same `cybercoop node …` commands an operator runs
(docs/federation.md, "Two real nodes"): used by `cybercoop demo` and by the multi-node tests.

1. every node: migrate, collect static files, create its keys (`node init`);
2. the Secretariat's node: the registry (`seed_demo --registry-only`), every node registered with its
   public keys and address, every body assigned to its node, the directory published;
3. the Secretariat's node starts serving (the others fetch the directory from it);
4. every other node: pin the Secretariat's directory key, fetch the directory (its registry mirrors it);
5. every node: its users and the first acts of their requests, up to the first act of another node's user
   (`seed_demo --node ID`); then it serves, and its worker delivers;
6. every node, side by side: the rest of the demo cases (`play_cases`, `seed_demo --node ID --play`), each node
   doing its own users' acts as the other nodes' acts arrive, so that every case ends where the single-node demo
   puts it; then, in the demo, its Parties' certificate authorities and signers (`--signers`, P6.5), after the
   played acts, which go unsigned with the clock set back as on a single node;
7. the Secretariat's node: every node's authorities registered and published in the directory, which every
   other node fetches again (`publish_signing_authorities`), so each verifies the others' signed documents.

Each node plays on its own database and waits only for what arrives there, as an operator's node would: no step
reads another node's database, and the play is as fast as the workers carry the messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cybercoop.demo import data, signers


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

    def prepare(node: FederatedNode) -> str:
        run(node, ["manage", "migrate", "--noinput", "-v", "0"])
        run(node, ["manage", "collectstatic", "--noinput", "-v", "0"])
        if not (node.data_dir / "node" / "keys.json").exists():
            run(node, ["node", "init", "--id", node.code])
        return run(node, ["node", "show"])

    # Each node's database and keys are its own: prepared side by side.
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        public_keys = dict(zip([node.code for node in nodes], pool.map(prepare, nodes), strict=True))
    secretariat = next(node for node in nodes if node.is_secretariat)
    run(secretariat, ["manage", "seed_demo", "--registry-only"])
    directory_key = json.loads(run(secretariat, ["node", "directory-key"]))
    for node in nodes:
        run(
            secretariat,
            ["node", "register", node.code, "--url", node.url, "--keys", public_keys[node.code], "--name", node.label],
        )
    for node_code, bodies in bodies_by_node({node.code for node in nodes}).items():
        run(secretariat, ["node", "assign", *bodies, node_code])
    run(secretariat, ["node", "publish"])
    return directory_key


def join(node: FederatedNode, directory_key: dict[str, Any], run: Run) -> None:
    """Step 4, on a node other than the Secretariat's (which must be serving by now)."""
    run(node, ["node", "pin", json.dumps(directory_key)])
    run(node, ["node", "refresh"])


def seed_people(node: FederatedNode, run: Run, *, signers: bool = False) -> list[dict[str, str]]:
    """Step 5: the node's users and the first acts of their requests (and, with `signers`, its Parties' authorities
    and signers: only where no case is played after, see step 6); returns their logins."""
    args = ["manage", "seed_demo", "--node", node.code, "--json", *(["--signers"] if signers else [])]
    logins: list[dict[str, str]] = json.loads(run(node, args))
    return logins


def nodes_with_cases(nodes: Sequence[FederatedNode]) -> list[FederatedNode]:
    """The nodes the play concerns: those serving the requesting body of a demo case, or its requested body if the
    request is sent (a draft only submitted for approval never leaves its node)."""
    served = bodies_by_node({node.code for node in nodes})
    users = {username: body for username, body, *_rest in data.USERS}
    bodies = set()
    for _key, author, to_body, _urgent, _subject, steps in data.CASES:
        bodies.add(users[author])
        if any(action != "submit" for _day, _actor, action, _args in steps):
            bodies.add(to_body)
    return [node for node in nodes if bodies & set(served.get(node.code, ()))]


def play_cases(nodes: Sequence[FederatedNode], run: Run, *, signers: Collection[str] = ()) -> None:
    """Step 6 (every node serving, the workers of `nodes_with_cases` running): `seed_demo --node ID --play` on each
    of those nodes at once, each waiting for the acts the others send it; and on the nodes named in `signers`, then,
    their signers. Raises what `run` raises for the first node whose play failed (the case and the act it names)."""
    playing = {node.code for node in nodes_with_cases(nodes)}

    def play(node: FederatedNode) -> None:
        args = (["--play"] if node.code in playing else []) + (["--signers"] if node.code in signers else [])
        run(node, ["manage", "seed_demo", "--node", node.code, *args])

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(play, node) for node in nodes if node.code in playing or node.code in signers]
    errors = [error for error in (future.exception() for future in futures) if error is not None]
    if errors:
        # One node's play that failed leaves the others waiting for it: every failure is told, the first raised.
        if len(errors) > 1:
            errors[0].add_note("\n".join(["Also:", *(str(error) for error in errors[1:])]))
        raise errors[0]


def publish_signing_authorities(nodes: Sequence[FederatedNode], run: Run) -> None:
    """Step 7 (the Secretariat's node serving): register on it the CA certificates each other node's `seed_demo`
    wrote, publish the directory with them, and have the other nodes fetch it. Safe to run again."""
    secretariat = next(node for node in nodes if node.is_secretariat)
    others = [node for node in nodes if not node.is_secretariat]
    for node in others:
        for path in sorted((node.data_dir / "documents" / "authorities").glob("*.pem")):
            party = path.stem
            known = run(secretariat, ["documents", "show", party])
            if signers.fingerprint_of(path.read_text(encoding="ascii")) not in known:
                run(secretariat, ["documents", "ca", party, "--register", str(path)])
    run(secretariat, ["node", "publish"])
    for node in others:
        run(node, ["node", "refresh"])
