"""The federation's envelopes, receipts, signed documents and node keys: pure cryptography, no database.

Hostile envelopes are built by hand with joserfc, so each test reaches the one check it is about."""

import base64
import datetime as dt
import hashlib
import json
import uuid

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OKPKey

from cybercoop.exchange.federation import envelope, keys
from cybercoop.exchange.federation.envelope import Rejected

KZ = keys.generate("kz-node")  # the sending node
RU = keys.generate("ru-node")  # the receiving node
AM = keys.generate("am-node")  # a third node
DIRECTORY = {node.node_id: node.public() for node in (KZ, RU, AM)}


def _message(**changes):
    """A valid version 1 message from KZ to RU; `changes` replace fields (a value of ... removes one)."""
    message = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "conversation": str(uuid.uuid4()),
        "kind": "assistance.request",
        "from": {"node": "kz-node", "body": "kz-mvd"},
        "to": {"node": "ru-node", "body": "ru-mvd"},
        "seq": 2,
        "prev": "ab" * 32,
        "created_at": "2026-11-23T09:00:00.000000+00:00",
        "instrument": "csto-2014",
        "marking": "official",
        "purposes": ["investigation"],
        "conditions": [],
        "body": {"summary": "Phishing campaign against banks", "urgent": False},
        "attachments": [
            {
                "id": str(uuid.uuid4()),
                "name": "logs.txt",
                "media_type": "text/plain",
                "size": 1234,
                "sha256": "cd" * 32,
            }
        ],
    }
    for field, value in changes.items():
        if value is ...:
            del message[field]
        else:
            message[field] = value
    return message


def _open(token, recipient=RU, directory=DIRECTORY):
    return envelope.open_envelope(token, recipient=recipient, sender_keys=directory.get)


def _rejected(token, recipient=RU, directory=DIRECTORY):
    with pytest.raises(Rejected) as caught:
        _open(token, recipient, directory)
    return caught.value.reason


def _sign_by_hand(payload, key=KZ.signing, kid=None, typ=envelope.MESSAGE_TYP, extra=None):
    """A JWS over `payload` exactly as given (bytes), with any header the test wants."""
    header = {"alg": "Ed25519", "kid": kid or key.kid, "typ": typ, **(extra or {})}
    return jws.serialize_compact(header, payload, key, algorithms=["Ed25519"])


def _wrap_by_hand(signed, *, to=RU, sender_node="kz-node", sender_kid=None, **header):
    """An envelope around any content, encrypted to `to` with the header the test wants."""
    protected = {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "typ": envelope.ENVELOPE_TYP,
        "kid": to.encryption.kid,
        "sender_node": sender_node,
        "sender_kid": sender_kid or KZ.signing.kid,
        **header,
    }
    registry = jwe.JWERegistry(
        header_registry=envelope._ENVELOPE_HEADERS, algorithms=["ECDH-ES+A256KW", "A256GCM", "DEF"]
    )
    registry.max_ciphertext_length = 10 * 1024 * 1024
    return jwe.encrypt_compact(
        {key: value for key, value in protected.items() if value is not None},
        signed,
        to.public().encryption,
        registry=registry,
    )


# --- the round trip ---------------------------------------------------------------------------------


def test_a_sealed_message_opens_for_its_recipient_unchanged():
    message = _message()
    token = envelope.seal(message, sender=KZ, recipient=RU.public())

    opened = _open(token)

    assert opened.message == message
    assert opened.envelope_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert jws.deserialize_compact(opened.jws, KZ.public().signing, algorithms=["Ed25519"]).payload == (
        rfc8785.dumps(message)
    )


def test_the_first_message_of_a_conversation_has_no_previous_one():
    message = _message(seq=1, prev=None, attachments=[], body={})
    assert _open(envelope.seal(message, sender=KZ, recipient=RU.public())).message == message


def test_the_envelope_header_names_both_keys_and_nothing_confidential():
    token = envelope.seal(_message(), sender=KZ, recipient=RU.public())
    header = jwe.decrypt_compact(token, RU.encryption, registry=envelope._ENVELOPE_JWE).headers()

    assert header["alg"] == "ECDH-ES+A256KW"
    assert header["enc"] == "A256GCM"
    assert header["kid"] == RU.encryption.kid
    assert header["sender_node"] == "kz-node"
    assert header["sender_kid"] == KZ.signing.kid
    assert set(header) == {"alg", "enc", "typ", "kid", "sender_node", "sender_kid", "epk"}


