"""The case page asks need to know (P10.1) once for all the actions it weighs, not once per action
(`core.permissions.decided_once`), and what it decided is kept only while the page is drawn."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cybercoop.accounts import services as accounts
from cybercoop.assistance import selectors, services
from cybercoop.assistance.models import CaseAssignment
from cybercoop.core.permissions import Permission, decided_once
from cybercoop.safeguards.rules import Access
from tests.assistance.factories import sent

NEED_TO_KNOW = 'FROM "assistance_caseassignment" WHERE ("assistance_caseassignment"."case_id"'


def _need_to_know_queries(queries) -> int:
    return sum(1 for q in queries.captured_queries if NEED_TO_KNOW in q["sql"] and "LIMIT 1" in q["sql"])


@pytest.mark.rule("P10.1")
@pytest.mark.django_db
def test_the_case_page_asks_need_to_know_once_for_all_its_actions(
    client, protocol, kz_officer, kz_head, ru_officer, ru_body
):
    case = sent(kz_officer, kz_head, ru_body, protocol)  # at the Russian desk: assigned to ru.officer
    services.register_receipt(actor=ru_officer, case=case)  # in execution: results, postponement, questions …
    client.force_login(ru_officer)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(f"/cases/{case.pk}/").content.decode()

    offered = re.findall(r'data-testid="action-([a-z-]+)"', html)
    assert {"results", "postpone", "info-request"} <= set(offered)  # five acts weighed, each needing to know
    # Once to find the case (`get_case`), once for all the page's actions: not once per action (7 queries before).
    assert _need_to_know_queries(queries) == 2


@pytest.mark.django_db
def test_what_need_to_know_decided_is_kept_only_inside_the_block(
    protocol, kz_officer, kz_head, ru_officer, ru_body, ru_head
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    with decided_once():
        assert ru_officer.has_perm(Permission.WORK_ON_CASE, case)
        CaseAssignment.objects.filter(case=case, user=ru_officer).delete()  # a write inside: the kept answer stays
        assert ru_officer.has_perm(Permission.WORK_ON_CASE, case)
        assert ru_head.has_perm(Permission.WORK_ON_CASE, case)  # each user decided for themselves
    assert not ru_officer.has_perm(Permission.WORK_ON_CASE, case)  # outside: asked again
    assert selectors.access_to(viewer=ru_officer, case=case) == Access.NONE


@pytest.mark.rule("P10.1")
@pytest.mark.django_db
def test_the_apis_case_asks_need_to_know_once_for_the_acts_it_lists(
    client, protocol, kz_officer, kz_head, ru_officer, ru_body
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    services.register_receipt(actor=ru_officer, case=case)
    _token, raw = accounts.issue_api_token(user=ru_officer, name="tests", scope="act")
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(f"/api/v1/cases/{case.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}").json()

    assert {"results", "postpone", "information-request"} <= set(answer["allowed_actions"])
    assert _need_to_know_queries(queries) == 2
