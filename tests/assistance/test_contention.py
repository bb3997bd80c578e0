"""A page or API call whose transaction the database gives up on because of other work on the same rows (here a
lock not taken within `lock_timeout`, as a deadlock would be): 503, in the user's language, with Retry-After, and
nothing changed. PostgreSQL only: SQLite takes no row locks."""

from __future__ import annotations

import json
import os
import threading

import pytest
from django.db import OperationalError, connection, transaction

from cybercoop.accounts import services as accounts
from cybercoop.assistance import rules
from cybercoop.assistance.models import Case
from cybercoop.audit.models import AuditEntry
from cybercoop.core.contention import is_contention
from tests.assistance.factories import draft

pytestmark = [
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only: SQLite takes no row locks"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def held(protocol, kz_officer, ru_body):
    """A draft whose row another session holds locked (as a user acting on it would), for the test's duration; the
    test's own session gives up waiting for a lock after 300 ms."""
    case = draft(kz_officer, ru_body, protocol)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Case.objects.select_for_update(no_key=True).get(pk=case.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(20)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    yield case
    release.set()
    holder.join(30)
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


def _unchanged(case) -> None:
    case.refresh_from_db()
    assert case.state == rules.CaseState.DRAFT
    assert not AuditEntry.objects.filter(action="assistance:case:submitted").exists()


def test_a_page_whose_lock_is_not_taken_in_time_answers_503_and_changes_nothing(client, held, kz_officer):
    client.force_login(kz_officer)
    response = client.post(f"/cases/{held.pk}/submit/")

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "ничего не изменено" in response.content.decode()  # Russian, the user's language
    assert response["Content-Security-Policy"]  # the security headers as on every page
    _unchanged(held)


def test_an_api_call_whose_lock_is_not_taken_in_time_answers_503_in_json_and_changes_nothing(client, held, kz_officer):
    kz_officer.language = "en"
    kz_officer.save(update_fields=["language"])
    _token, raw = accounts.issue_api_token(user=kz_officer, name="tests", scope="act")
    response = client.post(
        f"/api/v1/cases/{held.pk}/submit",
        "{}",
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    body = json.loads(response.content)
    assert "nothing was changed" in body["detail"]  # in the token user's language
    assert body["request_id"]
    _unchanged(held)


def test_only_contention_is_answered_as_busy():
    assert not is_contention(OperationalError("no such table: assistance_case"))
    assert not is_contention(ValueError("database is locked"))
    assert is_contention(OperationalError("database is locked"))  # SQLite's
