"""The treaty's life cycle as pure functions: entry into force, later joiners, withdrawals, amendments."""

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cybercoop.registry import rules
from cybercoop.registry.rules import DesignationFact, DesignationKind, EventKind, InstrumentFacts, TreatyEvent

D = dt.date
SIGNED_ON = D(2014, 12, 23)


def _signed(*parties):
    return [TreatyEvent(p, EventKind.SIGNED, SIGNED_ON) for p in parties]


def _facts(notifications, withdrawals=(), required=4, base=None):
    events = _signed(*{p for p, _d in notifications})
    events += [TreatyEvent(p, EventKind.NOTIFIED, d) for p, d in notifications]
    events += [TreatyEvent(p, EventKind.WITHDRAWAL_NOTIFIED, d, eff) for p, d, eff in withdrawals]
    return InstrumentFacts(notifications_required=required, events=tuple(events), base=base)


PROTOCOL = _facts(
    [
        ("RU", D(2015, 6, 10)),
        ("BY", D(2015, 9, 1)),
        ("AM", D(2016, 2, 15)),
        ("KZ", D(2016, 5, 20)),
        ("KG", D(2017, 3, 1)),
    ],
    withdrawals=[("AM", D(2026, 9, 15), D(2027, 3, 15))],
)


@pytest.mark.rule("P16.1")
def test_the_protocol_enters_into_force_on_the_fourth_notification():
    assert rules.entry_into_force(PROTOCOL) == D(2016, 5, 20)


@pytest.mark.rule("P16.1")
def test_three_notifications_are_not_enough():
    facts = _facts([("RU", D(2015, 1, 1)), ("BY", D(2015, 2, 1)), ("KZ", D(2015, 3, 1))])
    assert rules.entry_into_force(facts) is None
    assert not rules.in_force_for(facts, "RU", D(2030, 1, 1))


@pytest.mark.rule("P16.1", "P16.2")
@pytest.mark.parametrize(
    ("party", "since"),
    [
        ("RU", D(2016, 5, 20)),  # an early notifier: from entry into force
        ("KZ", D(2016, 5, 20)),  # the fourth
        ("KG", D(2017, 3, 1)),  # a later joiner: from its own notification
        ("TJ", None),  # never notified
    ],
)
def test_in_force_since(party, since):
    assert rules.in_force_since(PROTOCOL, party) == since


@pytest.mark.rule("P16.2")
@pytest.mark.parametrize(
    ("a", "b", "on", "expected"),
    [
        ("KZ", "RU", D(2016, 5, 19), False),  # the day before entry into force
        ("KZ", "RU", D(2016, 5, 20), True),
        ("KZ", "KG", D(2017, 2, 28), False),  # Kyrgyzstan not yet
        ("KZ", "KG", D(2017, 3, 1), True),
        ("KZ", "TJ", D(2026, 11, 23), False),  # Tajikistan never notified
        ("KZ", "KZ", D(2026, 11, 23), False),  # a Party does not cooperate with itself under the Protocol
        ("AM", "RU", D(2027, 3, 14), True),  # withdrawal pending
        ("AM", "RU", D(2027, 3, 15), False),  # withdrawal effective
    ],
)
def test_in_force_between(a, b, on, expected):
    assert rules.in_force_between(PROTOCOL, a, b, on) is expected
    assert rules.in_force_between(PROTOCOL, b, a, on) is expected


@pytest.mark.rule("P16.1", "P16.2", "P18")
@pytest.mark.parametrize(
    ("party", "on", "status"),
    [
        ("TJ", D(2013, 1, 1), rules.PartyStatus.NOT_PARTY),
        ("TJ", D(2026, 1, 1), rules.PartyStatus.NOT_PARTY),
        ("KG", D(2015, 1, 1), rules.PartyStatus.SIGNED),
        ("RU", D(2015, 7, 1), rules.PartyStatus.NOTIFIED),
        ("RU", D(2020, 1, 1), rules.PartyStatus.IN_FORCE),
        ("AM", D(2026, 11, 23), rules.PartyStatus.WITHDRAWAL_PENDING),
        ("AM", D(2027, 3, 15), rules.PartyStatus.WITHDRAWN),
    ],
)
def test_party_status(party, on, status):
    assert rules.party_status(PROTOCOL, party, on) == status


@pytest.mark.rule("P16.1")
def test_notifications_on_the_same_day_enter_into_force_together():
    same_day = D(2016, 1, 10)
    facts = _facts([("RU", D(2015, 1, 1)), ("BY", D(2015, 2, 1)), ("KZ", same_day), ("AM", same_day), ("KG", same_day)])
    assert rules.entry_into_force(facts) == same_day
    for party in ("KZ", "AM", "KG"):
        assert rules.in_force_since(facts, party) == same_day


