"""Shared fixtures: settings for tests, the frozen clock, and the personas of STYLE.md."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from cybercoop.core import clock as clock_module
from cybercoop.core.rules_ref import is_known
from tests.accounts.factories import UserFactory
from tests.registry.factories import BodyFactory, PartyFactory

START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked with a rule ID the catalogue does not know stops the run."""
    unknown = sorted(
        {
            f"{item.nodeid}: {rule_id}"
            for item in items
            for mark in item.iter_markers("rule")
            for rule_id in mark.args
            if not is_known(rule_id)
        }
    )
    if unknown:
        raise pytest.UsageError("Unknown rule IDs in @pytest.mark.rule: " + "; ".join(unknown))
    _run_once(config, items)


# Checks whose outcome does not depend on the database run on one leg only when `scripts/run-tests` runs both (it
# sets CYBERCOOP_TESTS_LEG to "sqlite" or "postgresql"): the four-node demo's play across real nodes (whose
# concurrent acts and workers found deadlocks only PostgreSQL has) on PostgreSQL; the access-control matrix,
# schemathesis and the browser tests on SQLite, which has the shorter run (measured: 714 s against 1,030 s). The
# other leg deselects them (never skips); a leg run alone (no CYBERCOOP_TESTS_LEG) runs everything.
ONCE = {
    "postgresql": ("demo/test_federated_demo.py",),
    "sqlite": ("e2e", "safeguards"),
}


def _run_once(config: pytest.Config, items: list[pytest.Item]) -> None:
    leg = os.environ.get("CYBERCOOP_TESTS_LEG", "")
    if not leg:
        return
    if leg not in ONCE:
        raise pytest.UsageError(f"CYBERCOOP_TESTS_LEG={leg!r}: expected one of {', '.join(ONCE)}")
    here = Path(__file__).parent
    elsewhere_paths = [here / name for other, names in ONCE.items() if other != leg for name in names]
    elsewhere = [item for item in items if any(item.path.is_relative_to(path) for path in elsewhere_paths)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    """Fast password hashing; plain static storage (no collectstatic in unit tests); tasks run at once; uploaded,
    received and archived files in the test's own folder (never the checkout's var/media)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ATTACHMENTS_KEY_FILE = tmp_path / "attachments.key"
    settings.SECRETS_KEY_FILE = tmp_path / "secrets.key"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def clock():
    """A frozen clock at 2026-11-23 09:00 UTC that the test can move with `clock.advance()`."""
    with clock_module.use_clock(clock_module.FrozenClock(START)) as frozen:
        yield frozen


# --- personas: body A (Kazakhstan), body B (Russia), and an outsider (Armenia) ----------------------


@pytest.fixture
def kz_body(db):
    return BodyFactory(kazakh=True)


@pytest.fixture
def ru_body(db):
    return BodyFactory(russian=True)


@pytest.fixture
def outsider_body(db):
    return BodyFactory(party=PartyFactory(code="AM", name_ru="Республика Армения", time_zone="Asia/Yerevan"))


@pytest.fixture
def kz_officer(kz_body):
    return UserFactory(username="kz.officer", body=kz_body, role="officer", receives_incoming=True)


@pytest.fixture
def kz_head(kz_body):
    return UserFactory(username="kz.head", body=kz_body, role="head")


@pytest.fixture
def kz_deputy(kz_body):
    return UserFactory(username="kz.deputy", body=kz_body, role="deputy")


@pytest.fixture
def kz_auditor(kz_body):
    return UserFactory(username="kz.auditor", body=kz_body, role="auditor")


@pytest.fixture
def ru_officer(ru_body):
    return UserFactory(username="ru.officer", body=ru_body, role="officer", receives_incoming=True)


@pytest.fixture
def ru_head(ru_body):
    return UserFactory(username="ru.head", body=ru_body, role="head")


@pytest.fixture
def ru_deputy(ru_body):
    return UserFactory(username="ru.deputy", body=ru_body, role="deputy")


@pytest.fixture
def ru_auditor(ru_body):
    return UserFactory(username="ru.auditor", body=ru_body, role="auditor")


@pytest.fixture
def kz_registrar(kz_body):
    return UserFactory(username="kz.registrar", body=kz_body, role="registrar")


@pytest.fixture
def ru_registrar(ru_body):
    return UserFactory(username="ru.registrar", body=ru_body, role="registrar")


@pytest.fixture
def secretariat(db):
    """An officer of the CSTO Secretariat, the depositary (P4.3, P16.1, P19)."""
    body = BodyFactory(party=PartyFactory(secretariat=True), code="CSTO-SEC", kind="secretariat")
    return UserFactory(username="csto.secretariat", body=body, role="secretariat")


@pytest.fixture
def outsider(outsider_body):
    """A user of a third Party's body: must see nothing of the others' business."""
    return UserFactory(username="am.officer", body=outsider_body, role="officer")
