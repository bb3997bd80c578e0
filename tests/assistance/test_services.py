"""The workflow on a real database: each act a message, both sides seeing the same case, clocks kept."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.models import Case, Clock
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.exchange.models import Message
from tests.accounts.factories import UserFactory
from tests.assistance.factories import REQUEST_FIELDS, designate, draft, sent
from tests.registry.factories import BodyFactory

D = dt.date
UTC = dt.UTC


def _clock(case, kind):
    return Clock.objects.get(case=case, kind=kind)


@pytest.mark.rule("P6.1", "P6.5")
def test_only_the_head_or_a_deputy_approves_and_sends_a_request(protocol, kz_officer, kz_head, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    services.submit_for_approval(actor=kz_officer, case=case)
    with pytest.raises(PermissionDenied):
        services.approve_and_send(actor=kz_officer, case=case)
    assert not Message.objects.exists()
    case = services.approve_and_send(actor=kz_head, case=case)
    assert case.state == rules.CaseState.SENT
    assert (case.approved_by, case.approved_at) == (kz_head, clock.now())
    assert case.outgoing_number == "KZ-MIA-2026-00001"
    request = Message.objects.get()
    assert request.kind == "assistance.request"
    assert request.body["signatory"]["name"] == kz_head.full_name
    assert request.body["purpose"] == REQUEST_FIELDS["purpose"]


@pytest.mark.rule("P6.2")
def test_an_incomplete_draft_cannot_be_submitted(protocol, kz_officer, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol, purpose="", assistance_kinds=[])
    with pytest.raises(InvalidInput) as error:
        services.submit_for_approval(actor=kz_officer, case=case)
    assert set(error.value.errors) == {"purpose", "assistance_kinds"}
    case.refresh_from_db()
    assert case.state == rules.CaseState.DRAFT


@pytest.mark.rule("P16.2", "P4.2")
def test_a_request_only_goes_to_a_designated_body_under_an_instrument_in_force(protocol, kz_officer, ru_body, clock):
    undesignated = BodyFactory(party=ru_body.party, code="RU-XYZ")
    with pytest.raises(InvalidInput) as error:
        draft(kz_officer, undesignated, protocol)
    assert list(error.value.errors) == ["requested_body"]
    belarus = BodyFactory(code="BY-MIA")  # a Party the Protocol is not in force for
    with pytest.raises(InvalidInput) as error:
        draft(kz_officer, belarus, protocol)
    assert "instrument" in error.value.errors
    assert not Case.objects.exists()


@pytest.mark.rule("P6.5")
def test_the_head_returns_a_draft_with_a_comment(protocol, kz_officer, kz_deputy, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    services.submit_for_approval(actor=kz_officer, case=case)
    with pytest.raises(InvalidInput):
        services.return_to_draft(actor=kz_deputy, case=case, comment="")
    case = services.return_to_draft(actor=kz_deputy, case=case, comment="Уточните период")
    assert (case.state, case.return_comment) == (rules.CaseState.DRAFT, "Уточните период")
    case = services.update_draft(
        actor=kz_officer, case=case, substance=REQUEST_FIELDS["substance"] + " Период: октябрь."
    )
    assert "октябрь" in case.substance


@pytest.mark.rule("P7.2", "P7.5", "P7.8")
def test_the_whole_flow_from_request_to_results(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    clock.set(dt.datetime(2026, 11, 24, 7, 0, tzinfo=UTC))  # 10:00 in Moscow
    case = services.register_receipt(actor=ru_officer, case=case)
    assert case.state == rules.CaseState.IN_EXECUTION
    assert case.incoming_number == "RU-MIA-2026-I-00001"
    execution = _clock(case, "execution")
    assert execution.due_at == dt.datetime(2026, 12, 24, 21, 0, tzinfo=UTC)  # 24:00 Moscow, 24 Dec
    case = services.request_information(actor=ru_officer, case=case, questions="Уточните номера карт потерпевших.")
    assert case.state == rules.CaseState.AWAITING_INFORMATION
    with pytest.raises(RuleViolation) as violation:
        services.send_results(actor=ru_officer, case=case, summary="x")
    assert violation.value.rule_id in ("P7.8", "P12")
    case = services.provide_information(
        actor=kz_officer,
        case=case,
        answer="Список карт прилагается.",
        uploads=[SimpleUploadedFile("cards.txt", b"4400 ...")],
    )
    assert case.state == rules.CaseState.IN_EXECUTION
    clock.advance(dt.timedelta(days=10))
    case = services.send_results(
        actor=ru_officer,
        case=case,
        summary="Владелец сервера установлен; журналы прилагаются.",
        uploads=[SimpleUploadedFile("logs.zip", b"PK\x03\x04 logs")],
        costs_amount="1500",
        costs_currency="rub",
    )
    assert case.state == rules.CaseState.EXECUTED
    assert not Clock.objects.filter(case=case, status="running").exists()
    assert _clock(case, "execution").status == "met"
    kinds = [m.kind for m in selectors.messages(case=case)]
    assert kinds == [
        "assistance.request",
        "assistance.receipt",
        "assistance.info_request",
        "assistance.info_reply",
        "assistance.results",
    ]
    results = Message.objects.get(kind="assistance.results")
    assert results.body["costs"] == {"amount": "1500.00", "currency": "RUB", "note": ""}
    assert results.attachments.get().media_type == "application/zip"
    # Every message is in the audit log.
    assert AuditEntry.objects.filter(action="exchange:message:sent").count() == 5


def test_both_sides_see_the_same_case_and_others_nothing(
    protocol, kz_officer, kz_head, ru_officer, outsider, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    now = clock.now()
    assert list(selectors.outbox(viewer=kz_officer, now=now)) == [case]
    assert list(selectors.inbox(viewer=ru_officer, now=now)) == [case]
    assert list(selectors.inbox(viewer=kz_officer, now=now)) == []
    assert selectors.get_case(viewer=outsider, case_id=case.id) is None
    with pytest.raises(PermissionDenied):
        services.register_receipt(actor=outsider, case=case)


def test_a_draft_is_not_seen_by_the_requested_body(protocol, kz_officer, ru_officer, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    assert selectors.get_case(viewer=ru_officer, case_id=case.id) is None


@pytest.mark.rule("P9.2")
def test_a_refusal_needs_reasons_and_a_signatory(protocol, kz_officer, kz_head, ru_officer, ru_head, ru_body, clock):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(PermissionDenied):
        services.refuse(actor=ru_officer, case=case, reasons="Противоречит законодательству", partial=False)
    with pytest.raises(InvalidInput) as error:
        services.refuse(actor=ru_head, case=case, reasons="  ", partial=False)
    assert list(error.value.errors) == ["reasons"]
    assert not Message.objects.filter(kind="assistance.refusal").exists()
    case = services.refuse(actor=ru_head, case=case, reasons="Противоречит ст. 23 Конституции РФ", partial=False)
    assert case.state == rules.CaseState.REFUSED


@pytest.mark.rule("P9.1")
def test_a_partial_refusal_then_results(protocol, kz_officer, kz_head, ru_officer, ru_head, ru_body, clock):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(InvalidInput) as error:
        services.refuse(actor=ru_head, case=case, reasons="Тайна связи", partial=True, refused_part="")
    assert list(error.value.errors) == ["refused_part"]
    case = services.refuse(
        actor=ru_head, case=case, reasons="Тайна связи", partial=True, refused_part="Содержание переписки"
    )
    assert (case.state, case.partially_refused) == (rules.CaseState.IN_EXECUTION, True)
    case = services.send_results(actor=ru_officer, case=case, summary="Сведения о владельце сервера прилагаются.")
    assert case.state == rules.CaseState.EXECUTED


@pytest.mark.rule("P7.4")
def test_forwarding_moves_the_case_to_another_body_of_the_same_state(
    protocol, kz_officer, kz_head, ru_officer, ru_body, kz_body, clock
):
    fsb = BodyFactory(party=ru_body.party, code="RU-FSB", time_zone="Europe/Moscow")
    designate(protocol, fsb)
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(InvalidInput):
        services.forward(actor=ru_officer, case=case, to_body=kz_body, reason="не по компетенции")
    undesignated = BodyFactory(party=ru_body.party, code="RU-XYZ")
    with pytest.raises(InvalidInput) as error:  # P4.2: only to a designated competent body
        services.forward(actor=ru_officer, case=case, to_body=undesignated, reason="не по компетенции")
    assert list(error.value.errors) == ["to_body"]
    case = services.forward(actor=ru_officer, case=case, to_body=fsb, reason="Относится к компетенции ФСБ России")
    assert case.handling_body == fsb
    assert _clock(case, "forward").status == "met"
    assert _clock(case, "execution").acting_body == fsb
    # The requesting body was told at the same time: the forward message is addressed to it.
    forward = Message.objects.get(kind="assistance.forward")
    assert forward.recipient_body == kz_body
    # The forwarding body no longer acts on it.
    with pytest.raises(PermissionDenied):
        services.notify_delay(actor=ru_officer, case=case, reason="x")


@pytest.mark.rule("P7.3")
def test_a_delay_notice_leaves_the_state_and_clock_as_they_are(
    protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    due = _clock(case, "execution").due_at
    case = services.notify_delay(actor=ru_officer, case=case, reason="Провайдер не ответил", expected_on=D(2027, 1, 15))
    assert case.state == rules.CaseState.IN_EXECUTION
    assert _clock(case, "execution").due_at == due


@pytest.mark.rule("P7.6", "P7.7")
def test_postponement_and_conditions(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(InvalidInput):
        services.postpone(actor=ru_officer, case=case, reason="Идёт расследование", until=D(2026, 11, 1))
    case = services.postpone(actor=ru_officer, case=case, reason="Идёт расследование", until=D(2027, 2, 1))
    assert case.postponed_until == D(2027, 2, 1)
    assert _clock(case, "postponement").due_at == dt.datetime(2027, 2, 1, 21, 0, tzinfo=UTC)
    case = services.propose_conditions(
        actor=ru_officer,
        case=case,
        conditions=["Использовать только в уголовном деле № 261500031000217"],
        reason="ст. 12",
    )
    assert case.state == rules.CaseState.AWAITING_CONDITIONS_REPLY
    case = services.reply_to_conditions(actor=kz_officer, case=case, accepted=True)
    assert case.conditions_accepted == ["Использовать только в уголовном деле № 261500031000217"]
    case = services.send_results(actor=ru_officer, case=case, summary="Результаты")
    # P7.7: accepted conditions go with everything the case produces.
    assert Message.objects.get(kind="assistance.results").conditions == case.conditions_accepted


@pytest.mark.rule("P8")
def test_participation_of_representatives(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(RuleViolation):  # nothing to decide yet
        services.decide_participation(actor=ru_officer, case=case, agreed=False, reasons="нет")
    case = services.request_participation(
        actor=kz_officer,
        case=case,
        representatives=[{"name": "Ахметов Ерлан Серикович", "position": "ст. оперуполномоченный"}],
        starts_on=D(2026, 12, 1),
        ends_on=D(2026, 12, 5),
    )
    assert case.participation_pending
    case = services.decide_participation(
        actor=ru_officer,
        case=case,
        agreed=True,
        representatives=[{"name": "Ахметов Ерлан Серикович"}],
        starts_on=D(2026, 12, 1),
        ends_on=D(2026, 12, 3),
    )
    assert not case.participation_pending


@pytest.mark.rule("P6.4")
def test_an_urgent_request_goes_at_once_and_its_confirmation_closes_the_clock(
    protocol, kz_officer, kz_head, ru_body, clock
):
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    case = services.send_urgent(actor=kz_officer, case=case)  # an officer may send it, the head confirms
    assert case.state == rules.CaseState.SENT
    confirmation = _clock(case, "urgent_confirmation")
    assert confirmation.due_at == clock.now() + dt.timedelta(hours=72)
    clock.advance(dt.timedelta(hours=73))
    assert Clock.objects.filter(case=case, status="running", due_at__lte=clock.now()).exists()  # flagged overdue
    with pytest.raises(PermissionDenied):
        services.confirm_urgent(actor=kz_officer, case=case)
    case = services.confirm_urgent(actor=kz_head, case=case)
    assert _clock(case, "urgent_confirmation").status == "met"
    assert case.urgent_confirmed_at == clock.now()


def test_a_request_not_marked_urgent_cannot_skip_approval(protocol, kz_officer, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    with pytest.raises(RuleViolation):
        services.send_urgent(actor=kz_officer, case=case)


def test_an_action_in_the_wrong_state_is_refused_with_the_rule_and_changes_nothing(
    protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    before = (Message.objects.count(), AuditEntry.objects.count())
    with pytest.raises(RuleViolation) as violation:
        services.send_results(actor=ru_officer, case=case, summary="Результаты")
    assert violation.value.rule_id == "P7.8"
    with pytest.raises(RuleViolation):
        services.register_receipt(actor=kz_officer, case=case)  # the requesting side does not register
    assert (Message.objects.count(), AuditEntry.objects.count()) == before


def test_a_mistyped_attachment_is_refused_and_nothing_is_sent(
    protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(InvalidInput) as error:
        services.send_results(
            actor=ru_officer, case=case, summary="x", uploads=[SimpleUploadedFile("virus.exe", b"MZ\x90\x00\x03")]
        )
    assert list(error.value.errors) == ["attachments"]
    case.refresh_from_db()
    assert case.state == rules.CaseState.IN_EXECUTION


def test_recompute_rebuilds_the_same_case_from_its_messages(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    case = services.postpone(actor=ru_officer, case=case, reason="r", until=D(2027, 1, 10))
    before = (
        case.state,
        case.postponed_until,
        sorted(Clock.objects.filter(case=case).values_list("kind", "status", "due_at")),
    )
    Case.objects.filter(pk=case.pk).update(state="draft", postponed_until=None)
    Clock.objects.filter(case=case).update(status="running", due_at=dt.datetime(2030, 1, 1, tzinfo=UTC))
    case = services.recompute(case=case)
    after = (
        case.state,
        case.postponed_until,
        sorted(Clock.objects.filter(case=case).values_list("kind", "status", "due_at")),
    )
    assert after == before


@pytest.mark.rule("P6.4")
def test_the_worker_reminds_the_responsible_users_before_and_at_the_deadline_once_each(
    protocol, kz_officer, kz_head, ru_body, clock
):
    from cybercoop.accounts.models import Notification

    case = services.send_urgent(actor=kz_officer, case=draft(kz_officer, ru_body, protocol, urgent=True))
    Notification.objects.all().delete()  # the requested side's "new request" notices are not the point here
    clock.advance(dt.timedelta(hours=47))
    assert services.process_due_clocks() == 0
    clock.advance(dt.timedelta(hours=2))  # 23 hours before the deadline
    assert services.process_due_clocks() == 1
    assert services.process_due_clocks() == 0  # not twice
    reminded = Notification.objects.filter(url=f"/cases/{case.pk}/")
    assert {n.recipient for n in reminded} == {kz_officer, kz_head}
    clock.advance(dt.timedelta(hours=24))  # past the deadline
    assert services.process_due_clocks() == 1
    assert Notification.objects.filter(url=f"/cases/{case.pk}/").count() == 4
    assert services.process_due_clocks() == 0


def test_an_arriving_message_is_notified_to_the_receiving_body(
    protocol, kz_officer, kz_head, ru_officer, ru_head, ru_body, clock
):
    from cybercoop.accounts.models import Notification

    ru_analyst = UserFactory(username="ru.analyst", body=ru_body, role="officer")  # not the body's desk
    case = sent(kz_officer, kz_head, ru_body, protocol)
    # The head, and the officer who receives the body's incoming requests (assigned on arrival); not the analyst,
    # who must not even learn that the case exists (P10.1).
    told = set(Notification.objects.filter(url=f"/cases/{case.pk}/").values_list("recipient__username", flat=True))
    assert told == {"ru.head", "ru.officer"}
    assert not Notification.objects.filter(recipient=ru_analyst).exists()
    services.register_receipt(actor=ru_officer, case=case)
    assert Notification.objects.filter(recipient=kz_officer, url=f"/cases/{case.pk}/").exists()


def test_an_officer_sending_an_empty_refusal_is_refused_for_the_role_first(
    protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(PermissionDenied):
        services.refuse(actor=ru_officer, case=case, reasons="", partial=False)


@pytest.mark.rule("P12")
@pytest.mark.parametrize("amount", ["nan", "-5", "1e3", "12.345", "inf"])
def test_costs_must_be_a_plain_amount(protocol, kz_officer, kz_head, ru_officer, ru_body, clock, amount):
    case = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    with pytest.raises(InvalidInput) as error:
        services.send_results(actor=ru_officer, case=case, summary="x", costs_amount=amount, costs_currency="RUB")
    assert list(error.value.errors) == ["costs_amount"]


def test_a_naive_receipt_time_is_refused(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    with pytest.raises(InvalidInput) as error:
        services.register_receipt(actor=ru_officer, case=case, received_at=dt.datetime(2026, 11, 23, 9, 0))
    assert list(error.value.errors) == ["received_at"]