def test_sealing_twice_gives_two_envelopes():
    message = _message()
    assert envelope.seal(message, sender=KZ, recipient=RU.public()) != envelope.seal(
        message, sender=KZ, recipient=RU.public()
    )


def test_canonical_is_rfc_8785():
    assert envelope.canonical({"b": [1, 2.5, None], "a": "é"}) == '{"a":"é","b":[1,2.5,null]}'.encode()


# --- 1. decrypts for this node ------------------------------------------------------------------------


def test_changing_any_single_character_of_the_envelope_is_rejected():
    token = envelope.seal(_message(body={}, attachments=[]), sender=KZ, recipient=RU.public())
    for position, character in enumerate(token):
        replacement = "A" if character != "A" else "B"
        with pytest.raises(Rejected):
            _open(token[:position] + replacement + token[position + 1 :])


def test_an_envelope_sealed_for_another_node_is_not_for_this_node():
    token = envelope.seal(_message(to={"node": "am-node", "body": "am-police"}), sender=KZ, recipient=AM.public())
    assert _rejected(token) == envelope.NOT_FOR_THIS_NODE


def test_a_message_addressed_to_another_node_is_not_for_this_node_even_if_encrypted_to_it():
    message = _message(to={"node": "am-node", "body": "am-police"})
    assert _rejected(_wrap_by_hand(_sign_by_hand(rfc8785.dumps(message)))) == envelope.NOT_FOR_THIS_NODE


def test_an_envelope_naming_another_encryption_key_is_not_for_this_node():
    token = _wrap_by_hand(_sign_by_hand(rfc8785.dumps(_message())), kid=AM.encryption.kid)
    assert _rejected(token) == envelope.NOT_FOR_THIS_NODE


def test_a_compressed_envelope_is_refused():
    # "zip": "DEF" would let a small envelope inflate into a huge one.
    token = _wrap_by_hand(_sign_by_hand(rfc8785.dumps(_message())), zip="DEF")
    assert _rejected(token) == envelope.NOT_FOR_THIS_NODE


def test_an_envelope_with_extra_header_members_is_refused():
    token = _wrap_by_hand(_sign_by_hand(rfc8785.dumps(_message())), cty="text/plain")
    assert _rejected(token) == "malformed: header"


# --- 2. verifies with the directory's key for the sending node ------------------------------------------


def test_a_message_signed_by_a_key_the_directory_does_not_list_is_a_bad_signature():
    impostor = keys.generate("kz-node")
    token = envelope.seal(_message(), sender=impostor, recipient=RU.public())
    assert _rejected(token) == envelope.BAD_SIGNATURE


def test_a_signature_by_another_key_under_the_senders_key_id_is_a_bad_signature():
    impostor = keys.generate("kz-node")
    signed = _sign_by_hand(rfc8785.dumps(_message()), key=impostor.signing, kid=KZ.signing.kid)
    assert _rejected(_wrap_by_hand(signed)) == envelope.BAD_SIGNATURE


def test_a_node_the_directory_does_not_list_is_a_bad_signature():
    token = envelope.seal(_message(), sender=KZ, recipient=RU.public())
    assert _rejected(token, directory={"ru-node": RU.public()}) == envelope.BAD_SIGNATURE


def test_from_node_disagreeing_with_the_signing_node_is_a_bad_signature():
    # AM signs, names itself in the envelope, but claims in the message to be KZ.
    signed = _sign_by_hand(rfc8785.dumps(_message()), key=AM.signing)
    token = _wrap_by_hand(signed, sender_node="am-node", sender_kid=AM.signing.kid)
    assert _rejected(token) == envelope.BAD_SIGNATURE


def test_seal_refuses_a_message_from_another_node():
    with pytest.raises(Rejected) as caught:
        envelope.seal(_message(), sender=AM, recipient=RU.public())
    assert caught.value.reason == envelope.BAD_SIGNATURE


