"""Property: whatever is done to any entry of any log, `audit verify` names the first entry affected."""

import contextlib
import datetime as dt

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cybercoop.audit import services
from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction, ProblemKind
from cybercoop.core import clock as clock_module
from tests.audit.helpers import force_update, raw, triggers_disabled

ACTIONS = list(AuditAction)
FIELDS = ["action", "actor_label", "body_label", "object_id", "request_id", "at", "data", "hash", "prev_hash"]

entry_specs = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.text(min_size=0, max_size=12),  # NUL included: the service must store it safely
        st.dictionaries(st.sampled_from(["a", "b", "имя", "ә"]), st.integers(-5, 5) | st.text(max_size=5), max_size=3),
        st.integers(min_value=0, max_value=10_000),
    ),
    min_size=1,
    max_size=12,
)


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def rolled_back():
    """Run one example in a transaction that is always undone, so examples do not see each other's logs."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def _write_log(specs, actor):
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with clock_module.use_clock(clock_module.FrozenClock(start)) as frozen:
        for action, object_id, data, seconds in specs:
            frozen.advance(dt.timedelta(seconds=seconds, microseconds=seconds * 7))
            services.record(action=action, actor=actor, target=("test.thing", object_id), data=data)
    return list(AuditEntry.objects.order_by("seq").values_list("pk", "seq"))


def _tamper_value(field, row_pk):
    entry = AuditEntry.objects.get(pk=row_pk)
    if field == "at":
        return entry.at + dt.timedelta(microseconds=1)
    if field == "data":
        return {"tampered": True}
    if field in ("hash", "prev_hash"):
        value = getattr(entry, field)
        return ("1" if value[0] != "1" else "2") + value[1:]
    return getattr(entry, field) + "~"


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=entry_specs, data=st.data())
def test_any_change_to_any_entry_is_found_at_that_entry(kz_officer, specs, data):
    with rolled_back():
        rows = _write_log(specs, kz_officer)
        assert services.verify_chain().ok
        index = data.draw(st.integers(0, len(rows) - 1), label="entry")
        field = data.draw(st.sampled_from(FIELDS), label="field")
        pk, seq = rows[index]
        value = _tamper_value(field, pk)
        with triggers_disabled():
            force_update(pk, **{field: value})
        report = services.verify_chain()
        assert not report.ok
        if field == "hash" and index == len(rows) - 1:
            # The last entry's own hash: nothing after it links to it, but the head remembers it.
            assert (report.problem, report.seq) == (ProblemKind.ALTERED, seq)
        else:
            assert report.seq == seq
            assert report.problem in (ProblemKind.ALTERED, ProblemKind.BROKEN_LINK)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=entry_specs, data=st.data())
def test_a_deleted_entry_is_reported_as_missing(kz_officer, specs, data):
    with rolled_back():
        rows = _write_log(specs, kz_officer)
        index = data.draw(st.integers(0, len(rows) - 1), label="entry")
        with triggers_disabled():
            raw("DELETE FROM audit_auditentry WHERE id = %s", [rows[index][0]])
        report = services.verify_chain()
        last = index == len(rows) - 1
        assert report.problem == (ProblemKind.TRUNCATED if last else ProblemKind.MISSING)
        assert report.seq == rows[index][1]


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=entry_specs.filter(lambda s: len(s) >= 2), data=st.data())
def test_two_entries_swapped_are_found_at_the_earlier_one(kz_officer, specs, data):
    with rolled_back():
        rows = _write_log(specs, kz_officer)
        i = data.draw(st.integers(0, len(rows) - 2), label="first")
        j = data.draw(st.integers(i + 1, len(rows) - 1), label="second")
        (pk_i, seq_i), (pk_j, seq_j) = rows[i], rows[j]
        with triggers_disabled():
            # Reorder: give each row the other's position in the chain.
            force_update(pk_i, **{"seq": 10**9})
            force_update(pk_j, **{"seq": seq_i})
            force_update(pk_i, **{"seq": seq_j})
        report = services.verify_chain()
        assert not report.ok
        assert report.seq == seq_i


@pytest.mark.django_db
def test_the_command_exits_non_zero_and_names_the_entry(kz_officer, capsys):
    _write_log([(AuditAction.SIGNED_IN, "1", {}, 1)] * 4, kz_officer)
    call_command("audit", "verify", "--language", "en")
    assert "4 entries checked" in capsys.readouterr().out
    pk = AuditEntry.objects.get(seq=3).pk
    with triggers_disabled():
        force_update(pk, **{"actor_label": "someone.else"})
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify", "--language", "en")
    assert exit_info.value.code == 1
    assert "Entry 3 has been altered" in capsys.readouterr().err
