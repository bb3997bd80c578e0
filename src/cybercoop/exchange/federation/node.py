"""This node on the federation: its id, its private keys, its peers' public keys, and which bodies it serves."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings

from cybercoop.core.files import write_atomically
from cybercoop.exchange.federation import keys
from cybercoop.exchange.federation.keys import InvalidKey, NodeKeys, PublicKeys
from cybercoop.registry import selectors as registry


class NodeNotConfigured(RuntimeError):
    """This node cannot take part in the federation yet: no id, or no usable key file (`cybercoop node init`)."""


def this_node_id() -> str:
    """This node's id in the directory; "" for a single node that serves every body itself."""
    return str(settings.NODE_ID)


def keys_file() -> Path:
    """Where this node's private keys are kept (CYBERCOOP_NODE_KEYS)."""
    return Path(settings.NODE_KEYS_FILE)


def load_keys() -> NodeKeys:
    """This node's private keys, read once per version of the key file; NodeNotConfigured if they cannot be."""
    node_id = this_node_id()
    if not node_id:
        raise NodeNotConfigured("CYBERCOOP_NODE_ID is not set: this node takes no part in the federation")
    path = keys_file()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NodeNotConfigured(
            f"no key file at {path}: run `cybercoop node init --id {node_id}` (or set CYBERCOOP_NODE_KEYS)"
        ) from None
    node_keys = _read_keys(str(path), stat.st_mtime_ns, stat.st_size)
    if node_keys.node_id != node_id:
        raise NodeNotConfigured(
            f"the key file {path} belongs to node {node_keys.node_id!r}, but CYBERCOOP_NODE_ID is {node_id!r}"
        )
    return node_keys


@functools.lru_cache(maxsize=4)
def _read_keys(path: str, mtime_ns: int, size: int) -> NodeKeys:
    """The key file parsed; keyed by its modification time and size, so a new file (rotation) is read again."""
    try:
        return keys.from_private_json(Path(path).read_bytes())
    except (OSError, InvalidKey) as error:
        raise NodeNotConfigured(f"the key file {path} cannot be used: {error}") from error


def init_node(node_id: str, *, force: bool = False) -> NodeKeys:
    """Generate this node's keys and write them to the key file (mode 0600, in a folder of mode 0700).

    Refuses to replace an existing key file unless `force`: the old keys are what the directory lists, and
    every peer would refuse this node's envelopes until the Secretariat registers the new ones."""
    keys.check_node_id(node_id)
    path = keys_file()
    if path.exists() and not force:
        raise FileExistsError(f"{path} already holds this node's keys; pass --force to replace them")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    node_keys = keys.generate(node_id)
    # A new file renamed over the old one: a crash never leaves a half-written key file.
    write_atomically(path, keys.to_private_json(node_keys), mode=0o600)
    _read_keys.cache_clear()
    return node_keys


def peer_keys(node_code: str) -> PublicKeys | None:
    """The public keys the registry (mirrored from the directory) lists for a node; None for a node it does
    not list or has withdrawn. Raises InvalidKey when the registry's copy of the keys is unusable."""
    peer = registry.get_node(node_code)
    if peer is None or peer.withdrawn_at is not None:
        return None
    return _public_keys(
        peer.code, json.dumps(peer.signing_jwk, sort_keys=True), json.dumps(peer.encryption_jwk, sort_keys=True)
    )


@functools.lru_cache(maxsize=256)
def _public_keys(code: str, signing_jwk: str, encryption_jwk: str) -> PublicKeys:
    """A node's keys parsed once per version of its JWKs (every envelope asks; the registry rarely changes)."""
    return PublicKeys.from_jwks({"node_id": code, "keys": [json.loads(signing_jwk), json.loads(encryption_jwk)]})


def node_code(body: Any) -> str:
    """The id of the node that serves `body`, as the directory says; "" for a body it assigns to no node (on a
    single node, which has no id, that is every body, and all of them are served here)."""
    return "" if body.node_id is None else str(body.node.code)


def is_local(body: Any) -> bool:
    """Is `body` served by this node, so that a message to it is delivered by storing it? On a single node
    (no CYBERCOOP_NODE_ID) every body is; on a federated node only the bodies the directory assigns to it —
    a body assigned to no node is served nowhere, not here."""
    this = this_node_id()
    if not this:
        return True
    return body.node_id is not None and body.node.code == this
