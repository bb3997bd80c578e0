"""The receiving node: POST /federation/v1/messages and the receiver's checks, this process being node ru.

Envelopes are made here as node kz (or a forger) would make them; nothing from a rejected one is applied,
and every rejection is kept with its reason and the receipt that says so."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import pytest

from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.exchange.federation import envelope, inbox, keys
from cybercoop.exchange.models import InboundEnvelope, InboundState, Message
from tests.exchange.federation import chain_hash, next_message, seal, wire_message
from tests.exchange.fedtest.handlers import APPLIED
from tests.registry.factories import InstrumentFactory, in_force

URL = "/federation/v1/messages"


@pytest.fixture
def ru(federation, client):
    """This process is node ru; `post(*envelopes)` delivers a batch and returns the results."""
    federation.become("ru")

    def post(*envelopes):
        r = client.post(URL, data=json.dumps({"envelopes": list(envelopes)}), content_type="application/json")
        assert r.status_code == 200, r.content
        return r.json()["results"]

    federation.post = post
    return federation


def _from_kz(federation, message):
    return seal(message, sender=federation.keys["kz"], recipient=federation.public("ru"))


def _receipt(federation, result, token):
    """The receipt's claims, once it verifies as ru's answer to exactly this envelope."""
    return envelope.verify_receipt(
        result["receipt"],
        expected_message_id=result["id"],
        expected_envelope_sha256=hashlib.sha256(token.encode()).hexdigest(),
        signer=federation.public("ru"),
    )


def _rejections():
    return list(AuditEntry.objects.filter(action=AuditAction.ENVELOPE_REJECTED).order_by("seq"))


def _assert_rejected(federation, token, reason, *, message_id=None):
    [result] = federation.post(token)
    assert (result["status"], result["reason"], result["id"]) == ("rejected", reason, message_id)
    claims = _receipt(federation, result, token)
    assert (claims["status"], claims["reason"]) == ("rejected", reason)
    row = InboundEnvelope.objects.get(envelope_sha256=hashlib.sha256(token.encode()).hexdigest())
    assert (row.state, row.reason, row.receipt) == (InboundState.REJECTED, reason, result["receipt"])
    assert not Message.objects.exists()
    [entry] = _rejections()
    assert entry.data["reason"] == reason
    return row


def test_an_envelope_is_accepted_stored_as_sent_applied_and_receipted(ru, clock):
    message = wire_message(body={"text": "Запрос о помощи"})
    token = _from_kz(ru, message)
    [result] = ru.post(token)

    assert (result["id"], result["status"]) == (message["id"], "accepted")
    claims = _receipt(ru, result, token)
    assert (claims["status"], claims["node"], claims["message_id"]) == ("accepted", "ru", message["id"])
    stored = Message.objects.get()
    assert str(stored.id) == message["id"]
    assert (stored.seq, stored.position, stored.transport, stored.sender_user) == (1, 1, "federation", None)
    assert stored.sender_body.code == "KZ-MIA"
    assert stored.recipient_body.code == "RU-MIA"
    assert stored.body == {"text": "Запрос о помощи"}
    assert stored.hash == chain_hash(message)
    assert APPLIED[-1] == stored.id
    row = InboundEnvelope.objects.get()
    assert (row.state, row.sender_node, row.seq, row.receipt) == (InboundState.APPLIED, "kz", 1, result["receipt"])
    assert row.applied_at == clock.now()
    received = AuditEntry.objects.get(action=AuditAction.MESSAGE_RECEIVED)
    assert (received.body.code, received.object_id) == ("RU-MIA", message["id"])


def test_a_batch_is_answered_in_order_one_entry_per_envelope(ru, clock):
    first = wire_message()
    tokens = [_from_kz(ru, first), "not an envelope", _from_kz(ru, next_message(first))]
    results = ru.post(*tokens)
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert [r["id"] for r in results] == [first["id"], None, results[2]["id"]]
    assert list(Message.objects.order_by("position").values_list("seq", flat=True)) == [1, 2]


def test_the_same_envelope_twice_is_a_duplicate_with_the_original_receipt(ru, clock):
    token = _from_kz(ru, wire_message())
    [first] = ru.post(token)
    clock.advance(dt.timedelta(days=3))  # replayed much later
    [again] = ru.post(token)
    assert (again["status"], again["receipt"]) == ("duplicate", first["receipt"])
    assert Message.objects.count() == 1
    assert InboundEnvelope.objects.count() == 1


def test_a_message_sealed_again_is_a_duplicate_with_a_receipt_for_the_new_envelope(ru, clock):
    message = wire_message()
    ru.post(_from_kz(ru, message))
    resealed = _from_kz(ru, message)  # another envelope (a fresh key agreement) around the same message
    [again] = ru.post(resealed)
    assert again["status"] == "duplicate"
    assert _receipt(ru, again, resealed)["status"] == "duplicate"
    assert Message.objects.count() == 1


def test_an_envelope_signed_by_another_key_is_rejected(ru, clock):
    forger = keys.generate("kz")  # claims to be kz, holds another key
    token = seal(wire_message(), sender=forger, recipient=ru.public("ru"))
    row = _assert_rejected(ru, token, envelope.BAD_SIGNATURE)
    assert row.message_id is None
    assert row.content is None


def test_a_tampered_envelope_is_rejected(ru, clock):
    token = _from_kz(ru, wire_message())
    header, key, iv, ciphertext, tag = token.split(".")
    flipped = ("A" if ciphertext[10] != "A" else "B").join((ciphertext[:10], ciphertext[11:]))
    _assert_rejected(ru, ".".join((header, key, iv, flipped, tag)), envelope.NOT_FOR_THIS_NODE)


def test_an_envelope_encrypted_for_another_node_is_rejected(ru, clock):
    token = seal(wire_message(recipient=("am", "AM-MIA")), sender=ru.keys["kz"], recipient=ru.public("am"))
    _assert_rejected(ru, token, envelope.NOT_FOR_THIS_NODE)


@pytest.mark.parametrize("body", ["AM-MIA", "KZ-GP", "XX-NONE"])
def test_a_message_to_a_body_not_served_here_is_rejected(ru, clock, body):
    message = wire_message(recipient=("ru", body))
    _assert_rejected(ru, _from_kz(ru, message), inbox.NOT_SERVED_HERE, message_id=message["id"])


@pytest.mark.parametrize("body", ["AM-MIA", "RU-MIA", "XX-NONE"])
def test_a_message_from_a_body_the_sending_node_does_not_serve_is_rejected(ru, clock, body):
    message = wire_message(sender=("kz", body))
    _assert_rejected(ru, _from_kz(ru, message), inbox.NOT_SENDERS_BODY, message_id=message["id"])


def test_a_message_made_more_than_five_minutes_ahead_is_rejected(ru, clock):
    message = wire_message(created_at=clock.now() + dt.timedelta(minutes=5, seconds=1))
    _assert_rejected(ru, _from_kz(ru, message), inbox.FROM_THE_FUTURE, message_id=message["id"])


def test_a_message_made_less_than_five_minutes_ahead_is_accepted(ru, clock):
    [result] = ru.post(_from_kz(ru, wire_message(created_at=clock.now() + dt.timedelta(minutes=5))))
    assert result["status"] == "accepted"


@pytest.mark.rule("P4.2")
def test_a_message_from_a_body_not_designated_is_rejected(ru, clock):
    message = wire_message(sender=("kz", "KZ-GP"))
    _assert_rejected(ru, _from_kz(ru, message), inbox.NOT_DESIGNATED, message_id=message["id"])


@pytest.mark.rule("P16.2")
def test_a_message_under_an_instrument_not_in_force_between_the_parties_is_rejected(ru, clock):
    bilateral = InstrumentFactory(bilateral=True)
    in_force(bilateral, ru.bodies["KZ-MIA"].party)  # Russia never notified
    message = wire_message(instrument=bilateral.code)
    _assert_rejected(ru, _from_kz(ru, message), inbox.NOT_IN_FORCE, message_id=message["id"])


@pytest.mark.rule("P16.2")
def test_the_instrument_is_checked_on_the_day_the_message_was_made(ru, clock):
    bilateral = InstrumentFactory(bilateral=True)
    in_force(bilateral, ru.bodies["KZ-MIA"].party, ru.bodies["RU-MIA"].party, on=dt.date(2026, 11, 23))
    before = wire_message(instrument=bilateral.code, created_at=dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC))
    _assert_rejected(ru, _from_kz(ru, before), inbox.NOT_IN_FORCE, message_id=before["id"])
    [result] = ru.post(_from_kz(ru, wire_message(instrument=bilateral.code)))
    assert result["status"] == "accepted"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"instrument": "no-such-instrument"}, inbox.UNKNOWN_INSTRUMENT),
        ({"kind": "nobody.applies_this"}, inbox.UNKNOWN_KIND),
        ({"marking": "restricted"}, envelope.malformed("marking")),
    ],
)
def test_a_message_this_node_cannot_apply_is_rejected(ru, clock, changes, reason):
    message = wire_message(**changes)
    _assert_rejected(ru, _from_kz(ru, message), reason, message_id=message["id"])


@pytest.mark.rule("P10.3")
@pytest.mark.parametrize("marking", ["state_secret", "top_secret", "SECRET"])
def test_a_message_marked_as_a_state_secret_is_rejected_and_nothing_of_it_is_kept(ru, clock, marking):
    message = wire_message(marking=marking)
    _assert_rejected(ru, _from_kz(ru, message), inbox.STATE_SECRET, message_id=message["id"])


def test_a_message_whose_handler_fails_is_rejected_and_nothing_of_it_is_kept(ru, clock):
    message = wire_message(body={"fail": True})
    row = _assert_rejected(ru, _from_kz(ru, message), inbox.NOT_APPLIED, message_id=message["id"])
    assert not AuditEntry.objects.filter(action=AuditAction.MESSAGE_RECEIVED).exists()
    assert row.content == message  # kept as evidence, not applied
    assert _rejections()[0].data["detail"] == "HandlerFailed"


def test_a_rejected_message_sent_again_gets_the_same_rejection(ru, clock):
    token = _from_kz(ru, wire_message(sender=("kz", "KZ-GP")))
    [first] = ru.post(token)
    [again] = ru.post(token)
    assert again == first
    assert InboundEnvelope.objects.count() == 1


def test_a_gap_in_seq_waits_and_is_applied_in_order_when_it_fills(ru, clock):
    first = wire_message()
    second = next_message(first)
    third = next_message(second)
    second_token = _from_kz(ru, second)
    third_token = _from_kz(ru, third)

    assert [(r["status"], r.get("receipt")) for r in ru.post(third_token, second_token)] == [
        ("waiting", None),
        ("waiting", None),
    ]
    assert not Message.objects.exists()
    assert set(InboundEnvelope.objects.values_list("state", flat=True)) == {InboundState.WAITING}

    [result] = ru.post(_from_kz(ru, first))
    assert result["status"] == "accepted"
    stored = list(Message.objects.order_by("position").values_list("seq", "position"))
    assert stored == [(1, 1), (2, 2), (3, 3)]
    assert APPLIED[-3:] == [uuid.UUID(m["id"]) for m in (first, second, third)]
    # The sender asks again for what was held: now it has its receipt.
    [again] = ru.post(third_token)
    assert again["status"] == "duplicate"
    assert _receipt(ru, again, third_token)["status"] == "accepted"


def test_a_message_that_does_not_chain_to_the_stored_one_is_rejected(ru, clock):
    first = wire_message()
    ru.post(_from_kz(ru, first))
    forked = next_message(first)
    forked["prev"] = "ab" * 32
    [result] = ru.post(_from_kz(ru, forked))
    assert (result["status"], result["reason"]) == ("rejected", inbox.BROKEN_CHAIN)
    assert Message.objects.count() == 1


def test_a_second_first_message_of_the_same_sender_is_a_broken_chain(ru, clock):
    first = wire_message()
    ru.post(_from_kz(ru, first))
    other = wire_message(conversation=first["conversation"])  # seq 1 again, another id
    [result] = ru.post(_from_kz(ru, other))
    assert (result["status"], result["reason"]) == ("rejected", inbox.BROKEN_CHAIN)


def test_a_message_with_attachments_waits_for_them(ru, clock):
    attachment = {"id": str(uuid.uuid4()), "name": "a.txt", "media_type": "text/plain", "size": 3, "sha256": "0" * 64}
    [result] = ru.post(_from_kz(ru, wire_message(attachments=[attachment])))
    assert (result["status"], result["reason"]) == ("waiting", inbox.WAITING_FOR_ATTACHMENTS)
    assert not Message.objects.exists()


# --- the endpoint's own answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"not json", 400),
        (b'{"envelopes": "x"}', 400),
        (b'{"envelopes": []}', 400),
        (b'{"envelopes": [1]}', 400),
        (b'["x"]', 400),
    ],
)
def test_a_batch_that_cannot_be_read_is_a_json_error(ru, client, data, status):
    r = client.post(URL, data=data, content_type="application/json")
    assert r.status_code == status
    assert "error" in r.json()
    assert not InboundEnvelope.objects.exists()


def test_a_batch_over_the_size_limit_is_refused_unread(ru, client, settings):
    r = client.post(URL, data=b"{}", content_type="application/json", CONTENT_LENGTH=str(64 * 1024 * 1024))
    assert r.status_code == 413


def test_a_batch_larger_than_a_form_may_be_is_read_whole(ru, clock):
    first = wire_message(body={"text": "x" * 900_000})  # near the 1 MiB a message may hold
    tokens = [_from_kz(ru, first), _from_kz(ru, next_message(first, body={"text": "y" * 900_000}))]
    assert sum(len(t) for t in tokens) > 2.5 * 1024 * 1024  # Django's cap for request bodies
    assert [r["status"] for r in ru.post(*tokens)] == ["accepted", "accepted"]


def test_the_endpoint_answers_only_post(ru, client):
    assert client.get(URL).status_code == 405


def test_a_node_without_keys_says_it_cannot_receive(ru, client, tmp_path):
    ru.settings.NODE_KEYS_FILE = tmp_path / "missing.json"
    r = client.post(URL, data=json.dumps({"envelopes": ["x"]}), content_type="application/json")
    assert r.status_code == 503


def test_a_request_from_another_node_opens_its_case_here(ru, clock):
    from cybercoop.assistance.models import Case
    from tests.assistance.factories import REQUEST_FIELDS

    body = {name: value for name, value in REQUEST_FIELDS.items() if name != "marking"}
    message = wire_message(kind="assistance.request", body=body)
    [result] = ru.post(_from_kz(ru, message))
    assert result["status"] == "accepted"
    case = Case.objects.select_related("requesting_body", "handling_body").get(pk=message["conversation"])
    assert (case.requesting_body.code, case.handling_body.code, case.state) == ("KZ-MIA", "RU-MIA", "sent")
    assert case.subject == body["subject"]
    assert case.drafted_by is None
