"""Transports carry a stored message to the node that serves its recipient (DESIGN: "a case is a conversation").

`local`: both bodies live on this node, so the message is already where it must be. `federation`: the
recipient is served by another node; the message is sealed into an envelope and an outbox row is written in
the same transaction, which a worker delivers (`exchange.federation.outbox`).
"""

from __future__ import annotations

from typing import Any, Protocol

from cybercoop.exchange.federation import node


class Transport(Protocol):
    """Carries a message already stored (and applied) on this node to its recipient's node."""

    name: str

    def deliver(self, message: Any) -> None: ...


class LocalTransport:
    """Both bodies are served by this node: storing the message delivered it."""

    name = "local"

    def deliver(self, message: Any) -> None:
        return None


def serves(body: Any) -> bool:
    """Does this node speak for `body` (send its messages)? Only for the bodies the directory assigns to it."""
    return node.is_local(body)


def for_recipient(body: Any) -> Transport:
    """The transport that reaches `body`: local when this node serves it, the federation otherwise."""
    if node.is_local(body):
        return LocalTransport()
    from cybercoop.exchange.transports.federation import FederationTransport

    return FederationTransport(peer=node.node_code(body))
