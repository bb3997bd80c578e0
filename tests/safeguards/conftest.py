"""The world of tests/safeguards/world.py, built once per test module inside a transaction rolled back at its end:
each test then runs in its own savepoint (pytest-django's `db`), so nothing a test does reaches the next."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

from cybercoop.core import clock as clock_module
from tests.conftest import START
from tests.safeguards.world import World, build_world


@pytest.fixture(scope="module")
def world_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("world")


def _world_settings(folder):
    """What tests/conftest.py's `_test_settings` sets for each test, for the module's world as well; plus the world's
    own attachments key and folders (never the checkout's var/)."""
    return {
        "MEDIA_ROOT": folder / "media",
        "DATA_DIR": folder / "data",
        "ATTACHMENTS_KEY_FILE": folder / "keys" / "attachments.key",
        "SECRETS_KEY_FILE": folder / "keys" / "secrets.key",
        "NODE_KEYS_FILE": folder / "node" / "keys.json",
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "TASKS": {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}},
    }


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, world_folder) -> World:
    """The world, at 2026-11-23 09:00 UTC (the clock stays frozen there for the module)."""
    with (
        django_db_blocker.unblock(),
        override_settings(**_world_settings(world_folder)),
        clock_module.use_clock(clock_module.FrozenClock(START)),
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _in_the_world(request, settings, world_folder):
    """Each test of a module with a world sees the world's files and key (after `_test_settings` chose its own)."""
    if "world" in request.fixturenames:
        for name, value in _world_settings(world_folder).items():
            setattr(settings, name, value)
