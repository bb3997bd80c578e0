"""Purposes and consent (P10.2, P7.7): information received carries its purposes and accepted conditions, and is
used in another case only with the consent of the body that provided it. The story of issue 7: the Russian body
asked, the Kazakh body sent its results with a file; the Russian officer may not use the file in another case until
the Kazakh head consents, and then the file is shown there with its purposes and conditions."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation

from cybercoop.accounts.models import User
from cybercoop.assistance import rules, services
from cybercoop.assistance.models import Case, ReusedInformation
from cybercoop.assistance.rules import Kind
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.demo.seed import seed
from cybercoop.exchange.models import Attachment, Message
from tests.assistance.conftest import LOGS, PURPOSES
from tests.assistance.factories import sent
from tests.assistance.test_api import Caller

pytestmark = [pytest.mark.django_db, pytest.mark.rule("P10.2")]


@pytest.fixture(autouse=True)
def _english():
    """The messages are read in English here (the pages default to Russian)."""
    with translation.override("en"):
        yield


@pytest.fixture
def other_case(protocol, ru_officer, ru_head, kz_body):
    """Another request of the Russian body (its own case, with its own outgoing number)."""
    return sent(ru_officer, ru_head, kz_body, protocol, subject="Мошенничество с криптовалютой")


def logs(case):
    return Attachment.objects.get(message__conversation=case.id, name="logs.zip")


def ask(actor, case, target, use="case", sha256=None):
    return services.request_consent(
        actor=actor,
        case=case,
        attachment_sha256=sha256 or logs(case).sha256,
        use=use,
        target=target,
        purpose="Доказательства по связанному делу о мошенничестве.",
    )


def pending_request(case):
    return Message.objects.filter(conversation=case.id, kind=Kind.CONSENT_REQUEST).order_by("-position").first()


def use(actor, source, target):
    return services.use_in_another_case(
        actor=actor, source_case=source, attachment_sha256=logs(source).sha256, target_case=target
    )


def the_world():
    return (
        Message.objects.count(),
        ReusedInformation.objects.count(),
        AuditEntry.objects.exclude(action="assistance:case:viewed").count(),
    )


def test_the_file_is_used_in_another_case_only_once_the_providing_body_consents(
    with_results, other_case, ru_officer, kz_head
):
    source = with_results
    before = the_world()
    with pytest.raises(RuleViolation) as violation:
        use(ru_officer, source, other_case)
    assert violation.value.rule_id == "P10.2"
    assert "ask its consent first" in str(violation.value.message)
    assert the_world() == before

    case = ask(ru_officer, source, f"  {other_case.outgoing_number.lower()} ")
    assert case.state == rules.CaseState.EXECUTED  # asking changes nothing of the case's state
    (consent,) = services.derive(case).consents
    assert (consent.status, consent.use, consent.name) == ("pending", "case", "logs.zip")
    with pytest.raises(RuleViolation) as violation:
        use(ru_officer, source, other_case)
    assert "still to answer your request" in str(violation.value.message)
    assert not ReusedInformation.objects.exists()

    services.reply_to_consent(
        actor=kz_head,
        case=source,
        request_id=pending_request(source).id,
        granted=True,
        conditions=["Не передавать третьим лицам"],
    )
    (consent,) = services.derive(source).consents
    assert (consent.status, consent.conditions) == ("granted", ("Не передавать третьим лицам",))

    reused = use(ru_officer, source, other_case)
    assert reused.target_case == other_case
    assert reused.source_case == source
    assert reused.attachment == logs(source)
    assert reused.purposes == PURPOSES
    assert reused.conditions == ["Только для уголовного дела", "Не передавать третьим лицам"]
    assert reused.provided_by.code == source.handling_body.code
    assert str(reused.consent_request) == str(pending_request(source).id)
    entry = AuditEntry.objects.get(action="assistance:information:reused")
    assert entry.object_id == str(other_case.pk)
    assert entry.actor == ru_officer
    assert services.reused_information(case=other_case, viewer=ru_officer) == [reused]


def test_a_refused_consent_keeps_the_use_refused_with_its_reason(with_results, other_case, ru_officer, kz_deputy):
    source = ask(ru_officer, with_results, other_case.outgoing_number)
    services.reply_to_consent(
        actor=kz_deputy, case=source, request_id=pending_request(source).id, granted=False, reason="Тайна следствия"
    )
    (consent,) = services.derive(source).consents
    assert (consent.status, consent.reason) == ("refused", "Тайна следствия")
    with pytest.raises(RuleViolation) as violation:
        use(ru_officer, source, other_case)
    assert "refused its consent to this use: Тайна следствия" in str(violation.value.message)
    assert not ReusedInformation.objects.exists()


def test_a_consent_for_another_case_or_another_use_does_not_cover_this_one(
    with_results, other_case, ru_officer, kz_head
):
    source = ask(ru_officer, with_results, "RU-2026-99999")
    services.reply_to_consent(actor=kz_head, case=source, request_id=pending_request(source).id, granted=True)
    source = ask(ru_officer, source, other_case.outgoing_number, use="export")
    services.reply_to_consent(actor=kz_head, case=source, request_id=pending_request(source).id, granted=True)
    with pytest.raises(RuleViolation, match="ask its consent first"):
        use(ru_officer, source, other_case)


def test_a_consent_for_a_file_the_body_itself_sent_is_refused_and_nothing_is_stored(
    with_results, ru_officer, other_case
):
    own = Message.objects.get(conversation=with_results.id, kind=Kind.REQUEST)
    mine = Attachment.objects.create(
        message=None, name="own.txt", media_type="text/plain", size_bytes=1, sha256="a" * 64, uploaded_at=own.created_at
    )
    Attachment.objects.filter(pk=mine.pk).update(message=own)
    before = the_world()
    with pytest.raises(InvalidInput) as refused:
        ask(ru_officer, with_results, other_case.outgoing_number, sha256="a" * 64)
    assert "attachment" in refused.value.errors
    assert "did not provide this file" in str(refused.value.errors["attachment"][0])
    with pytest.raises(InvalidInput) as refused:
        ask(ru_officer, with_results, "", use="sell")
    assert set(refused.value.errors) == {"use", "target"}
    assert the_world() == before


def test_the_same_request_is_not_asked_twice_while_pending(with_results, other_case, ru_officer):
    source = ask(ru_officer, with_results, other_case.outgoing_number)
    before = the_world()
    with pytest.raises(InvalidInput) as refused:
        ask(ru_officer, source, other_case.outgoing_number.lower())
    assert "already awaiting an answer" in str(refused.value.errors["target"][0])
    assert the_world() == before


def test_only_the_providing_bodys_head_or_deputy_answers_and_only_once(
    with_results, other_case, ru_officer, ru_head, kz_officer, kz_head
):
    source = ask(ru_officer, with_results, other_case.outgoing_number)
    request_id = pending_request(source).id
    with pytest.raises(PermissionDenied):
        services.reply_to_consent(actor=kz_officer, case=source, request_id=request_id, granted=True)
    with pytest.raises(RuleViolation) as violation:  # the requesting body does not answer its own request
        services.reply_to_consent(actor=ru_head, case=source, request_id=request_id, granted=True)
    assert violation.value.rule_id == "P10.2"
    with pytest.raises(InvalidInput) as refused:
        services.reply_to_consent(actor=kz_head, case=source, request_id="not-a-request", granted=True)
    assert "request" in refused.value.errors
    with pytest.raises(InvalidInput) as refused:  # a refusal states its reason
        services.reply_to_consent(actor=kz_head, case=source, request_id=request_id, granted=False)
    assert "reason" in refused.value.errors
    services.reply_to_consent(actor=kz_head, case=source, request_id=request_id, granted=True)
    before = the_world()
    with pytest.raises(RuleViolation) as violation:
        services.reply_to_consent(actor=kz_head, case=source, request_id=request_id, granted=False, reason="Нет")
    assert "No request for consent is awaiting" in str(violation.value.message)
    assert the_world() == before


def test_the_provider_does_not_ask_consent_and_a_stranger_does_not_use_the_file(
    with_results, other_case, kz_officer, outsider
):
    with pytest.raises(RuleViolation, match="Only the requesting body"):
        ask(kz_officer, with_results, other_case.outgoing_number)
    with pytest.raises(PermissionDenied):
        use(outsider, with_results, other_case)


def test_the_target_is_another_live_case_of_the_body(with_results, ru_officer, kz_head, protocol, kz_body):
    with pytest.raises(InvalidInput) as refused:
        use(ru_officer, with_results, with_results)
    assert set(refused.value.errors) == {"target_case"}
    discarded = services.discard_draft(
        actor=ru_officer, case=services.create_draft(actor=ru_officer, requested_body=kz_body, instrument=protocol)
    )
    with pytest.raises(InvalidInput) as refused:
        use(ru_officer, with_results, discarded)
    assert set(refused.value.errors) == {"target_case"}


def test_the_file_is_used_once_in_a_case(with_results, other_case, ru_officer, kz_head):
    source = ask(ru_officer, with_results, other_case.outgoing_number)
    services.reply_to_consent(actor=kz_head, case=source, request_id=pending_request(source).id, granted=True)
    use(ru_officer, source, other_case)
    with pytest.raises(InvalidInput) as refused:
        use(ru_officer, source, other_case)
    assert "already used" in str(refused.value.errors["target_case"][0])
    assert ReusedInformation.objects.count() == 1


def test_the_fold_ignores_a_second_answer_and_an_answer_to_nothing():
    at = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    context = rules.CaseContext("RU-MIA", "KZ-MIA", 30, 3, 72, {"RU-MIA": "Europe/Moscow", "KZ-MIA": "Asia/Almaty"})

    def message(n, kind, sender, body):
        return rules.MessageFacts(f"m{n}", kind, sender, "x", at + dt.timedelta(hours=n), body)

    asked = {"attachment": "f" * 64, "name": "a.zip", "use": "case", "target": "RU-1", "purpose": "p"}
    derived = rules.derive(
        [
            message(0, Kind.REQUEST, "RU-MIA", {}),
            message(1, Kind.CONSENT_REQUEST, "RU-MIA", asked),
            message(2, Kind.CONSENT_REPLY, "KZ-MIA", {"request": "m9", "granted": True}),
            message(3, Kind.CONSENT_REPLY, "KZ-MIA", {"request": "m1", "granted": False, "reason": "нет"}),
            message(4, Kind.CONSENT_REPLY, "KZ-MIA", {"request": "m1", "granted": True}),
        ],
        context,
    )
    assert derived.state == rules.CaseState.SENT
    (consent,) = derived.consents
    assert (consent.status, consent.reason, consent.decided_at) == ("refused", "нет", at + dt.timedelta(hours=3))
    assert rules.consent_for(derived.consents, attachment="f" * 64, use="case", targets=[" ru-1"]) == consent
    assert rules.consent_for(derived.consents, attachment="f" * 64, use="case", targets=["", "RU-2"]) is None
    assert Kind.CONSENT_REPLY not in rules.allowed_kinds(
        state=derived.state, side=rules.Side.REQUESTED, derived=derived
    )


# --- the screens ------------------------------------------------------------------------------------------------


def page(case, action=""):
    return f"/cases/{case.pk}/" + (f"{action}/" if action else "")


def test_on_the_screens_the_officer_is_stopped_until_the_provider_consents(
    client, with_results, other_case, ru_officer, kz_head, kz_officer
):
    source, sha = with_results, logs(with_results).sha256
    client.force_login(ru_officer)
    html = client.get(page(source)).content.decode()
    start = html.index(f'data-testid="received-file" data-sha256="{sha}"')
    block = html[start : html.index("</section>", start)]
    assert PURPOSES[0] in block
    assert "Только для уголовного дела" in block
    assert 'data-testid="action-reuse"' in block
    assert 'data-testid="action-consent-request"' in block
    assert 'name="target_case"' in block  # the other case is named by its number

    before = the_world()
    r = client.post(page(source, "reuse"), {"attachment": sha, "target_case": other_case.outgoing_number})
    assert r.status_code == 409
    assert 'data-testid="rule-violation" data-rule="P10.2"' in r.content.decode()
    assert the_world() == before

    r = client.post(
        page(source, "consent-request"), {"attachment": "b" * 64, "use": "case", "target": "x", "purpose": "y"}
    )
    assert r.status_code == 422  # not a file the Kazakh body provided
    assert the_world() == before
    r = client.post(
        page(source, "consent-request"),
        {"attachment": sha, "use": "case", "target": other_case.outgoing_number, "purpose": "Связанное дело"},
    )
    assert r.status_code == 302
    assert 'data-testid="consent" data-status="pending"' in client.get(page(source)).content.decode()

    client.force_login(kz_officer)  # an officer sees the request, but does not answer it
    html = client.get(page(source)).content.decode()
    assert 'data-testid="consent" data-status="pending"' in html
    assert 'data-testid="action-consent-reply"' not in html
    client.force_login(kz_head)
    html = client.get(page(source)).content.decode()
    assert 'data-testid="action-consent-reply"' in html
    assert 'data-testid="action-consent-request"' not in html
    assert 'data-testid="action-reuse"' not in html
    request_id = pending_request(source).id
    r = client.post(page(source, "consent-reply"), {"request": request_id, "granted": "no"})
    assert r.status_code == 422  # a refusal states its reason
    r = client.post(
        page(source, "consent-reply"), {"request": request_id, "granted": "yes", "conditions": "Не передавать\n"}
    )
    assert r.status_code == 302
    assert 'data-testid="consent" data-status="granted"' in client.get(page(source)).content.decode()

    client.force_login(ru_officer)
    r = client.post(page(source, "reuse"), {"attachment": sha, "target_case": other_case.outgoing_number})
    assert r.status_code == 302
    html = client.get(page(other_case)).content.decode()
    start = html.index('data-testid="reused-information"')
    block = html[start : html.index("</section>", start)]
    assert source.outgoing_number in block
    assert "logs.zip" in block
    assert PURPOSES[0] in block
    assert "Только для уголовного дела" in block
    assert "Не передавать" in block
    link = reverse("assistance:attachment", args=[source.pk, logs(source).pk])
    assert f'href="{link}"' in block
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content if download.streaming else [download.content]) == LOGS

    client.force_login(kz_head)  # the other side of the other case never got the file: not shown to it
    assert 'data-testid="reused-information"' not in client.get(page(other_case)).content.decode()


# --- the API -------------------------------------------------------------------------------------------------------


def test_through_the_api_the_use_is_refused_until_granted(client, with_results, other_case, ru_officer, kz_head):
    ru, kz = Caller(client, ru_officer), Caller(client, kz_head)
    source, sha = with_results, logs(with_results).sha256
    before = the_world()
    r = ru.post(f"/{source.pk}/reuse", {"attachment": sha, "target_case": str(other_case.pk)})
    assert r.status_code == 409
    assert r.json()["rule"] == "P10.2"
    r = ru.post(f"/{source.pk}/reuse", {"attachment": sha, "target_case": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"target_case"}
    r = ru.post(f"/{source.pk}/consent-requests", {"attachment": "c" * 64, "use": "case", "target": "", "purpose": ""})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"attachment", "target", "purpose"}
    assert the_world() == before

    r = ru.post(
        f"/{source.pk}/consent-requests",
        {"attachment": sha.upper(), "use": "case", "target": other_case.outgoing_number, "purpose": "Связанное дело"},
    )
    assert r.status_code == 200, r.json()
    (consent,) = r.json()["consents"]
    assert (consent["status"], consent["name"], consent["use"]) == ("pending", "logs.zip", "case")
    assert "consent-requests" in r.json()["allowed_actions"]

    assert "consent-replies" in kz.get(f"/{source.pk}").json()["allowed_actions"]
    r = kz.post(f"/{source.pk}/consent-replies", {"request": consent["request"], "granted": True, "conditions": ["X"]})
    assert r.status_code == 200
    assert r.json()["consents"][0]["status"] == "granted"
    assert r.json()["consents"][0]["conditions"] == ["X"]
    r = kz.post(f"/{source.pk}/consent-replies", {"request": consent["request"], "granted": False, "reason": "Нет"})
    assert r.status_code == 409
    assert r.json()["rule"] == "P10.2"

    r = ru.post(f"/{source.pk}/reuse", {"attachment": sha, "target_case": str(other_case.pk)})
    assert r.status_code == 201, r.json()
    reused = r.json()
    assert reused["source_number"] == source.outgoing_number
    assert reused["purposes"] == PURPOSES
    assert reused["conditions"] == ["Только для уголовного дела", "X"]
    assert ru.client.get(reused["attachment"]["url"], **ru.headers).status_code == 200
    assert [x["attachment"]["sha256"] for x in ru.get(f"/{other_case.pk}").json()["reused_information"]] == [sha]
    assert kz.get(f"/{other_case.pk}").json()["reused_information"] == []


# --- the demo -------------------------------------------------------------------------------------------------------


def test_in_the_demo_the_russian_officer_is_stopped_until_the_kazakh_body_consents(db):
    seed(password="demo password for tests 1")
    ru_officer, kz_head = User.objects.get(username="ru.officer"), User.objects.get(username="kz.head")
    source = Case.objects.get(subject__startswith="Хищение криптовалюты")
    target = Case.objects.get(subject__startswith="Вымогательство с использованием")
    assert source.state == rules.CaseState.EXECUTED
    assert source.conditions_accepted
    (sent_file,) = [a for _m, a in services.received_files(case=source, body_id=ru_officer.body_id)]
    attempt = {"actor": ru_officer, "source_case": source, "attachment_sha256": sent_file.sha256, "target_case": target}
    with pytest.raises(RuleViolation, match="ask its consent first"):
        services.use_in_another_case(**attempt)
    services.request_consent(
        actor=ru_officer,
        case=source,
        attachment_sha256=sent_file.sha256,
        use="case",
        target=target.outgoing_number,
        purpose="Тот же сервер использован в деле о вымогательстве.",
    )
    with pytest.raises(RuleViolation, match="still to answer"):
        services.use_in_another_case(**attempt)
    services.reply_to_consent(
        actor=kz_head, case=source, request_id=services.derive(source).consents[0].request, granted=True
    )
    reused = services.use_in_another_case(**attempt)
    assert reused.conditions == list(source.conditions_accepted)


# Before any fixture writes: SQLite takes no row locks, and the flush after a test without a transaction meets the
# append-only triggers there.
@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only: SQLite takes no row locks")
@pytest.mark.django_db(transaction=True)
def test_using_the_file_runs_in_its_own_transaction(with_results, other_case, ru_officer, kz_head):
    """As on a live node, with no transaction around the test: the use locks both cases in a transaction of its own
    (on PostgreSQL, a lock outside one is an error, a 500 at the screen)."""
    ask(ru_officer, with_results, other_case.outgoing_number)
    services.reply_to_consent(
        actor=kz_head, case=with_results, request_id=pending_request(with_results).id, granted=True, conditions=[]
    )
    reused = use(ru_officer, with_results, other_case)
    assert reused.target_case == other_case
