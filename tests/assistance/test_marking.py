"""Changing a sent request's marking (P10.1): the requesting body raises it (whoever works on the case) or lowers it
(only its head or a deputy); the change is a message of the case, so both bodies' cases (on one node or two) take
it; a state secret is refused (P10.3); anything refused changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation

from cybercoop.assistance import rules, services
from cybercoop.assistance.models import Case
from cybercoop.assistance.rules import Kind
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.exchange.models import Message
from tests.assistance.factories import sent
from tests.assistance.test_api import Caller
from tests.assistance.test_rules import CONTEXT, _m

pytestmark = [pytest.mark.django_db, pytest.mark.rule("P10.1")]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def case(protocol, kz_officer, kz_head, ru_body, ru_officer, clock):
    return services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))


def _markings(case):
    return list(Message.objects.filter(conversation=case.pk, kind=Kind.MARKING).values_list("body", flat=True))


def test_an_officer_raises_the_marking_and_the_message_says_from_what(case, kz_officer):
    case = services.change_marking(actor=kz_officer, case=case, marking="confidential", reason="Сведения о лицах")
    assert Case.objects.get(pk=case.pk).marking == "confidential"
    assert _markings(case) == [{"marking": "confidential", "previous": "official", "reason": "Сведения о лицах"}]


def test_later_messages_carry_the_new_marking(case, kz_officer, ru_officer):
    services.change_marking(actor=kz_officer, case=case, marking="confidential", reason="Сведения о лицах")
    services.notify_delay(actor=ru_officer, case=Case.objects.get(pk=case.pk), reason="Нужна экспертиза")
    last = Message.objects.filter(conversation=case.pk, kind=Kind.DELAY).get()
    assert last.marking == "confidential"


def test_an_officer_may_not_lower_the_marking_and_nothing_changes(case, kz_officer):
    services.change_marking(actor=kz_officer, case=case, marking="confidential", reason="Сведения о лицах")
    with pytest.raises(RuleViolation) as error:
        services.change_marking(actor=kz_officer, case=case, marking="public", reason="Публикуем")
    assert error.value.rule_id == "P10.1"
    assert "head or a deputy" in str(error.value.message)
    assert Case.objects.get(pk=case.pk).marking == "confidential"
    assert len(_markings(case)) == 1


def test_the_head_of_the_requesting_body_lowers_it(case, kz_head):
    case = services.change_marking(actor=kz_head, case=case, marking="public", reason="Сведения опубликованы")
    assert Case.objects.get(pk=case.pk).marking == "public"


def test_the_requested_body_does_not_change_the_requests_marking(case, ru_head, ru_officer):
    for actor, marking in ((ru_head, "public"), (ru_officer, "confidential")):
        with pytest.raises(RuleViolation) as error:
            services.change_marking(actor=actor, case=case, marking=marking, reason="Причина")
        assert "requesting body" in str(error.value.message)
    assert Case.objects.get(pk=case.pk).marking == "official"


def test_an_officer_not_assigned_is_not_even_told_the_case_exists(case, kz_body):
    from tests.accounts.factories import UserFactory

    stranger = UserFactory(username="kz.analyst", body=kz_body, role="officer")
    with pytest.raises(PermissionDenied):
        services.change_marking(actor=stranger, case=case, marking="confidential", reason="Причина")


@pytest.mark.rule("P10.3")
@pytest.mark.parametrize(
    ("marking", "reason", "field", "text"),
    [
        ("state_secret", "Причина", "marking", "18 June 2004"),
        ("restricted", "Причина", "marking", "Choose a marking from the list."),
        ("official", "Причина", "marking", "The case already has this marking."),
        ("confidential", "  ", "reason", "This field is required."),
    ],
)
def test_bad_input_is_refused_field_by_field(case, kz_head, marking, reason, field, text):
    with pytest.raises(InvalidInput) as error:
        services.change_marking(actor=kz_head, case=case, marking=marking, reason=reason)
    assert list(error.value.errors) == [field]
    assert text in str(error.value.errors[field][0])
    assert Case.objects.get(pk=case.pk).marking == "official"
    assert _markings(case) == []


def test_the_fold_takes_the_last_marking_and_nothing_else_changes():
    at = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    request = _m(1, Kind.REQUEST, "KZ-MIA", "RU-MIA", at, outgoing_number="KZ-MIA-2026-00001")
    raised = _m(2, Kind.MARKING, "KZ-MIA", "RU-MIA", at, marking="confidential", previous="official", reason="r")
    lowered = _m(3, Kind.MARKING, "KZ-MIA", "RU-MIA", at, marking="public", previous="confidential", reason="r")
    assert rules.derive([request], CONTEXT).marking is None  # never changed: the request's own marking stands
    before = rules.derive([request], CONTEXT)
    after = rules.derive([request, raised, lowered], CONTEXT)
    assert after.marking == "public"
    assert (after.state, after.clocks) == (before.state, before.clocks)


def test_the_api_and_the_screen(case, kz_officer, kz_head, client):
    officer = Caller(client, kz_officer)
    answer = officer.post(f"/{case.pk}/marking", {"marking": "confidential", "reason": "Сведения о лицах"})
    assert answer.status_code == 200
    assert answer.json()["marking"] == "confidential"
    refused = officer.post(f"/{case.pk}/marking", {"marking": "official", "reason": "Снижаем"})
    assert refused.status_code == 409
    assert refused.json()["rule"] == "P10.1"
    bad = officer.post(f"/{case.pk}/marking", {"marking": "state_secret", "reason": "x"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["marking"]
    client.force_login(kz_head)
    page = client.get(reverse("assistance:case", args=[case.pk])).content.decode()
    assert 'data-testid="action-marking"' in page
    done = client.post(reverse("assistance:marking", args=[case.pk]), {"marking": "public", "reason": "Опубликовано"})
    assert done.status_code == 302
    assert Case.objects.get(pk=case.pk).marking == "public"
    timeline = client.get(reverse("assistance:case", args=[case.pk])).content.decode()
    assert "Конфиденциально → Общедоступно" in timeline  # the page speaks Russian by default
