"""Panels that higher domains add to the home page, without core importing them.

A domain registers a function from its `AppConfig.ready()` (`home.register_panel(fn)`); `fn(request)`
returns `{"template": "<domain>/….html", "context": {...}}`, or None when it has nothing for this user.
The home page renders the panels in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

Panel = Callable[[HttpRequest], dict[str, Any] | None]
_panels: list[Panel] = []


def register_panel(fn: Panel) -> Panel:
    """Add `fn` to the home page (once: a second registration of the same function is ignored)."""
    if fn not in _panels:
        _panels.append(fn)
    return fn


def panels(request: HttpRequest) -> list[dict[str, Any]]:
    """The panels this request's user gets, in order: each a template name and its context."""
    result = []
    for fn in _panels:
        panel = fn(request)
        if panel is not None:
            result.append({"template": panel["template"], "context": panel.get("context", {})})
    return result
