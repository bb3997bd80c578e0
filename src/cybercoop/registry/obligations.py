"""What a withdrawing Party still owes (P18): higher domains register sources of open obligations here.

The assistance domain, for instance, registers one listing the Party's open cases under the instrument,
from its `AppConfig.ready()`; the registry shows whatever the sources report, without importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Obligation:
    """One thing to settle before the withdrawal takes effect."""

    label: str
    url: str = ""


ObligationSource = Callable[[Any, Any], list[Obligation]]  # (instrument, party) -> obligations
_sources: list[ObligationSource] = []


def register(source: ObligationSource) -> ObligationSource:
    """Decorator: add a source of open obligations."""
    _sources.append(source)
    return source


def open_obligations(instrument: Any, party: Any) -> list[Obligation]:
    """Every open obligation of `party` under `instrument`, from every registered source."""
    return [obligation for source in _sources for obligation in source(instrument, party)]