def test_seal_refuses_a_message_to_a_node_other_than_the_recipient():
    with pytest.raises(Rejected) as caught:
        envelope.seal(_message(), sender=KZ, recipient=AM.public())
    assert caught.value.reason == envelope.NOT_FOR_THIS_NODE


def test_seal_refuses_a_message_with_no_json_form():
    with pytest.raises(Rejected) as caught:
        envelope.seal(_message(body={"amount": float("nan")}), sender=KZ, recipient=RU.public())
    assert caught.value.reason == envelope.NOT_CANONICAL


@pytest.mark.parametrize(
    "header",
    [
        {"typ": envelope.RECEIPT_TYP},  # a receipt passed off as a message
        {"typ": None},
        {"extra": {"b64": False, "crit": ["b64"]}},  # unencoded payload: not what we sign
        {"extra": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}},  # a key to trust instead of ours
    ],
)
def test_a_signature_with_another_header_is_a_bad_signature(header):
    typ = header.get("typ", envelope.MESSAGE_TYP)
    payload = rfc8785.dumps(_message())
    if typ is None:
        signed = jws.serialize_compact(
            {"alg": "Ed25519", "kid": KZ.signing.kid}, payload, KZ.signing, algorithms=["Ed25519"]
        )
    else:
        signed = _sign_by_hand(payload, typ=typ, extra=header.get("extra"))
    assert _rejected(_wrap_by_hand(signed)) == envelope.BAD_SIGNATURE


def test_content_that_is_not_a_jws_is_a_bad_signature():
    assert _rejected(_wrap_by_hand(rfc8785.dumps(_message()))) == envelope.BAD_SIGNATURE


def test_a_failing_directory_lookup_is_rejected_as_our_own_failure():
    def broken(node_id):
        raise ConnectionError("database is gone")

    token = envelope.seal(_message(), sender=KZ, recipient=RU.public())
    with pytest.raises(Rejected) as caught:
        envelope.open_envelope(token, recipient=RU, sender_keys=broken)
    assert caught.value.reason == envelope.SENDER_LOOKUP_FAILED


# --- the message's form ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps(_message(), indent=1).encode(),  # whitespace
        json.dumps(_message(), sort_keys=False).encode(),  # member order
        json.dumps(_message(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        .replace('"logs.txt"', '"\\u006cogs.txt"')
        .encode(),  # an escape where RFC 8785 writes the character
        rfc8785.dumps(_message()).replace(b'"v":1', b'"v":1,"v":1'),  # a duplicate member
        rfc8785.dumps(_message()).replace(b'"size":1234', b'"size":1234.0'),  # a number's form
        rfc8785.dumps(_message()).replace(b'"size":1234', b'"size":9007199254740993'),  # beyond I-JSON
    ],
    ids=["whitespace", "order", "escape", "duplicate", "number", "big-integer"],
)
def test_a_payload_not_in_rfc_8785_form_is_rejected(payload):
    assert _rejected(_wrap_by_hand(_sign_by_hand(payload))) == envelope.NOT_CANONICAL


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"\xff\xfe", b'{"v": NaN}', b"[" * 100_000, b"[1]", b'"text"'],
    ids=["empty", "text", "not-utf8", "nan", "deep", "array", "string"],
)
def test_a_payload_that_is_not_a_json_object_is_malformed(payload):
    assert _rejected(_wrap_by_hand(_sign_by_hand(payload))).startswith("malformed: ")