@pytest.mark.rule("P15")
def test_an_amendment_binds_only_where_both_it_and_the_base_are_in_force():
    amendment = _facts(
        [("RU", D(2020, 1, 1)), ("BY", D(2020, 1, 2)), ("KZ", D(2020, 1, 3)), ("AM", D(2020, 1, 4))], base=PROTOCOL
    )
    assert rules.entry_into_force(amendment) == D(2020, 1, 4)
    assert rules.in_force_between(amendment, "KZ", "RU", D(2020, 1, 4))
    assert not rules.in_force_between(amendment, "KZ", "RU", D(2020, 1, 3))
    # Armenia's withdrawal from the Protocol takes it out of the amendment as well.
    assert not rules.in_force_for(amendment, "AM", D(2027, 3, 15))
    # An amendment ratified by a Party for which the base is not in force does not bind it.
    lone = _facts(
        [("TJ", D(2020, 1, 1)), ("RU", D(2020, 1, 1)), ("BY", D(2020, 1, 1)), ("KZ", D(2020, 1, 1))], base=PROTOCOL
    )
    assert not rules.in_force_for(lone, "TJ", D(2021, 1, 1))


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 9, 15), 6, D(2027, 3, 15)),
        (D(2026, 8, 31), 6, D(2027, 2, 28)),  # no 31 February: the month's last day
        (D(2027, 8, 31), 6, D(2028, 2, 29)),  # leap year
        (D(2026, 12, 31), 2, D(2027, 2, 28)),
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2026, 11, 23), 12, D(2027, 11, 23)),
    ],
)
def test_months_end_on_the_same_date_or_the_months_last_day(day, months, expected):
    assert rules.add_months(day, months) == expected


TODAY = D(2026, 11, 23)


def _check(facts, event, today=TODAY):
    return rules.check_event(facts=facts, event=event, adopted_on=SIGNED_ON, today=today, notice_months=6)


@pytest.mark.rule("P18")
def test_a_withdrawal_earlier_than_six_months_after_the_notice_is_refused_with_the_earliest_date():
    facts = _facts([("KZ", D(2016, 5, 20))])
    errors = _check(facts, TreatyEvent("KZ", EventKind.WITHDRAWAL_NOTIFIED, D(2026, 8, 31), D(2027, 2, 27)))
    assert set(errors) == {"effective_on"}
    assert "2027-02-28" in str(errors["effective_on"])
    assert _check(facts, TreatyEvent("KZ", EventKind.WITHDRAWAL_NOTIFIED, D(2026, 8, 31), D(2027, 2, 28))) == {}


@pytest.mark.rule("P18")
def test_a_party_that_never_joined_cannot_withdraw():
    errors = _check(PROTOCOL, TreatyEvent("TJ", EventKind.WITHDRAWAL_NOTIFIED, D(2026, 1, 1), D(2027, 1, 1)))
    assert set(errors) == {"party"}


@pytest.mark.rule("P16.1")
@pytest.mark.parametrize(
    ("event", "field"),
    [
        (TreatyEvent("RU", EventKind.NOTIFIED, D(2020, 1, 1)), "party"),  # a second notification
        (TreatyEvent("TJ", EventKind.NOTIFIED, D(2020, 1, 1)), "party"),  # never signed
        (TreatyEvent("RU", EventKind.SIGNED, D(2020, 1, 1)), "party"),  # signed twice
        (TreatyEvent("UZ", EventKind.SIGNED, D(2014, 1, 1)), "on"),  # before adoption
        (TreatyEvent("UZ", EventKind.SIGNED, D(2027, 1, 1)), "on"),  # in the future
        (TreatyEvent("AM", EventKind.WITHDRAWAL_NOTIFIED, D(2026, 10, 1), D(2027, 6, 1)), "party"),  # again
    ],
)
def test_bad_events_are_refused_on_the_right_field(event, field):
    assert set(_check(PROTOCOL, event)) == {field}


def test_a_notification_before_the_partys_own_signature_is_refused():
    facts = InstrumentFacts(4, (TreatyEvent("TJ", EventKind.SIGNED, D(2018, 5, 1)),))
    errors = _check(facts, TreatyEvent("TJ", EventKind.NOTIFIED, D(2018, 4, 30)))
    assert set(errors) == {"on"}


# --- properties ------------------------------------------------------------------------------------

PARTIES = ["AM", "BY", "KZ", "KG", "RU", "TJ"]
dates = st.dates(min_value=D(2015, 1, 1), max_value=D(2030, 12, 31))
notification_sets = st.dictionaries(st.sampled_from(PARTIES), dates, min_size=0, max_size=6)


@pytest.mark.rule("P16.1", "P16.2")
@given(notifications=notification_sets, required=st.integers(1, 6), seed=st.randoms())
def test_order_of_filing_never_changes_the_outcome(notifications, required, seed):
    events = _facts(list(notifications.items()), required=required).events
    shuffled = list(events)
    seed.shuffle(shuffled)
    a = InstrumentFacts(required, events)
    b = InstrumentFacts(required, tuple(shuffled))
    assert rules.entry_into_force(a) == rules.entry_into_force(b)
    for party in PARTIES:
        assert rules.in_force_since(a, party) == rules.in_force_since(b, party)


