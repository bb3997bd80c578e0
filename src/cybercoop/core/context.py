"""Who and what the current unit of work is for: the request id that ties log lines and audit entries."""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    """A fresh random id for a request, task or command run."""
    return uuid.uuid4().hex


def get_request_id() -> str:
    """The id of the request (or task, or command) being served; empty outside one."""
    return _request_id.get()


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """Run a block as one unit of work with the given id."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)
