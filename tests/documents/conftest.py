"""Fixtures of the documents tests (names start with `render_` or `sign_` by owner)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="session")
def render_artefacts() -> Path:
    """var/artefacts/documents/: PNG renderings written by the tests, for a person to look at."""
    folder = ROOT / "var" / "artefacts" / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
