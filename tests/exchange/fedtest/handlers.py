"""Handlers for the test kinds: `fedtest.` (every test node applies it) and `fedlocal.` (only the test
process does, so a peer node refuses it as a kind it does not know)."""

from __future__ import annotations

import contextlib
from typing import Any

from cybercoop.exchange import dispatch

APPLIED: list[Any] = []  # ids of the messages applied in this process, in order


class HandlerFailed(RuntimeError):
    """What the handler raises for a message whose body asks it to fail."""


def apply(message: Any) -> None:
    if message.body.get("fail"):
        raise HandlerFailed("asked to fail")
    APPLIED.append(message.id)


def install(*, local_kinds: bool = False) -> None:
    """Register the handlers once per process (dispatch refuses a second registration of a prefix)."""
    prefixes = ["fedtest.", "fedlocal."] if local_kinds else ["fedtest."]
    for prefix in prefixes:
        with contextlib.suppress(ValueError):  # registered already
            dispatch.register(prefix)(apply)