BAD_FIELDS = [
    ("v", 2),
    ("v", True),
    ("v", "1"),
    ("id", "not-a-uuid"),
    ("id", str(uuid.uuid4()).upper()),
    ("id", 5),
    ("conversation", None),
    ("kind", "request"),
    ("kind", "Assistance.Request"),
    ("kind", ["assistance.request"]),
    ("from", "kz-mvd"),
    ("from", {"node": "kz-node"}),
    ("from", {"node": "kz-node", "body": ""}),
    ("to", {"node": "ru-node", "body": "ru-mvd", "extra": 1}),
    ("seq", 0),
    ("seq", "2"),
    ("seq", True),
    ("prev", "AB" * 32),
    ("prev", "ab" * 31),
    ("prev", None),  # seq 2 must name its predecessor
    ("created_at", "2026-11-23T09:00:00+03:00"),
    ("created_at", "2026-11-23 09:00:00Z"),
    ("created_at", "2026-13-23T09:00:00Z"),
    ("created_at", 1700000000),
    ("instrument", None),
    ("marking", ""),
    ("marking", 3),
    ("purposes", "investigation"),
    ("purposes", [1]),
    ("conditions", None),
    ("body", []),
    ("body", "text"),
    ("attachments", {}),
    ("attachments", [{"id": "x", "name": "a", "media_type": "text/plain", "size": 1, "sha256": "cd" * 32}]),
    ("attachments", [{"id": str(uuid.UUID(int=1)), "name": "a", "media_type": "t", "size": -1, "sha256": "cd" * 32}]),
    ("attachments", [{"id": str(uuid.UUID(int=1)), "name": "a", "media_type": "t", "size": 1}]),
    ("attachments", ["logs.txt"]),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_a_field_of_the_wrong_form_is_malformed(field, value):
    payload = rfc8785.dumps(_message(**{field: value}))
    assert _rejected(_wrap_by_hand(_sign_by_hand(payload))) == f"malformed: {field}"
    with pytest.raises(Rejected) as caught:  # and the sender finds out before sending
        envelope.seal(_message(**{field: value}), sender=KZ, recipient=RU.public())
    assert caught.value.reason == f"malformed: {field}"


@pytest.mark.parametrize("field", [name for name in _message() if name not in ("from", "to")])
def test_a_missing_field_is_malformed(field):
    payload = rfc8785.dumps(_message(**{field: ...}))
    assert _rejected(_wrap_by_hand(_sign_by_hand(payload))) == f"malformed: {field}"


def test_a_field_version_1_does_not_define_is_malformed():
    payload = rfc8785.dumps(_message(priority="high"))
    assert _rejected(_wrap_by_hand(_sign_by_hand(payload))) == "malformed: message"


def test_created_at_may_end_in_z():
    message = _message(created_at="2026-11-23T09:00:00Z")
    assert _open(envelope.seal(message, sender=KZ, recipient=RU.public())).message == message


# --- sizes -------------------------------------------------------------------------------------------


def test_a_message_over_one_mebibyte_is_too_large():
    big = _message(body={"text": "x" * envelope.MAX_MESSAGE_BYTES})
    with pytest.raises(Rejected) as caught:
        envelope.seal(big, sender=KZ, recipient=RU.public())
    assert caught.value.reason == envelope.TOO_LARGE
    assert _rejected(_wrap_by_hand(_sign_by_hand(rfc8785.dumps(big)))) == envelope.TOO_LARGE


def test_a_message_just_under_the_limit_travels():
    message = _message(body={"text": ""})
    message["body"]["text"] = "x" * (envelope.MAX_MESSAGE_BYTES - len(rfc8785.dumps(message)))
    assert len(rfc8785.dumps(message)) == envelope.MAX_MESSAGE_BYTES
    token = envelope.seal(message, sender=KZ, recipient=RU.public())
    assert len(token) <= envelope.MAX_ENVELOPE_CHARS
    assert _open(token).message == message


def test_an_envelope_over_the_limit_is_too_large_before_anything_is_decoded():
    assert _rejected("A" * (envelope.MAX_ENVELOPE_CHARS + 1)) == envelope.TOO_LARGE


@pytest.mark.parametrize("value", [None, b"abc", 42, ["a.b.c.d.e"]])
def test_an_envelope_that_is_not_a_string_is_rejected(value):
    assert _rejected(value) == "malformed: envelope"


# --- whatever arrives, the answer is a message or Rejected ---------------------------------------------

SMALL_MESSAGE = _message(body={"note": "привет"}, attachments=[])
SMALL_ENVELOPE = envelope.seal(SMALL_MESSAGE, sender=KZ, recipient=RU.public())

mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, len(SMALL_ENVELOPE) - 1), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("insert"), st.integers(0, len(SMALL_ENVELOPE)), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.integers(0, len(SMALL_ENVELOPE) - 1), st.integers(1, 5)),
    st.tuples(st.just("truncate"), st.integers(0, len(SMALL_ENVELOPE)), st.just(None)),
    st.tuples(st.just("keep"), st.just(0), st.just(None)),
)


