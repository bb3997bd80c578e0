"""Need to know (P10.1): within a body, only the officers a case is assigned to see it, with the head and the
deputies; one policy (`safeguards.rules.case_access`) decides, as a query (`selectors.visible_cases`, the lists, the
counts, the deadline panel) and as a check (`selectors.access_to`, the object rule of every case permission), and the
two agree for every user and case."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation

from cybercoop.accounts.models import Notification
from cybercoop.accounts.rules import Role
from cybercoop.assistance import selectors, services
from cybercoop.assistance.models import Case, CaseAssignment
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput
from cybercoop.core.permissions import Permission
from cybercoop.safeguards import rules as safeguards
from cybercoop.safeguards.rules import Access
from tests.accounts.factories import UserFactory
from tests.assistance.factories import draft, sent
from tests.assistance.test_api import Caller

pytestmark = [pytest.mark.django_db, pytest.mark.rule("P10.1")]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def kz_analyst(kz_body):
    return UserFactory(username="kz.analyst", body=kz_body, role="officer")


@pytest.fixture
def ru_analyst(ru_body):
    return UserFactory(username="ru.analyst", body=ru_body, role="officer")


@pytest.fixture
def case(protocol, kz_officer, kz_head, ru_body, ru_officer, clock):
    """A Kazakh request to Russia, registered by the Russian desk officer."""
    return services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))


# --- the rule itself ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "of_a_party_body", "assigned", "expected"),
    [
        (Role.HEAD, True, False, Access.CONTENT),
        (Role.DEPUTY, True, False, Access.CONTENT),
        (Role.OFFICER, True, True, Access.CONTENT),
        (Role.OFFICER, True, False, Access.NONE),
        (Role.AUDITOR, True, False, Access.METADATA),
        (Role.REGISTRAR, True, True, Access.NONE),
        (Role.SECRETARIAT, True, False, Access.NONE),
        (Role.HEAD, False, False, Access.NONE),
        (Role.OFFICER, False, True, Access.NONE),
        (Role.AUDITOR, False, False, Access.NONE),
    ],
)
def test_the_policy_table(role, of_a_party_body, assigned, expected):
    assert safeguards.case_access(role=role, of_a_party_body=of_a_party_body, assigned=assigned) == expected


def test_the_query_and_the_check_agree_for_every_user_and_case(
    protocol, kz_body, ru_body, outsider_body, kz_officer, kz_head, kz_deputy, kz_auditor, kz_analyst, ru_officer,
    ru_head, ru_analyst, ru_auditor, clock,
):  # fmt: skip
    am_officer = UserFactory(username="am.officer", body=outsider_body, role="officer")
    am_head = UserFactory(username="am.head", body=outsider_body, role="head")
    registered = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    services.assign(actor=kz_head, case=registered, user=kz_analyst)
    plain_sent = sent(am_officer, am_head, ru_body, protocol)
    a_draft = draft(kz_officer, ru_body, protocol)
    analysts_draft = draft(kz_analyst, ru_body, protocol)
    everyone = [kz_officer, kz_head, kz_deputy, kz_auditor, kz_analyst, ru_officer, ru_head, ru_analyst, ru_auditor]
    everyone += [am_officer, am_head]
    cases = [registered, plain_sent, a_draft, analysts_draft]
    seen = {}
    for user, item in itertools.product(everyone, cases):
        listed = selectors.visible_cases(viewer=user).filter(pk=item.pk).exists()
        checked = selectors.access_to(viewer=user, case=item) >= Access.CONTENT
        permitted = user.has_perm(Permission.VIEW_CASE, item)
        assert listed == checked == permitted, (user.username, item.subject)
        in_lists = any(
            listing(viewer=user, now=clock.now()).filter(pk=item.pk).exists()
            for listing in (selectors.inbox, selectors.outbox)
        )
        assert in_lists == listed, (user.username, item.subject)
        seen[user.username, item.pk] = listed
    # The table the policy gives, spelled out for the cases that matter.
    assert seen["kz.analyst", registered.pk]
    assert not seen["kz.analyst", a_draft.pk]
    assert seen["kz.officer", a_draft.pk]
    assert not seen["kz.officer", analysts_draft.pk]
    assert seen["kz.head", analysts_draft.pk]
    assert seen["kz.deputy", a_draft.pk]
    assert seen["ru.officer", registered.pk]
    assert seen["ru.officer", plain_sent.pk]
    assert not seen["ru.analyst", registered.pk]
    assert not seen["ru.analyst", plain_sent.pk]
    assert not seen["ru.head", a_draft.pk]  # a draft stays with its requesting body
    assert not any(seen["kz.auditor", c.pk] or seen["ru.auditor", c.pk] for c in cases)  # metadata only
    assert not seen["am.officer", registered.pk]
    assert seen["am.officer", plain_sent.pk]


# --- what an officer who is not assigned gets: nothing, not even that the case exists ------------------------------


def test_an_officer_not_assigned_finds_nothing_of_the_case_anywhere(case, ru_analyst, client, clock):
    caller = Caller(client, ru_analyst)
    assert caller.get(f"/{case.pk}").status_code == 404
    assert caller.get(f"/{case.pk}/messages").status_code == 404
    assert caller.get("/incoming").json()["items"] == []
    assert caller.get("/incoming", {"text": case.outgoing_number}).json()["items"] == []
    assert caller.post(f"/{case.pk}/delay", {"reason": "x"}).status_code == 404
    client.force_login(ru_analyst)
    page = client.get(reverse("assistance:inbox"))
    assert case.subject not in page.content.decode()
    assert case.outgoing_number not in page.content.decode()
    assert client.get(reverse("assistance:case", args=[case.pk])).status_code == 404
    home = client.get("/").content.decode()
    assert case.outgoing_number not in home
    assert case.subject not in home
    counts = selectors.deadline_counts(
        selectors.inbox(viewer=ru_analyst, now=clock.now()), now=clock.now(), soon=dt.timedelta(days=400)
    )
    assert (counts.overdue, counts.due_soon) == (0, 0)
    assert not selectors.deadline_clocks(viewer=ru_analyst, now=clock.now(), within=dt.timedelta(days=400)).exists()
    assert not Notification.objects.filter(recipient=ru_analyst).exists()
    with pytest.raises(PermissionDenied):
        services.notify_delay(actor=ru_analyst, case=case, reason="Нужна экспертиза")


def test_the_deadline_panel_and_notifications_reach_only_those_who_see_the_case(
    case, ru_officer, ru_head, ru_analyst, clock
):
    soon = dt.timedelta(days=400)
    assert selectors.deadline_clocks(viewer=ru_officer, now=clock.now(), within=soon).filter(case=case).exists()
    assert selectors.deadline_clocks(viewer=ru_head, now=clock.now(), within=soon).filter(case=case).exists()
    clock.advance(dt.timedelta(days=40))  # past the execution term: reminders go out
    services.process_due_clocks()
    told = set(Notification.objects.filter(url=f"/cases/{case.pk}/").values_list("recipient__username", flat=True))
    assert {"ru.officer", "ru.head"} <= told
    assert "ru.analyst" not in told


# --- assigning and withdrawing ------------------------------------------------------------------------------------


def test_the_head_assigns_an_officer_who_then_sees_the_case_and_is_told(case, ru_head, ru_analyst, client):
    item = services.assign(actor=ru_head, case=case, user=ru_analyst)
    assert item.how == CaseAssignment.How.ASSIGNED
    assert item.assigned_by == ru_head
    assert selectors.get_case(viewer=ru_analyst, case_id=case.pk) is not None
    assert Notification.objects.filter(recipient=ru_analyst, url=f"/cases/{case.pk}/").exists()
    entry = AuditEntry.objects.filter(action="assistance:case:assigned", actor=ru_head).get()
    assert entry.data["user"] == "ru.analyst"
    assert case.subject not in str(entry.data)
    assert Caller(client, ru_analyst).get(f"/{case.pk}").status_code == 200
    # Withdrawn: the case is gone from the officer's view again, and that is recorded.
    services.unassign(actor=ru_head, case=case, user=ru_analyst)
    assert selectors.get_case(viewer=ru_analyst, case_id=case.pk) is None
    assert AuditEntry.objects.filter(action="assistance:case:unassigned", actor=ru_head).count() == 1


def test_an_arriving_request_is_assigned_to_the_desk_and_recorded(case, ru_officer):
    item = CaseAssignment.objects.get(case=case, user=ru_officer)
    assert item.how == CaseAssignment.How.INCOMING
    assert item.assigned_by is None
    entry = AuditEntry.objects.get(action="assistance:case:assigned", data__user="ru.officer")
    assert entry.body.code == "RU-MIA"


@pytest.mark.parametrize("who", ["other body", "auditor", "inactive", "already"])
def test_a_bad_assignment_is_refused_field_by_field_and_changes_nothing(case, ru_head, ru_officer, kz_officer, who):
    user = {
        "other body": kz_officer,
        "auditor": UserFactory(username="ru.aud", body=ru_head.body, role="auditor"),
        "inactive": UserFactory(username="ru.gone", body=ru_head.body, role="officer", is_active=False),
        "already": ru_officer,
    }[who]
    before = (CaseAssignment.objects.count(), AuditEntry.objects.count(), Notification.objects.count())
    with pytest.raises(InvalidInput) as error:
        services.assign(actor=ru_head, case=case, user=user)
    assert list(error.value.errors) == ["user"]
    assert (CaseAssignment.objects.count(), AuditEntry.objects.count(), Notification.objects.count()) == before


def test_only_the_head_or_a_deputy_of_a_body_of_the_case_assigns(case, ru_officer, ru_analyst, kz_head, kz_officer):
    with pytest.raises(PermissionDenied):
        services.assign(actor=ru_officer, case=case, user=ru_analyst)  # an officer, even assigned
    with pytest.raises(InvalidInput):
        services.assign(actor=kz_head, case=case, user=ru_analyst)  # the other body's officer
    assert not CaseAssignment.objects.filter(user=ru_analyst).exists()


def test_withdrawing_an_officer_not_assigned_is_refused(case, ru_head, ru_analyst):
    with pytest.raises(InvalidInput) as error:
        services.unassign(actor=ru_head, case=case, user=ru_analyst)
    assert "not assigned" in str(error.value.errors["user"][0])


def test_the_api_lists_assigns_and_withdraws_within_the_callers_body(case, ru_head, ru_analyst, kz_head, client):
    head = Caller(client, ru_head)
    listed = head.get(f"/{case.pk}/assignments").json()
    assert [(a["user"], a["how"]) for a in listed] == [("ru.officer", "incoming")]
    # The other body's people are never listed to it: the Kazakh head sees only the Kazakh drafter.
    assert [a["user"] for a in Caller(client, kz_head).get(f"/{case.pk}/assignments").json()] == ["kz.officer"]
    answer = head.post(f"/{case.pk}/assignments", {"user": "ru.analyst"})
    assert answer.status_code == 201
    assert answer.json()["assigned_by"] == "ru.head"
    again = head.post(f"/{case.pk}/assignments", {"user": "ru.analyst"})
    assert again.status_code == 422
    assert again.json()["errors"] == [{"field": "user", "message": "Дело уже назначено этому сотруднику."}]
    stranger = head.post(f"/{case.pk}/assignments", {"user": "kz.officer"})
    assert stranger.status_code == 422
    assert stranger.json()["errors"] == [
        {"field": "user", "message": "Выберите действующего сотрудника вашего органа."}
    ]
    answer = client.delete(f"/api/v1/cases/{case.pk}/assignments/ru.analyst", **head.headers)
    assert answer.status_code == 204
    assert not CaseAssignment.objects.filter(case=case, user=ru_analyst).exists()
    assert Caller(client, ru_analyst).post(f"/{case.pk}/assignments", {"user": "ru.analyst"}).status_code == 404


def test_the_case_page_shows_the_bodys_own_people_and_the_heads_form(case, ru_head, ru_officer, ru_analyst, client):
    client.force_login(ru_head)
    page = client.get(reverse("assistance:case", args=[case.pk])).content.decode()
    assert 'data-testid="assign-officer"' in page
    assert 'data-username="ru.officer"' in page
    assert 'data-username="kz.officer"' not in page  # the other body's people stay with it
    answer = client.post(reverse("assistance:assign", args=[case.pk]), {"user": ru_analyst.pk})
    assert answer.status_code == 302
    assert CaseAssignment.objects.filter(case=case, user=ru_analyst).exists()
    refused = client.post(reverse("assistance:assign", args=[case.pk]), {"user": ru_analyst.pk})
    assert refused.status_code == 422  # already assigned: not offered any more, the form says so
    client.post(reverse("assistance:withdraw", args=[case.pk]), {"user": ru_analyst.pk})
    assert not CaseAssignment.objects.filter(case=case, user=ru_analyst).exists()
    client.force_login(ru_officer)
    page = client.get(reverse("assistance:case", args=[case.pk])).content.decode()
    assert 'data-testid="assignments"' in page
    assert 'data-testid="assign-officer"' not in page
    assert client.post(reverse("assistance:assign", args=[case.pk]), {"user": ru_analyst.pk}).status_code == 403


def test_cases_made_before_need_to_know_stay_with_their_officers(case, kz_officer, ru_officer):
    """The migration's rule, run again on a case whose assignments were lost: the drafter and whoever acted in it
    (the head who sent it, the desk officer who registered it) keep it."""
    from importlib import import_module

    from django.apps import apps

    CaseAssignment.objects.all().delete()
    migration = import_module("cybercoop.assistance.migrations.0005_case_assignment")
    migration.assign_existing_cases(apps, None)
    assert set(CaseAssignment.objects.filter(case=case).values_list("user__username", flat=True)) == {
        "kz.officer",
        "kz.head",
        "ru.officer",
    }
    assert Case.objects.filter(pk=case.pk).exists()
