"""The chain check as a pure function: no database."""

import datetime as dt

from cybercoop.audit import rules


def _chain(n: int) -> list[rules.ChainEntry]:
    entries, previous = [], rules.GENESIS_HASH
    for seq in range(1, n + 1):
        fields = {"seq": seq, "action": "x", "at": dt.datetime(2026, 1, seq, tzinfo=dt.UTC), "prev_hash": previous}
        digest = rules.entry_digest(fields)
        entries.append(rules.ChainEntry(seq=seq, prev_hash=previous, hash=digest, fields=fields))
        previous = digest
    return entries


def _head(entries):
    return (entries[-1].seq, entries[-1].hash) if entries else (0, rules.GENESIS_HASH)


def test_an_intact_chain_passes():
    entries = _chain(5)
    report = rules.check_chain(entries, _head(entries))
    assert report.ok
    assert report.checked == 5


def test_an_empty_log_passes():
    assert rules.check_chain([], None).ok
    assert rules.check_chain([], (0, rules.GENESIS_HASH)).ok


def test_digest_is_independent_of_key_order_and_time_zone():
    at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    almaty = at.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert rules.entry_digest({"a": 1, "at": at}) == rules.entry_digest({"at": almaty, "a": 1})


def test_a_changed_field_is_reported_at_its_entry():
    entries = _chain(4)
    forged = dict(entries[2].fields, action="y")
    entries[2] = rules.ChainEntry(seq=3, prev_hash=entries[2].prev_hash, hash=entries[2].hash, fields=forged)
    report = rules.check_chain(entries, _head(entries))
    assert (report.problem, report.seq, report.checked) == (rules.ProblemKind.ALTERED, 3, 2)


def test_a_gap_is_reported_as_the_first_missing_entry():
    entries = _chain(5)
    del entries[1]
    report = rules.check_chain(entries, _head(entries))
    assert (report.problem, report.seq) == (rules.ProblemKind.MISSING, 2)


def test_an_entry_rehashed_by_a_forger_breaks_the_next_link():
    entries = _chain(4)
    forged_fields = dict(entries[1].fields, action="y")
    entries[1] = rules.ChainEntry(2, entries[1].prev_hash, rules.entry_digest(forged_fields), forged_fields)
    report = rules.check_chain(entries, _head(_chain(4)))
    assert (report.problem, report.seq) == (rules.ProblemKind.BROKEN_LINK, 3)


def test_entries_cut_from_the_end_are_caught_by_the_head():
    entries = _chain(6)
    head = _head(entries)
    report = rules.check_chain(entries[:4], head)
    assert (report.problem, report.seq) == (rules.ProblemKind.TRUNCATED, 5)


def test_messages_name_the_entry():
    report = rules.ChainReport(checked=2, problem=rules.ProblemKind.MISSING, seq=3)
    assert "3" in report.message()
    assert "5" in rules.ChainReport(checked=5).message()


def test_every_action_has_a_label():
    assert set(rules.ACTION_LABELS) == set(rules.AuditAction)
    assert rules.action_label("accounts:session:signed_in") != "accounts:session:signed_in"
    assert rules.action_label("future:thing:done") == "future:thing:done"