@pytest.mark.rule("P16.1")
@given(notifications=notification_sets, required=st.integers(1, 6))
def test_entry_into_force_is_the_first_day_with_enough_notifications(notifications, required):
    facts = _facts(list(notifications.items()), required=required)
    start = rules.entry_into_force(facts)
    count_by = lambda day: sum(1 for d in notifications.values() if d <= day)  # noqa: E731
    if start is None:
        assert len(notifications) < required
    else:
        assert count_by(start) >= required
        assert count_by(start - dt.timedelta(days=1)) < required


@pytest.mark.rule("P16.2")
@given(notifications=notification_sets, required=st.integers(1, 6), on=dates)
def test_a_party_is_bound_exactly_from_the_later_of_entry_into_force_and_its_own_notification(
    notifications, required, on
):
    facts = _facts(list(notifications.items()), required=required)
    start = rules.entry_into_force(facts)
    for party in PARTIES:
        expected = start is not None and party in notifications and on >= max(start, notifications[party])
        assert rules.in_force_for(facts, party, on) is expected


@pytest.mark.rule("P18")
@given(received=dates, months=st.integers(1, 24))
def test_the_earliest_withdrawal_is_accepted_and_the_day_before_is_not(received, months):
    facts = _facts([("KZ", D(2015, 1, 1))])
    earliest = rules.earliest_withdrawal(received, months)
    assert earliest > received
    ok = TreatyEvent("KZ", EventKind.WITHDRAWAL_NOTIFIED, received, earliest)
    early = TreatyEvent("KZ", EventKind.WITHDRAWAL_NOTIFIED, received, earliest - dt.timedelta(days=1))
    check = lambda e: rules.check_event(  # noqa: E731
        facts=facts, event=e, adopted_on=SIGNED_ON, today=D(2031, 1, 1), notice_months=months
    )
    assert check(ok) == {}
    assert set(check(early)) == {"effective_on"}


@pytest.mark.rule("P18")
@given(notifications=notification_sets.filter(lambda n: len(n) >= 4), on=dates, data=st.data())
def test_after_withdrawal_takes_effect_the_party_is_never_bound_again(notifications, on, data):
    party = data.draw(st.sampled_from(sorted(notifications)))
    effective = data.draw(dates)
    facts = _facts(list(notifications.items()), withdrawals=[(party, effective, effective)])
    if on >= effective:
        assert not rules.in_force_for(facts, party, on)
        assert rules.party_status(facts, party, on) == rules.PartyStatus.WITHDRAWN


# --- designations (P4.2) -------------------------------------------------------------------------------


def _d(kind, body, on, replaces=None):
    return DesignationFact(kind=kind, body=body, effective_on=on, replaces=replaces)


HISTORY = (
    _d(DesignationKind.DESIGNATED, "KZ-MIA", D(2016, 6, 1)),
    _d(DesignationKind.DESIGNATED, "KZ-NSC", D(2016, 6, 1)),
    _d(DesignationKind.CHANGED, "KZ-DIA", D(2019, 1, 1), replaces="KZ-MIA"),
    _d(DesignationKind.WITHDRAWN, "KZ-NSC", D(2021, 1, 1)),
)


@pytest.mark.rule("P4.2")
@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2016, 5, 31), set()),
        (D(2016, 6, 1), {"KZ-MIA", "KZ-NSC"}),
        (D(2019, 1, 1), {"KZ-DIA", "KZ-NSC"}),
        (D(2021, 1, 1), {"KZ-DIA"}),
    ],
)
def test_designation_history_is_replayed_by_effective_date(on, expected):
    assert rules.designated_on(HISTORY, on) == expected
    shuffled = list(HISTORY)
    random.Random(7).shuffle(shuffled)
    assert rules.designated_on(tuple(shuffled), on) == expected


@pytest.mark.rule("P4.2")
@pytest.mark.parametrize(
    ("fact", "field"),
    [
        (_d(DesignationKind.DESIGNATED, "KZ-DIA", D(2022, 1, 1)), "body"),  # already designated
        (_d(DesignationKind.WITHDRAWN, "KZ-NSC", D(2022, 1, 1)), "body"),  # already withdrawn
        (_d(DesignationKind.CHANGED, "KZ-PGO", D(2022, 1, 1), replaces="KZ-MIA"), "replaces"),  # not designated
        (_d(DesignationKind.DESIGNATED, "KZ-PGO", D(2020, 1, 1)), "effective_on"),  # before a later notice
        (_d(DesignationKind.DESIGNATED, "KZ-PGO", D(2013, 1, 1)), "effective_on"),  # before adoption
    ],
)
def test_bad_designations_are_refused(fact, field):
    assert field in rules.check_designation(facts=HISTORY, fact=fact, earliest=SIGNED_ON)


def test_a_good_designation_passes():
    fact = _d(DesignationKind.DESIGNATED, "KZ-PGO", D(2022, 1, 1))
    assert rules.check_designation(facts=HISTORY, fact=fact, earliest=SIGNED_ON) == {}
