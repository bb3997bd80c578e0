"""The demonstration's seed: every Party, a body each, a user of every role; idempotent and audited."""

import datetime as dt
import functools
import operator

import pytest

from cybercoop.accounts.models import User
from cybercoop.accounts.rules import Role
from cybercoop.audit import services as audit
from cybercoop.demo.seed import seed
from cybercoop.registry import selectors as registry
from cybercoop.registry.models import Body, Party


@pytest.mark.django_db
def test_seed_creates_the_six_parties_the_secretariat_and_every_role():
    logins = seed(password="demo password for tests 1")
    assert set(Party.objects.values_list("code", flat=True)) == {"AM", "BY", "KZ", "KG", "RU", "TJ", "CSTO"}
    for party in Party.objects.all():
        assert party.bodies.exists(), party.code
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    assert len(logins) == User.objects.count()
    assert all(u.check_password("demo password for tests 1") for u in User.objects.all())
    report = audit.verify_chain()
    assert report.ok
    assert report.checked >= Party.objects.count() + Body.objects.count() + User.objects.count()


@pytest.mark.django_db
def test_seed_makes_the_protocol_in_force_for_some_parties_not_others_with_a_pending_withdrawal():
    seed(password="demo password for tests 1")
    protocol = registry.protocol()
    status = {
        row.party.code: row.status for row in registry.status_table(instrument=protocol, on=dt.date(2026, 11, 23))
    }
    assert status == {
        "AM": "withdrawal_pending",
        "BY": "in_force",
        "KZ": "in_force",
        "KG": "in_force",
        "RU": "in_force",
        "TJ": "signed",
    }
    assert registry.in_force_between(
        instrument=protocol,
        party_a=registry.get_party(code="KZ"),
        party_b=registry.get_party(code="RU"),
        on=dt.date(2026, 11, 23),
    )
    designated = {b.code for b in registry.designated_bodies(instrument=protocol, on=dt.date(2026, 11, 23))}
    assert {"KZ-MIA", "RU-MIA", "KG-MIA"} <= designated
    assert "TJ-MIA" not in designated
    secretariat = User.objects.get(username="csto.secretariat")
    assert {a.party.code for a in registry.pending_acknowledgements(viewer=secretariat)} == {"AM", "TJ"}


@pytest.mark.django_db
def test_seed_can_run_again_without_duplicates():
    seed(password="demo password for tests 1")
    counts = (Party.objects.count(), Body.objects.count(), User.objects.count())
    seed(password="demo password for tests 1")
    assert (Party.objects.count(), Body.objects.count(), User.objects.count()) == counts


def test_the_multi_node_demo_gives_each_body_its_partys_node_or_the_secretariats():
    from cybercoop.demo.federation import bodies_by_node

    four = bodies_by_node({"secretariat", "kz", "ru", "am"})
    assert set(four["kz"]) >= {"KZ-MIA"}
    assert all(code.startswith("KZ-") for code in four["kz"])
    assert all(code.startswith("RU-") for code in four["ru"])
    assert "RU-MIA" in four["ru"]
    assert "BY-MIA" in four["secretariat"]
    assert "CSTO-SEC" in four["secretariat"]
    three = bodies_by_node({"secretariat", "kz", "ru"})  # no Armenian node: the Secretariat serves AM-MIA
    assert "am" not in three
    assert "AM-MIA" in three["secretariat"]
    assert sorted(functools.reduce(operator.iadd, four.values(), [])) == sorted(
        functools.reduce(operator.iadd, three.values(), [])
    )  # every body, once
