"""The legal clocks and the state machine, without a database."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cybercoop.assistance import rules
from cybercoop.assistance.rules import CaseState, Kind, MessageFacts, Side

UTC = dt.UTC
CONTEXT = rules.CaseContext(
    requesting_body="KZ-MIA",
    requested_body="RU-MIA",
    execution_term_days=30,
    forward_term_days=3,
    urgent_confirmation_hours=72,
    zones={"KZ-MIA": "Asia/Almaty", "RU-MIA": "Europe/Moscow", "RU-FSB": "Europe/Moscow"},
)


def _m(n, kind, sender, recipient, at, **body):
    return MessageFacts(id=f"m{n}", kind=kind, sender=sender, recipient=recipient, created_at=at, body=body)


@pytest.mark.rule("P7.2")
def test_thirty_days_from_receipt_on_14_november_end_at_24_00_on_14_december_local_time():
    received = dt.datetime(2026, 11, 14, 15, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # Almaty
    due = rules.due_after_days(received, 30, "Asia/Almaty")
    assert due == dt.datetime(2026, 12, 14, 19, 0, tzinfo=UTC)  # 24:00 Almaty (UTC+5) on 14 December


@pytest.mark.rule("P7.2")
def test_the_term_counts_in_the_acting_bodys_time_zone():
    # 21:30 UTC on 14 November is already 15 November in Almaty, still 15 November 00:30 in Moscow.
    received = dt.datetime(2026, 11, 14, 21, 30, tzinfo=UTC)
    assert rules.due_after_days(received, 30, "Asia/Almaty") == dt.datetime(2026, 12, 15, 19, 0, tzinfo=UTC)
    assert rules.due_after_days(received, 30, "Europe/Moscow") == dt.datetime(2026, 12, 15, 21, 0, tzinfo=UTC)


@pytest.mark.rule("P6.4")
def test_the_urgent_confirmation_term_is_72_hours_from_transmission():
    sent = dt.datetime(2026, 11, 23, 23, 59, 30, tzinfo=UTC)
    assert rules.due_after_hours(sent, 72) == dt.datetime(2026, 11, 26, 23, 59, 30, tzinfo=UTC)


@pytest.mark.rule("P7.2")
@given(
    received=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)),
    days=st.integers(1, 365),
    zone=st.sampled_from(
        ["Asia/Almaty", "Europe/Moscow", "Asia/Yerevan", "Europe/Minsk", "Asia/Bishkek", "Asia/Dushanbe"]
    ),
)
def test_a_term_in_days_always_ends_at_local_midnight_after_the_last_day(received, days, zone):
    import zoneinfo

    due = rules.due_after_days(received, days, zone)
    local_due = due.astimezone(zoneinfo.ZoneInfo(zone))
    assert (local_due.hour, local_due.minute, local_due.second) == (0, 0, 0)
    assert local_due.date() - received.astimezone(zoneinfo.ZoneInfo(zone)).date() == dt.timedelta(days=days + 1)


T0 = dt.datetime(2026, 11, 14, 6, 0, tzinfo=UTC)


def _flow(*steps):
    return [_m(i, kind, s, r, T0 + dt.timedelta(hours=i), **body) for i, (kind, s, r, body) in enumerate(steps)]


REQUEST = (Kind.REQUEST, "KZ-MIA", "RU-MIA", {})
RECEIPT = (Kind.RECEIPT, "RU-MIA", "KZ-MIA", {})


@pytest.mark.rule("P7.2", "P7.4", "P7.8")
def test_receipt_starts_execution_and_forwarding_clocks_and_results_close_them():
    derived = rules.derive(_flow(REQUEST, RECEIPT), CONTEXT)
    assert derived.state == CaseState.IN_EXECUTION
    clocks = {c.kind: c for c in derived.clocks}
    assert clocks["execution"].rule_id == "P7.2"
    assert clocks["forward"].rule_id == "P7.4"
    assert clocks["execution"].due_at == dt.datetime(2026, 12, 14, 21, 0, tzinfo=UTC)  # 24:00 Moscow
    closed = rules.derive(_flow(REQUEST, RECEIPT, (Kind.RESULTS, "RU-MIA", "KZ-MIA", {"summary": "x"})), CONTEXT)
    assert closed.state == CaseState.EXECUTED
    assert {c.kind: c.status for c in closed.clocks} == {"execution": "met", "forward": "cancelled"}


@pytest.mark.rule("P7.4")
def test_forwarding_moves_the_case_and_keeps_the_execution_term():
    derived = rules.derive(_flow(REQUEST, RECEIPT, (Kind.FORWARD, "RU-MIA", "KZ-MIA", {"to_body": "RU-FSB"})), CONTEXT)
    assert derived.handling_body == "RU-FSB"
    clocks = {c.kind: c for c in derived.clocks}
    assert clocks["forward"].status == "met"
    assert clocks["execution"].acting_body == "RU-FSB"
    assert clocks["execution"].due_at == dt.datetime(2026, 12, 14, 21, 0, tzinfo=UTC)


@pytest.mark.rule("P7.6")
def test_a_postponement_replaces_the_execution_clock():
    derived = rules.derive(
        _flow(REQUEST, RECEIPT, (Kind.POSTPONEMENT, "RU-MIA", "KZ-MIA", {"until": "2027-02-01", "reason": "r"})),
        CONTEXT,
    )
    by_kind = {c.kind: c for c in derived.clocks}
    assert by_kind["execution"].status == "superseded"
    assert by_kind["postponement"].due_at == dt.datetime(2027, 2, 1, 21, 0, tzinfo=UTC)
    assert derived.postponed_until == dt.date(2027, 2, 1)


@pytest.mark.rule("P9.1", "P9.2")
def test_a_partial_refusal_keeps_the_case_open_and_a_full_one_closes_it():
    partial = rules.derive(_flow(REQUEST, RECEIPT, (Kind.REFUSAL, "RU-MIA", "KZ-MIA", {"partial": True})), CONTEXT)
    assert (partial.state, partial.partially_refused) == (CaseState.IN_EXECUTION, True)
    full = rules.derive(_flow(REQUEST, RECEIPT, (Kind.REFUSAL, "RU-MIA", "KZ-MIA", {"partial": False})), CONTEXT)
    assert full.state == CaseState.REFUSED
    assert all(c.status != "running" for c in full.clocks)


@pytest.mark.rule("P7.6", "P7.7")
def test_accepted_conditions_stay_with_the_case_and_declined_ones_do_not():
    proposal = (Kind.CONDITIONS, "RU-MIA", "KZ-MIA", {"conditions": ["Только для уголовного дела № 1"]})
    accepted = rules.derive(
        _flow(REQUEST, RECEIPT, proposal, (Kind.CONDITIONS_REPLY, "KZ-MIA", "RU-MIA", {"accepted": True})), CONTEXT
    )
    assert accepted.conditions_accepted == ("Только для уголовного дела № 1",)
    assert accepted.state == CaseState.IN_EXECUTION
    declined = rules.derive(
        _flow(REQUEST, RECEIPT, proposal, (Kind.CONDITIONS_REPLY, "KZ-MIA", "RU-MIA", {"accepted": False})), CONTEXT
    )
    assert declined.conditions_accepted == ()


@pytest.mark.rule("P6.4")
def test_an_urgent_request_runs_a_confirmation_clock_until_confirmed():
    urgent = (Kind.REQUEST, "KZ-MIA", "RU-MIA", {"urgent": True})
    derived = rules.derive(_flow(urgent), CONTEXT)
    (clock,) = derived.clocks
    assert (clock.kind, clock.acting_body, clock.due_at) == (
        "urgent_confirmation",
        "KZ-MIA",
        T0 + dt.timedelta(hours=72),
    )
    assert clock.is_overdue(T0 + dt.timedelta(hours=72))
    assert not clock.is_overdue(T0 + dt.timedelta(hours=71, minutes=59))
    confirmed = rules.derive(_flow(urgent, (Kind.URGENT_CONFIRMATION, "KZ-MIA", "RU-MIA", {})), CONTEXT)
    assert confirmed.clocks[0].status == "met"


@pytest.mark.parametrize(
    ("kind", "state", "side", "allowed"),
    [
        (Kind.RECEIPT, CaseState.SENT, Side.REQUESTED, True),
        (Kind.RECEIPT, CaseState.SENT, Side.REQUESTING, False),
        (Kind.RESULTS, CaseState.SENT, Side.REQUESTED, False),  # register first
        (Kind.RESULTS, CaseState.AWAITING_INFORMATION, Side.REQUESTED, False),
        (Kind.INFO_REPLY, CaseState.AWAITING_INFORMATION, Side.REQUESTING, True),
        (Kind.REFUSAL, CaseState.EXECUTED, Side.REQUESTED, False),
        (Kind.DELAY, CaseState.AWAITING_INFORMATION, Side.REQUESTED, True),
    ],
)
def test_the_transition_table(kind, state, side, allowed):
    derived = rules.Derived(state=state, handling_body="RU-MIA")
    assert (rules.refusal_reason(kind=kind, state=state, side=side, derived=derived) is None) is allowed


def test_every_transition_cites_a_known_rule():
    from cybercoop.core.rules_ref import is_known

    assert set(rules.TRANSITIONS) == set(Kind)
    for transition in rules.TRANSITIONS.values():
        assert transition.rules
        assert all(is_known(rule_id) for rule_id in transition.rules)


@pytest.mark.rule("P3.1", "P6.2", "P5.2")
def test_a_request_without_its_required_fields_is_refused_field_by_field():
    facts = rules.RequestFacts(
        subject="",
        scope="piracy",
        purpose=" ",
        grounds="",
        substance="",
        assistance_kinds=(),
        assistance_sought="",
        identifiers="",
        execution_term_days=400,
        other_information="",
        urgent=False,
        dual_criminality_confirmed=False,
        offence="",
        annex_language="",
    )
    assert set(rules.check_request(facts)) == {
        "subject",
        "scope",
        "purpose",
        "grounds",
        "substance",
        "assistance_sought",
        "assistance_kinds",
        "execution_term_days",
    }
