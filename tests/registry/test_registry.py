"""Parties and bodies: registration through services, and the read API."""

import pytest

from cybercoop.accounts import services as accounts
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput
from cybercoop.registry import services
from cybercoop.registry.models import Body, Party


def test_registering_a_party_and_a_body_is_audited(db):
    party = services.register_party(
        actor=None, code="KG", kind="state", time_zone="Asia/Bishkek", name_ru="Кыргызская Республика"
    )
    body = services.register_body(actor=None, party=party, code="KG-MIA", kind="law_enforcement", name_ru="МВД")
    assert str(body.zone) == "Asia/Bishkek"
    assert list(AuditEntry.objects.order_by("seq").values_list("action", flat=True)) == [
        "registry:party:created",
        "registry:body:created",
    ]


def test_a_bad_party_is_refused_field_by_field_and_nothing_is_stored(db):
    with pytest.raises(InvalidInput) as error:
        services.register_party(actor=None, code="", kind="empire", time_zone="Mars/Olympus", name_ru="")
    assert {"code", "kind", "time_zone", "name_ru"} <= set(error.value.errors)
    assert not Party.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.rule("R7")
def test_a_state_has_several_bodies_of_different_kinds_each_with_its_own_users(kz_body, kz_officer):
    party = kz_body.party
    nsc = services.register_body(actor=None, party=party, code="KZ-NSC", kind="security_service", name_ru="КНБ")
    court = services.register_body(actor=None, party=party, code="KZ-SC", kind="judiciary", name_ru="Верховный суд")
    assert set(party.bodies.values_list("kind", flat=True)) == {"law_enforcement", "security_service", "judiciary"}
    assert kz_officer.body == kz_body
    assert not nsc.users.exists()
    assert not court.users.exists()


def test_a_body_name_follows_the_active_language(kz_body):
    from django.utils import translation

    with translation.override("kk"):
        assert kz_body.name == "Қазақстан Республикасының Ішкі істер министрлігі"
    with translation.override("en"):
        assert kz_body.name.startswith("Ministry")
    kz_body.name_en = ""
    with translation.override("en"):
        assert kz_body.name == kz_body.name_ru


def test_the_api_lists_parties_and_bodies(client, kz_officer, ru_body):
    _token, raw = accounts.issue_api_token(user=kz_officer, name="x")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    parties = client.get("/api/v1/registry/parties", **auth).json()
    assert {p["code"] for p in parties} == {"KZ", "RU"}
    bodies = client.get("/api/v1/registry/bodies", {"party": "RU"}, **auth).json()
    assert [b["code"] for b in bodies] == ["RU-MIA"]
    assert Body.objects.count() == 2
