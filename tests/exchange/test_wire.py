"""A message as it travels: the wire form of a stored message, back again, and the hash both nodes keep."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from cybercoop.core.errors import RuleViolation
from cybercoop.exchange import services
from cybercoop.exchange.federation import envelope, node, wire
from cybercoop.exchange.models import Message, OutboxItem, OutboxState
from cybercoop.registry.selectors import PROTOCOL_CODE
from tests.accounts.factories import UserFactory


def _send(federation, *, to="RU-MIA", body=None, attachments=(), conversation=None, kind="fedtest.note"):
    officer = UserFactory(username=f"kz.{uuid.uuid4().hex[:6]}", body=federation.bodies["KZ-MIA"], role="officer")
    return services.send(
        conversation=conversation or uuid.uuid4(),
        kind=kind,
        sender_body=federation.bodies["KZ-MIA"],
        recipient_body=federation.bodies[to],
        sender_user=officer,
        instrument=PROTOCOL_CODE,
        marking="official",
        purposes=["investigation"],
        conditions=["no onward transfer"],
        body=body or {"text": "Запрос", "n": 3, "urgent": False},
        attachments=attachments,
    )


def test_a_stored_message_and_its_wire_form_make_the_same_hash_on_both_nodes(federation, clock):
    federation.become("kz")
    upload = SimpleUploadedFile("logs.txt", b"203.0.113.17 - - [01/Oct/2026]\n", content_type="text/plain")
    attachment = services.store_attachment(upload=upload, actor=None)
    first = _send(federation)
    second = _send(federation, conversation=first.conversation, attachments=[attachment])

    data = wire.to_wire(second)
    assert data == {
        "v": 1,
        "id": str(second.id),
        "conversation": str(first.conversation),
        "kind": "fedtest.note",
        "from": {"node": "kz", "body": "KZ-MIA"},
        "to": {"node": "ru", "body": "RU-MIA"},
        "seq": 2,
        "prev": first.hash,
        "created_at": "2026-11-23T09:00:00.000000+00:00",
        "instrument": PROTOCOL_CODE,
        "marking": "official",
        "purposes": ["investigation"],
        "conditions": ["no onward transfer"],
        "body": {"text": "Запрос", "n": 3, "urgent": False},
        "attachments": [attachment.manifest()],
    }
    envelope.check_message(data)  # the form every receiver checks
    again = wire.from_wire(data, sender_body=second.sender_body, recipient_body=second.recipient_body)
    assert again.hash == second.hash
    assert (again.id, again.seq, again.prev_hash, again.created_at) == (second.id, 2, first.hash, second.created_at)


def test_the_receiver_rebuilds_the_hash_from_what_it_opened(federation, clock):
    federation.become("kz")
    message = _send(federation)
    item = OutboxItem.objects.get(message=message)
    with federation.as_node("ru"):
        opened = envelope.open_envelope(item.envelope, recipient=node.load_keys(), sender_keys=node.peer_keys)
    assert opened.message == wire.to_wire(message)
    rebuilt = wire.from_wire(opened.message, sender_body=message.sender_body, recipient_body=message.recipient_body)
    assert rebuilt.hash == message.hash


def test_a_hash_changes_with_any_field_of_the_wire_form(federation, clock):
    federation.become("kz")
    message = _send(federation)
    data = wire.to_wire(message)
    bodies = {"sender_body": message.sender_body, "recipient_body": message.recipient_body}
    for field, value in (("body", {"text": "Запрос", "n": 4, "urgent": False}), ("seq", 2), ("marking", "public")):
        assert wire.from_wire({**data, field: value}, **bodies).hash != message.hash


# --- the transport ------------------------------------------------------------------------------------------


def test_a_message_to_a_body_served_here_goes_by_the_local_transport(federation, clock):
    federation.become("kz")
    message = _send(federation, to="KZ-GP")
    assert message.transport == "local"
    assert not OutboxItem.objects.exists()


def test_a_message_to_another_node_is_sealed_into_the_outbox_with_it(federation, clock):
    federation.become("kz")
    message = _send(federation)
    item = OutboxItem.objects.get()
    assert message.transport == "federation"
    assert (item.message, item.peer, item.state, item.attempts) == (message, "ru", OutboxState.QUEUED, 0)
    assert item.next_attempt_at == item.created_at == message.created_at
    assert item.envelope_sha256 == hashlib.sha256(item.envelope.encode()).hexdigest()


def test_a_rolled_back_transaction_leaves_neither_the_message_nor_its_outbox_row(federation, clock):
    federation.become("kz")

    def change_that_fails_after_sending():
        with transaction.atomic():
            _send(federation)
            raise RuntimeError("the state change that caused the message fails after it was sent")

    with pytest.raises(RuntimeError):
        change_that_fails_after_sending()
    assert not Message.objects.exists()
    assert not OutboxItem.objects.exists()


def test_nothing_is_sent_to_a_withdrawn_node(federation, clock):
    federation.become("kz")
    federation.bodies["RU-MIA"].node.withdrawn_at = clock.now()
    federation.bodies["RU-MIA"].node.save()
    with pytest.raises(RuleViolation):
        _send(federation)
    assert not Message.objects.exists()


def test_a_node_without_keys_cannot_send_to_another_node(federation, clock, tmp_path):
    federation.become("kz")
    federation.settings.NODE_KEYS_FILE = tmp_path / "missing.json"
    with pytest.raises(RuleViolation):
        _send(federation)
    assert not Message.objects.exists()
