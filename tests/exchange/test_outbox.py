"""The sending node delivers its outbox to a real peer node: a separate gunicorn process with its own database,
keys and registry (tests/exchange/peer.py). This process is node kz (fixture `kz`); the peer is node ru."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest

from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.exchange import services
from cybercoop.exchange.federation import client, envelope, inbox, keys, outbox
from cybercoop.exchange.federation.keys import PublicKeys
from cybercoop.exchange.models import OutboxItem, OutboxState
from cybercoop.registry.selectors import PROTOCOL_CODE
from tests.exchange.federation import seal, wire_message


def _send(bodies, *, conversation=None, kind="fedtest.note", text="Запрос"):
    return services.send(
        conversation=conversation or uuid.uuid4(),
        kind=kind,
        sender_body=bodies["KZ-MIA"],
        recipient_body=bodies["RU-MIA"],
        sender_user=None,
        instrument=PROTOCOL_CODE,
        marking="official",
        purposes=["investigation"],
        conditions=[],
        body={"text": text},
    )


def _item(message):
    return OutboxItem.objects.get(message=message)


def _claims(item, ru_peer):
    return envelope.verify_receipt(
        item.receipt,
        expected_message_id=str(item.message_id),
        expected_envelope_sha256=item.envelope_sha256,
        signer=PublicKeys.from_jwks(ru_peer.jwks),
    )


@pytest.mark.rule("P4.1")
def test_a_body_this_node_does_not_serve_cannot_send_from_here(kz):
    from cybercoop.core.errors import RuleViolation

    kz["KZ-MIA"].node = kz["RU-MIA"].node  # the directory now says node ru speaks for it
    kz["KZ-MIA"].save(update_fields=["node"])
    with pytest.raises(RuleViolation) as refused:
        _send(kz)
    assert refused.value.rule_id == "P4.1"
    assert not OutboxItem.objects.exists()


def test_a_queued_message_is_delivered_and_receipted_by_the_peer(kz, ru_peer):
    message = _send(kz)
    assert outbox.deliver_due() == 1

    item = _item(message)
    assert (item.state, item.attempts, item.last_error) == (OutboxState.RECEIPTED, 1, "")
    claims = _claims(item, ru_peer)
    assert (claims["status"], claims["node"], claims["message_id"]) == ("accepted", "ru", str(message.id))
    assert item.receipted_at is not None
    # The peer stored the message under the same id and computed the same hash for it.
    stored = ru_peer.shell(
        "from cybercoop.exchange.models import Message; "
        f"m = Message.objects.get(id='{message.id}'); print(m.hash, m.transport, m.sender_body.code)"
    )
    assert stored.split() == [message.hash, "federation", "KZ-MIA"]
    assert outbox.deliver_due() == 0  # nothing left to do


def test_a_conversation_goes_in_one_batch_and_a_refusal_is_kept_with_its_reason(kz, ru_peer):
    first = _send(kz)
    second = _send(kz, conversation=first.conversation)
    unknown = _send(kz, kind="fedlocal.note")  # a kind the peer does not apply
    assert outbox.deliver_due() == 3

    assert [_item(m).state for m in (first, second)] == [OutboxState.RECEIPTED] * 2
    refused = _item(unknown)
    assert (refused.state, refused.reason) == (OutboxState.REJECTED, inbox.UNKNOWN_KIND)
    assert _claims(refused, ru_peer)["status"] == "rejected"
    entry = AuditEntry.objects.get(action=AuditAction.DELIVERY_REJECTED)
    assert (entry.object_id, entry.data["reason"], entry.data["peer"]) == (str(unknown.id), inbox.UNKNOWN_KIND, "ru")
    assert outbox.deliver_due(now=clock.now() + dt.timedelta(days=1)) == 0  # a rejection is final


def test_a_down_peer_is_retried_with_backoff_and_a_held_message_receipted_once_its_gap_fills(kz, ru_peer):
    ru_peer.stop()
    try:
        first = _send(kz)
        started = clock.now()
        assert outbox.deliver_due(now=started) == 1
        item = _item(first)
        assert (item.state, item.attempts) == (OutboxState.FAILED, 1)
        assert "unreachable" in item.last_error
        assert started + dt.timedelta(seconds=15) <= item.next_attempt_at <= started + dt.timedelta(seconds=30)
        assert outbox.deliver_due(now=started) == 0  # not due before its next attempt
    finally:
        ru_peer.start()

    # The peer is back; the next message of the conversation goes first and is held there.
    second = _send(kz, conversation=first.conversation)
    assert _item(second).next_attempt_at < _item(first).next_attempt_at  # the first is not due yet
    assert outbox.deliver_due(now=_item(second).next_attempt_at) == 1
    held = _item(second)
    assert (held.state, held.receipt) == (OutboxState.SENT, "")
    assert held.last_error == f"held by the receiving node: {inbox.waiting_for(1)}"

    later = started + dt.timedelta(minutes=5)
    assert outbox.deliver_due(now=later) == 2
    for message in (first, second):
        item = _item(message)
        assert item.state == OutboxState.RECEIPTED
        assert _claims(item, ru_peer)["status"] == "accepted"
    assert _item(first).attempts == 2


def test_an_answer_lost_on_the_way_back_is_asked_again_and_the_message_applied_once(kz, ru_peer):
    message = _send(kz)

    def answer_lost(url, payload, timeout):
        client.post_json(url, payload, timeout)  # the peer takes the batch; its answer never arrives
        raise TimeoutError("the answer was lost")

    now = clock.now()
    outbox.deliver_due(now=now, post=answer_lost)
    assert _item(message).state == OutboxState.FAILED
    outbox.deliver_due(now=now + dt.timedelta(minutes=5))
    item = _item(message)
    assert item.state == OutboxState.RECEIPTED
    assert _claims(item, ru_peer)["status"] == "accepted"  # the original receipt, for a duplicate
    count = ru_peer.shell(
        f"from cybercoop.exchange.models import Message; print(Message.objects.filter(id='{message.id}').count())"
    )
    assert count.strip() == "1"


def test_a_receipt_that_does_not_verify_is_not_taken(kz, ru_peer):
    message = _send(kz)
    impostor = keys.generate("ru").public()
    kz["RU-MIA"].node.signing_jwk = dict(impostor.signing.as_dict(private=False))
    kz["RU-MIA"].node.save()  # the directory here lists another signing key for ru than the peer's
    outbox.deliver_due()
    item = _item(message)
    assert item.state == OutboxState.FAILED
    assert item.last_error.startswith("the receipt does not verify (bad signature)")
    assert item.receipt == ""


def test_the_backoff_doubles_up_to_an_hour():
    for attempts, (low, high) in {1: (15, 30), 2: (30, 60), 5: (240, 480), 8: (1800, 3600), 50: (1800, 3600)}.items():
        assert low <= outbox.retry_delay(attempts).total_seconds() <= high


def test_envelopes_are_batched_by_count_and_size():
    items = [OutboxItem(envelope="x" * 10) for _ in range(outbox.MAX_BATCH_ENVELOPES + 1)]
    assert [len(b) for b in outbox._batches(items)] == [outbox.MAX_BATCH_ENVELOPES, 1]
    big = [OutboxItem(envelope="x" * (outbox.MAX_BATCH_BYTES // 2)) for _ in range(3)]
    assert [len(b) for b in outbox._batches(big)] == [1, 1, 1]


def test_one_envelope_posted_by_two_workers_at_once_is_applied_once(kz, ru_peer, node_keys):
    message = wire_message()
    token = seal(message, sender=node_keys["kz"][0], recipient=PublicKeys.from_jwks(ru_peer.jwks))
    url = client.endpoint(ru_peer.url, "/messages")
    barrier = threading.Barrier(4)
    answers = []

    def post():
        barrier.wait()
        answers.append(client.request_json(url, {"envelopes": [token]})["results"][0])

    workers = [threading.Thread(target=post) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    statuses = sorted(answer["status"] for answer in answers)
    assert statuses.count("accepted") == 1
    assert set(statuses) <= {"accepted", "duplicate", "retry"}  # SQLite may ask one to come back later
    receipts = {answer["receipt"] for answer in answers if answer["status"] != "retry"}
    assert len(receipts) == 1  # every answer carries the one receipt
    count = ru_peer.shell(
        f"from cybercoop.exchange.models import Message; print(Message.objects.filter(id='{message['id']}').count())"
    )
    assert count.strip() == "1"


def test_the_worker_runs_the_delivery_on_every_pass_and_drains_a_backlog_in_one(kz, ru_peer, monkeypatch):
    from cybercoop.core import periodic

    assert periodic.registered()["exchange.deliver_outbox"] is outbox.deliver_job
    monkeypatch.setattr(outbox, "JOB_LIMIT", 2)  # passes of two rows: five queued take three passes
    before = clock.now()
    messages = [_send(kz) for _ in range(5)]
    assert outbox.deliver_job() == 5
    for message in messages:
        item = _item(message)
        assert (item.state, item.attempts) == (OutboxState.RECEIPTED, 1)
        assert item.receipted_at >= item.updated_at >= before  # when the receipt came, not before the pass
    assert outbox.deliver_job() == 0