def _mutate(token, mutation):
    operation, position, argument = mutation
    data = token.encode()
    if operation == "replace":
        data = data[:position] + argument + data[position + len(argument) :]
    elif operation == "insert":
        data = data[:position] + argument + data[position:]
    elif operation == "delete":
        data = data[:position] + data[position + argument :]
    elif operation == "truncate":
        data = data[:position]
    # Bytes become characters one to one, so any byte the network could deliver reaches the parser.
    return data.decode("latin-1")


@settings(max_examples=200, deadline=None)
@given(st.lists(mutations, min_size=1, max_size=3))
def test_a_mutated_envelope_opens_unchanged_only_when_the_mutation_changed_nothing(mutation_list):
    token = SMALL_ENVELOPE
    for mutation in mutation_list:
        token = _mutate(token, mutation)
    try:
        opened = _open(token)
    except Rejected:
        assert token != SMALL_ENVELOPE
    else:
        assert token == SMALL_ENVELOPE
        assert opened.message == SMALL_MESSAGE


@settings(max_examples=200, deadline=None)
@given(st.text() | st.from_regex(r"[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){4}", fullmatch=True))
def test_random_text_is_rejected(text):
    with pytest.raises(Rejected):
        _open(text)


# --- receipts ----------------------------------------------------------------------------------------

RECEIVED_AT = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))


def _receipt(**changes):
    fields = {
        "message_id": SMALL_MESSAGE["id"],
        "envelope_sha256": hashlib.sha256(SMALL_ENVELOPE.encode()).hexdigest(),
        "status": "accepted",
        "received_at": RECEIVED_AT,
        "node": RU,
        **changes,
    }
    return envelope.receipt(**fields)


def _verify_receipt(token, **changes):
    expected = {
        "expected_message_id": SMALL_MESSAGE["id"],
        "expected_envelope_sha256": hashlib.sha256(SMALL_ENVELOPE.encode()).hexdigest(),
        "signer": RU.public(),
        **changes,
    }
    return envelope.verify_receipt(token, **expected)


def test_a_receipt_verifies_against_what_was_sent():
    assert _verify_receipt(_receipt()) == {
        "message_id": SMALL_MESSAGE["id"],
        "envelope_sha256": hashlib.sha256(SMALL_ENVELOPE.encode()).hexdigest(),
        "status": "accepted",
        "received_at": "2026-11-23T09:00:00.000000+00:00",
        "node": "ru-node",
    }


def test_a_rejection_receipt_carries_its_reason_even_without_a_message_id():
    token = _receipt(message_id=None, status="rejected", reason=envelope.NOT_FOR_THIS_NODE)
    claims = _verify_receipt(token)
    assert claims["status"] == "rejected"
    assert claims["reason"] == envelope.NOT_FOR_THIS_NODE


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"expected_message_id": str(uuid.uuid4())}, "mismatch: message_id"),
        ({"expected_envelope_sha256": "00" * 32}, "mismatch: envelope_sha256"),
        ({"signer": AM.public()}, envelope.BAD_SIGNATURE),
        (
            {"signer": keys.PublicKeys(node_id="other-node", signing=RU.signing, encryption=RU.encryption)},
            "mismatch: node",
        ),
    ],
    ids=["message", "envelope", "signer", "node"],
)
def test_a_receipt_for_something_else_is_rejected(changes, reason):
    with pytest.raises(Rejected) as caught:
        _verify_receipt(_receipt(), **changes)
    assert caught.value.reason == reason


def test_a_tampered_receipt_is_a_bad_signature():
    header, payload, signature = _receipt().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["received_at"] = "2026-11-22T09:00:00.000000+00:00"
    forged = base64.urlsafe_b64encode(rfc8785.dumps(claims)).rstrip(b"=").decode()
    with pytest.raises(Rejected) as caught:
        _verify_receipt(f"{header}.{forged}.{signature}")
    assert caught.value.reason == envelope.BAD_SIGNATURE


