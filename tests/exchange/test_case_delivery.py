"""The case page tells the requesting side how its request stands on the way to the other node: on its way,
delivered with a signed receipt, not delivered yet (attempts, the next one), or refused with the reason."""

from __future__ import annotations

import pytest

from cybercoop.exchange.models import OutboxItem, OutboxState
from cybercoop.registry.selectors import PROTOCOL_CODE, get_instrument
from tests.accounts.factories import UserFactory
from tests.assistance.factories import sent


def _page(client, user, case):
    client.force_login(user)
    answer = client.get(f"/cases/{case.pk}/")
    assert answer.status_code == 200
    return answer.content.decode()


def _sent_from_kz(federation):
    """This process is node kz, whose officer's request to RU-MIA (node ru) has been sent: the officer and the case."""
    federation.become("kz")
    bodies = federation.bodies
    officer = UserFactory(username="kz.officer", body=bodies["KZ-MIA"], role="officer")
    head = UserFactory(username="kz.head", body=bodies["KZ-MIA"], role="head")
    return officer, sent(officer, head, bodies["RU-MIA"], get_instrument(code=PROTOCOL_CODE))


@pytest.mark.rule("P4.1")
def test_the_requesting_side_sees_where_its_request_to_another_node_stands(federation, client, clock):
    officer, case = _sent_from_kz(federation)
    item = OutboxItem.objects.get(message__conversation=case.pk)
    assert item.state == OutboxState.QUEUED

    assert 'data-state="queued"' in _page(client, officer, case)

    item.state, item.attempts, item.next_attempt_at = OutboxState.FAILED, 2, clock.now()
    item.save()
    page = _page(client, officer, case)
    assert 'data-state="failed"' in page
    assert "2 попытки не удались" in page

    item.state, item.reason = OutboxState.REJECTED, "body not designated"
    item.save()
    page = _page(client, officer, case)
    assert 'data-state="rejected"' in page
    assert "Отклонено узлом-получателем:" in page
    assert "body not designated" in page

    item.state, item.receipted_at = OutboxState.RECEIPTED, clock.now()
    item.save()
    page = _page(client, officer, case)
    assert 'data-state="receipted"' in page
    assert "узел-получатель подписал квитанцию" in page


@pytest.mark.rule("P7.2")
def test_the_requesting_node_takes_the_incoming_number_from_the_requested_bodys_receipt(federation, client, clock):
    from cybercoop.exchange.federation import inbox
    from tests.exchange.federation import seal, wire_message

    officer, case = _sent_from_kz(federation)
    assert case.incoming_number == ""
    receipt = wire_message(
        conversation=case.pk,
        kind="assistance.receipt",
        sender=("ru", "RU-MIA"),
        recipient=("kz", "KZ-MIA"),
        body={"received_at": clock.now().isoformat(), "incoming_number": "RU-MIA-2026-I-000042"},
    )
    [result] = inbox.receive_batch([seal(receipt, sender=federation.keys["ru"], recipient=federation.public("kz"))])
    assert result["status"] == "accepted"
    case.refresh_from_db()
    assert (case.state, case.incoming_number) == ("in_execution", "RU-MIA-2026-I-000042")
    assert "RU-MIA-2026-I-000042" in _page(client, officer, case)
