"""Transports carry a stored message to the node that serves its recipient (DESIGN: "a case is a conversation").

`local`: both bodies live on this node, so the message is already where it must be. `federation`
(the federation issue) writes an outbox row in the same transaction and a worker delivers it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Transport(Protocol):
    """Carries a message already stored (and applied) on this node to its recipient's node."""

    name: str

    def deliver(self, message: Any) -> None: ...


class LocalTransport:
    """Both bodies are served by this node: storing the message delivered it."""

    name = "local"

    def deliver(self, message: Any) -> None:
        return None


def for_recipient(body: Any) -> Transport:
    """The transport that reaches `body`. Every body is local until the federation issue adds nodes."""
    return LocalTransport()