def test_a_message_signature_does_not_pass_for_a_receipt():
    claims = jws.extract_compact(_receipt().encode()).payload
    with pytest.raises(Rejected) as caught:
        _verify_receipt(_sign_by_hand(claims, key=RU.signing))  # typ: cybercoop-message+jws
    assert caught.value.reason == envelope.BAD_SIGNATURE


@pytest.mark.parametrize(
    "changes",
    [{"status": "lost"}, {"status": "rejected"}, {"reason": "why not"}, {"received_at": dt.datetime(2026, 1, 1)}],
)
def test_a_receipt_of_the_wrong_form_is_not_signed(changes):
    with pytest.raises(ValueError, match=r"status|reason|aware"):
        _receipt(**changes)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"extra": 1}, "malformed: receipt"),
        ({"status": "lost"}, "malformed: status"),
        ({"received_at": "yesterday"}, "malformed: received_at"),
        ({"envelope_sha256": "not a hash"}, "malformed: envelope_sha256"),
        ({"status": "rejected"}, "malformed: receipt"),  # a rejection without its reason
    ],
)
def test_a_signed_receipt_of_the_wrong_form_is_malformed(changes, reason):
    claims = {**json.loads(jws.extract_compact(_receipt().encode()).payload), **changes}
    token = _sign_by_hand(rfc8785.dumps(claims), key=RU.signing, typ=envelope.RECEIPT_TYP)
    with pytest.raises(Rejected) as caught:
        _verify_receipt(token)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("token", "reason"), [(None, "malformed: jws"), ("A" * 20_000, envelope.TOO_LARGE)])
def test_a_receipt_that_is_not_a_short_string_is_rejected(token, reason):
    with pytest.raises(Rejected) as caught:
        _verify_receipt(token)
    assert caught.value.reason == reason


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda data: data.decode("latin-1")))
def test_verify_receipt_answers_any_text_with_rejected(text):
    with pytest.raises(Rejected):
        _verify_receipt(text)


# --- signed documents (the directory) ----------------------------------------------------------------

DIRECTORY_KEY = keys.generate_signing_key()
DIRECTORY_DOCUMENT = {"version": 3, "issued_at": "2026-11-23T09:00:00Z", "nodes": [keys.public_jwks(KZ)]}


def test_a_signed_document_verifies_with_the_pinned_key():
    pinned = keys.import_signing_key(DIRECTORY_KEY.as_dict(private=False))
    token = envelope.sign_document(DIRECTORY_DOCUMENT, DIRECTORY_KEY, typ="cybercoop-directory+jws")
    assert envelope.verify_document(token, pinned, typ="cybercoop-directory+jws") == DIRECTORY_DOCUMENT


def test_a_node_can_sign_a_document_with_its_node_keys():
    token = envelope.sign_document({"ping": 1}, KZ)
    assert envelope.verify_document(token, KZ.public()) == {"ping": 1}


@pytest.mark.parametrize(
    ("key", "typ"),
    [(KZ.public(), "cybercoop-directory+jws"), (DIRECTORY_KEY, envelope.DOCUMENT_TYP)],
    ids=["another-key", "another-kind"],
)
def test_a_document_signed_by_another_key_or_of_another_kind_is_a_bad_signature(key, typ):
    token = envelope.sign_document(DIRECTORY_DOCUMENT, DIRECTORY_KEY, typ="cybercoop-directory+jws")
    with pytest.raises(Rejected) as caught:
        envelope.verify_document(token, key, typ=typ)
    assert caught.value.reason == envelope.BAD_SIGNATURE


def test_a_non_canonical_document_is_rejected():
    token = _sign_by_hand(json.dumps(DIRECTORY_DOCUMENT).encode(), key=DIRECTORY_KEY, typ=envelope.DOCUMENT_TYP)
    with pytest.raises(Rejected) as caught:
        envelope.verify_document(token, DIRECTORY_KEY)
    assert caught.value.reason == envelope.NOT_CANONICAL


# --- keys ---------------------------------------------------------------------------------------------


def _private_parts(node):
    return [node.signing.as_dict(private=True)["d"], node.encryption.as_dict(private=True)["d"]]


