"""Who applies a stored message: the domain that owns its kind registers a handler here from its
`AppConfig.ready()` (the exchange never imports the domains above it)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

Handler = Callable[[Any], None]  # receives the stored Message, inside the transaction that stored it
_handlers: dict[str, Handler] = {}
Locker = Callable[[Collection[str]], None]  # receives the conversation ids of a batch about to be applied
_lockers: list[Locker] = []


def register(prefix: str) -> Callable[[Handler], Handler]:
    """Decorator: `handler(message)` applies every message whose kind starts with `prefix` ("assistance.")."""

    def decorator(handler: Handler) -> Handler:
        if prefix in _handlers:
            raise ValueError(f"a handler for {prefix!r} is already registered")
        _handlers[prefix] = handler
        return handler

    return decorator


def handler_for(kind: str) -> Handler:
    """The handler for a message kind; a kind nobody handles is a programming error."""
    for prefix, handler in _handlers.items():
        if kind.startswith(prefix):
            return handler
    raise LookupError(f"no handler registered for message kind {kind!r}")


def register_locker(locker: Locker) -> Locker:
    """Register `locker(conversations)`: before a batch of arriving envelopes is applied, it locks whatever the
    handlers will lock for those conversations, in one order, so that the batch never holds what one message's
    handler took (the audit chain's head) while it waits for what the next one needs (a case a user is acting on).
    """
    if locker not in _lockers:
        _lockers.append(locker)
    return locker


def lock_conversations(conversations: Collection[str]) -> None:
    """Inside the batch's transaction, before any of its messages is applied: every registered locker's locks."""
    if conversations:
        for locker in _lockers:
            locker(conversations)
