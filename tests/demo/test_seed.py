"""The demonstration's seed: every Party, a body each, a user of every role; idempotent and audited."""

import pytest

from cybercoop.accounts.models import User
from cybercoop.accounts.rules import Role
from cybercoop.audit import services as audit
from cybercoop.demo.seed import seed
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
    assert audit.verify_chain().checked == Party.objects.count() + Body.objects.count() + User.objects.count()


@pytest.mark.django_db
def test_seed_can_run_again_without_duplicates():
    seed(password="demo password for tests 1")
    counts = (Party.objects.count(), Body.objects.count(), User.objects.count())
    seed(password="demo password for tests 1")
    assert (Party.objects.count(), Body.objects.count(), User.objects.count()) == counts