def test_private_keys_never_appear_in_repr_or_str():
    shown = [repr(KZ), str(KZ), f"{KZ}", repr([KZ]), repr({"keys": KZ}), repr(KZ.public())]
    for secret in _private_parts(KZ):
        assert not any(secret in text for text in shown)
    assert "kz-node" in repr(KZ)
    assert KZ.signing.kid in repr(KZ)


def test_private_keys_survive_the_key_file():
    text = keys.to_private_json(KZ)
    again = keys.from_private_json(text)
    assert again.node_id == "kz-node"
    assert _private_parts(again) == _private_parts(KZ)
    token = envelope.seal(_message(), sender=again, recipient=RU.public())
    assert _open(token).message["from"]["node"] == "kz-node"


def test_public_jwks_hold_both_public_keys_with_thumbprint_ids_and_uses():
    published = keys.public_jwks(KZ)
    assert published["node_id"] == "kz-node"
    assert [(jwk["kty"], jwk["crv"], jwk["use"]) for jwk in published["keys"]] == [
        ("OKP", "Ed25519", "sig"),
        ("OKP", "X25519", "enc"),
    ]
    for jwk in published["keys"]:
        assert "d" not in jwk
        assert jwk["kid"] == OKPKey.import_key(jwk).thumbprint()
    assert keys.PublicKeys.from_jwks(json.loads(json.dumps(published))) == KZ.public()


def _jwks_with(use, jwk):
    published = keys.public_jwks(KZ)
    published["keys"] = [jwk if key["use"] == use else key for key in published["keys"]]
    return published


@pytest.mark.parametrize(
    ("published", "complaint"),
    [
        (_jwks_with("sig", KZ.signing.as_dict(private=True)), "private key"),
        (_jwks_with("enc", KZ.encryption.as_dict(private=True)), "private key"),
        (_jwks_with("enc", {**KZ.signing.as_dict(), "use": "enc"}), "X25519"),  # a signing key to encrypt to
        (_jwks_with("sig", ECKey.generate_key("P-256", {"use": "sig"}).as_dict()), "Ed25519"),
        (_jwks_with("sig", {**KZ.signing.as_dict(), "kid": "mine"}), "thumbprint"),
        (_jwks_with("sig", {**KZ.signing.as_dict(), "alg": "EdDSA"}), "algorithm"),
        (_jwks_with("sig", {**KZ.signing.as_dict(), "x": "not base64!"}), "valid"),
        ({"node_id": "kz-node", "keys": keys.public_jwks(KZ)["keys"][:1]}, "one key"),
        ({"node_id": "kz node", "keys": keys.public_jwks(KZ)["keys"]}, "node id"),
        ({"node_id": "kz-node", "keys": "none"}, "list"),
    ],
    ids=["private-sig", "private-enc", "sig-as-enc", "ec-p256", "kid", "alg", "x", "one", "node-id", "keys"],
)
def test_peer_keys_of_the_wrong_kind_are_refused_clearly(published, complaint):
    with pytest.raises(keys.InvalidKey, match=complaint):
        keys.PublicKeys.from_jwks(published)


def test_a_key_file_whose_public_half_does_not_match_is_refused():
    data = json.loads(keys.to_private_json(KZ))
    data["signing"]["x"] = AM.signing.as_dict()["x"]
    with pytest.raises(keys.InvalidKey, match="'x' does not match"):
        keys.from_private_json(json.dumps(data))


@pytest.mark.parametrize("text", ["", "{}", "[]", keys.to_private_json(KZ).replace('"d"', '"e"'), b"\xff"])
def test_a_file_that_is_not_a_key_file_is_refused(text):
    with pytest.raises(keys.InvalidKey):
        keys.from_private_json(text)


def test_node_keys_refuse_public_keys_and_swapped_roles():
    with pytest.raises(keys.InvalidKey, match="private"):
        keys.NodeKeys(node_id="kz-node", signing=KZ.public().signing, encryption=KZ.encryption)
    with pytest.raises(keys.InvalidKey, match="Ed25519"):
        keys.NodeKeys(node_id="kz-node", signing=KZ.encryption, encryption=KZ.signing)
