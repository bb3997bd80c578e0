"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def secrets_key(settings, tmp_path):
    """The node's secrets key in the test's own folder (not created yet)."""
    settings.SECRETS_KEY_FILE = tmp_path / "keys" / "secrets.key"
    return settings.SECRETS_KEY_FILE
