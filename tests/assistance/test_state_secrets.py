"""State secrets never travel through CyberCoop (P10.3): a state-secret marking is refused wherever a marking is
given — the draft's screen, the API, the services — with a message naming the channel that applies (the CSTO
agreement of 18 June 2004), and nothing is stored. (Envelopes so marked are rejected: tests/exchange/test_inbox.py.)"""

from __future__ import annotations

import pytest
from django.utils import translation

from cybercoop.assistance import services
from cybercoop.assistance.models import Case
from cybercoop.core.errors import InvalidInput
from tests.assistance.factories import REQUEST_FIELDS, draft
from tests.assistance.test_api import Caller
from tests.assistance.test_views import _draft_data

pytestmark = [pytest.mark.django_db, pytest.mark.rule("P10.3")]


@pytest.mark.parametrize("marking", ["state_secret", "top_secret", "Secret"])
def test_the_services_refuse_a_state_secret_marking_naming_the_2004_agreement(protocol, kz_officer, ru_body, marking):
    with pytest.raises(InvalidInput) as error, translation.override("en"):
        services.create_draft(
            actor=kz_officer, requested_body=ru_body, instrument=protocol, **{**REQUEST_FIELDS, "marking": marking}
        )
    assert list(error.value.errors) == ["marking"]
    with translation.override("en"):
        assert "18 June 2004" in str(error.value.errors["marking"][0])
    assert not Case.objects.exists()


def test_a_draft_cannot_be_changed_to_a_state_secret(protocol, kz_officer, ru_body):
    case = draft(kz_officer, ru_body, protocol)
    with pytest.raises(InvalidInput) as error:
        services.update_draft(actor=kz_officer, case=case, marking="state_secret")
    assert list(error.value.errors) == ["marking"]
    case.refresh_from_db()
    assert case.marking == "official"


def test_the_draft_screen_offers_the_marking_only_to_say_where_it_goes(client, protocol, kz_officer, ru_body):
    client.force_login(kz_officer)
    assert 'value="state_secret"' in client.get("/cases/new/").content.decode()
    r = client.post("/cases/new/", _draft_data(ru_body, protocol, marking="state_secret"))
    assert r.status_code == 422
    html = r.content.decode()
    assert "18 июня 2004" in html  # Russian by default: the agreement's channel, named
    assert not Case.objects.exists()


def test_the_api_refuses_a_state_secret_marking_field_by_field(client, protocol, kz_officer, ru_body):
    officer = Caller(client, kz_officer)
    fields = {k: v for k, v in REQUEST_FIELDS.items() if k != "marking"}
    r = officer.post("", {**fields, "requested_body": ru_body.code, "marking": "state_secret"})
    assert r.status_code == 422, r.content
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["marking"]
    assert "2004" in errors[0]["message"]
    assert not Case.objects.exists()
