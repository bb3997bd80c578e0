"""Who applies a stored message: the domain that owns its kind registers a handler here from its
`AppConfig.ready()` (the exchange never imports the domains above it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]  # receives the stored Message, inside the transaction that stored it
_handlers: dict[str, Handler] = {}


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
