"""Nodes for the federation's tests: their keys, the registry each node holds, and messages between them.

The same `setup_registry` builds the test process's registry and, in a subprocess, a peer node's, so both
sides agree on the Parties, bodies, instrument and nodes as the directory would make them agree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cybercoop.core import clock
from cybercoop.exchange.federation import envelope, keys, wire
from cybercoop.exchange.federation.keys import NodeKeys, PublicKeys
from cybercoop.registry.models import Body, Node
from cybercoop.registry.selectors import PROTOCOL_CODE
from tests.assistance.factories import protocol_between
from tests.registry.factories import BodyFactory, PartyFactory

# Which node serves which body; KZ-GP is a Kazakh body that is not designated under the Protocol.
SERVED_BY = {"KZ-MIA": "kz", "KZ-GP": "kz", "RU-MIA": "ru", "AM-MIA": "am"}


def write_keys(folder: Path, code: str) -> tuple[NodeKeys, Path]:
    """Fresh keys for node `code`, in a key file as `cybercoop node init` writes it."""
    node_keys = keys.generate(code)
    path = folder / f"{code}-keys.json"
    path.write_text(keys.to_private_json(node_keys), encoding="utf-8")
    path.chmod(0o600)
    return node_keys, path


def setup_registry(nodes: dict[str, dict[str, Any]]) -> dict[str, Body]:
    """Kazakhstan, Russia and Armenia under the Protocol (in force, their ministries designated) and the nodes
    `{code: {"url", "jwks"}}` serving their bodies. Returns the bodies by code."""
    bodies = {
        "KZ-MIA": BodyFactory(kazakh=True),
        "RU-MIA": BodyFactory(russian=True),
        "AM-MIA": BodyFactory(
            party=PartyFactory(code="AM", name_ru="Республика Армения", time_zone="Asia/Yerevan"), code="AM-MIA"
        ),
    }
    protocol_between(*bodies.values())
    bodies["KZ-GP"] = BodyFactory(party=bodies["KZ-MIA"].party, code="KZ-GP")
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = {}
    for code, spec in nodes.items():
        jwks = spec["jwks"]
        by_use = {jwk["use"]: jwk for jwk in jwks["keys"]}
        rows[code] = Node.objects.create(
            code=code,
            name=f"Node {code}",
            base_url=spec["url"],
            signing_jwk=by_use["sig"],
            encryption_jwk=by_use["enc"],
            registered_at=now,
            updated_at=now,
        )
    for body_code, body in bodies.items():
        node_code = SERVED_BY[body_code]
        if node_code in rows:
            body.node = rows[node_code]
            body.save(update_fields=["node"])
    return bodies


def setup_from_environment() -> None:
    """`setup_registry` in a peer process, from the JSON in FEDTEST_NODES (see tests/exchange/peer.py)."""
    import os

    setup_registry(json.loads(os.environ["FEDTEST_NODES"]))


@dataclass
class Federation:
    """Three nodes' keys and the registry of the node under test; `as_node` makes this process one of them."""

    settings: Any
    keys: dict[str, NodeKeys]
    key_files: dict[str, Path]
    bodies: dict[str, Body] = field(default_factory=dict)

    def public(self, code: str) -> PublicKeys:
        return self.keys[code].public()

    @contextlib.contextmanager
    def as_node(self, code: str) -> Iterator[None]:
        """Run as node `code` (its id and key file) until the block ends."""
        before = self.settings.NODE_ID, self.settings.NODE_KEYS_FILE
        self.settings.NODE_ID, self.settings.NODE_KEYS_FILE = code, self.key_files[code]
        try:
            yield
        finally:
            self.settings.NODE_ID, self.settings.NODE_KEYS_FILE = before

    def become(self, code: str) -> None:
        """Be node `code` for the rest of the test."""
        self.settings.NODE_ID, self.settings.NODE_KEYS_FILE = code, self.key_files[code]


def wire_message(
    *,
    conversation: uuid.UUID | str | None = None,
    seq: int = 1,
    prev: str | None = None,
    kind: str = "fedtest.note",
    sender: tuple[str, str] = ("kz", "KZ-MIA"),
    recipient: tuple[str, str] = ("ru", "RU-MIA"),
    created_at: dt.datetime | None = None,
    body: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    instrument: str = PROTOCOL_CODE,
    marking: str = "official",
) -> dict[str, Any]:
    """A version 1 message, by default a first note from KZ-MIA (node kz) to RU-MIA (node ru), made now."""
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "conversation": str(conversation or uuid.uuid4()),
        "kind": kind,
        "from": {"node": sender[0], "body": sender[1]},
        "to": {"node": recipient[0], "body": recipient[1]},
        "seq": seq,
        "prev": prev,
        "created_at": wire.timestamp(created_at or clock.now()),
        "instrument": instrument,
        "marking": marking,
        "purposes": ["investigation of case 261500031000217"],
        "conditions": [],
        "body": body if body is not None else {"text": "Привет"},
        "attachments": attachments or [],
    }


def next_message(previous: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The sender's next message in the same conversation, chained to `previous` by its hash."""
    return wire_message(
        conversation=previous["conversation"],
        seq=previous["seq"] + 1,
        prev=chain_hash(previous),
        sender=(previous["from"]["node"], previous["from"]["body"]),
        recipient=(previous["to"]["node"], previous["to"]["body"]),
        **changes,
    )


def chain_hash(message: dict[str, Any]) -> str:
    """The hash both nodes keep for a wire message (what the sender's next message names as `prev`)."""
    return wire.from_wire(
        message,
        sender_body=Body.objects.get(code=message["from"]["body"]),
        recipient_body=Body.objects.get(code=message["to"]["body"]),
    ).hash


def seal(message: dict[str, Any], *, sender: NodeKeys, recipient: PublicKeys) -> str:
    return envelope.seal(message, sender=sender, recipient=recipient)
