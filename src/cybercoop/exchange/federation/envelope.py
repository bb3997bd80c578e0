"""Envelopes between nodes: a message signed by its sender and encrypted to its receiver, JWE(JWS(message)),
the receiver's signed receipt, and signed documents such as the directory (EXCHANGE.md, Envelope).

`open_envelope` is the receiver's checks 1 and 2 and the message's form: it answers with the message or
raises `Rejected` with a reason code the receiver can send back — nothing else, whatever arrives.
The checks that need the database (bodies served here, designations, the conversation's chain) are the
inbox's. Algorithms are fixed, not negotiated: every registry below lists exactly the ones we use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from joserfc import jwe, jws
from joserfc.jwe import JWERegistry
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from cybercoop.exchange.federation.keys import (
    CONTENT_ENCRYPTION_ALGORITHM,
    KEY_AGREEMENT_ALGORITHM,
    SIGNING_ALGORITHM,
    NodeKeys,
    PublicKeys,
)

PROTOCOL_VERSION = 1
ENVELOPE_TYP = "cybercoop-envelope+jwe"
MESSAGE_TYP = "cybercoop-message+jws"
RECEIPT_TYP = "cybercoop-receipt+jws"
DOCUMENT_TYP = "cybercoop-document+jws"

# A message is small; its attachments travel separately (PUT /federation/v1/attachments/{sha256}).
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_RECEIPT_BYTES = 4 * 1024
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # the directory of every Party, body, node and instrument
_MAX_HEADER_CHARS = 1024

# Reason codes, sent back to the sender in the batch answer and shown to both nodes' administrators.
# Plain constants from a closed set: never text taken from the envelope, which could be anything.
NOT_FOR_THIS_NODE = "not for this node"
BAD_SIGNATURE = "bad signature"
NOT_CANONICAL = "not canonical"
TOO_LARGE = "too large"
# Our own directory failed while we looked the sender up: not the sender's fault, so the inbox
# should answer with something the sender retries rather than a final rejection.
SENDER_LOOKUP_FAILED = "sender lookup failed"
RECEIPT_STATUSES = ("accepted", "duplicate", "rejected")


def malformed(field: str) -> str:
    """The reason code for a message field that is missing or of the wrong form: `malformed: seq`."""
    return f"malformed: {field}"


def mismatch(field: str) -> str:
    """The reason code for a receipt that does not answer what was sent: `mismatch: envelope_sha256`."""
    return f"mismatch: {field}"


class Rejected(Exception):
    """An envelope, receipt or document refused: `reason` is the machine code (above), `message` says why in
    plain English for logs and admin screens (the caller translates codes for users)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Opened:
    """A message out of its envelope, checked: what was signed, and what to keep as proof of it.
    `envelope_sha256` identifies the envelope in the receipt; `jws` is the sender's signature to store."""

    message: dict[str, Any]
    envelope_sha256: str
    jws: str


def canonical(obj: Any) -> bytes:
    """The RFC 8785 (JCS) form of a JSON value: the bytes that are signed and hashed, the same on every node."""
    return rfc8785.dumps(obj)


def _b64_length(size: int) -> int:
    """Characters of unpadded base64url for `size` bytes."""
    return -(-size * 4 // 3)


def _jws_length(payload_bytes: int) -> int:
    """The longest compact JWS we accept for a payload of `payload_bytes` (headers are small)."""
    return _MAX_HEADER_CHARS + 1 + _b64_length(payload_bytes) + 1 + _b64_length(64)


# header . wrapped key (40 bytes) . IV (12) . ciphertext (as long as the JWS: GCM does not pad) . tag (16)
MAX_ENVELOPE_CHARS = (
    _MAX_HEADER_CHARS
    + _b64_length(40)
    + _b64_length(12)
    + _b64_length(_jws_length(MAX_MESSAGE_BYTES))
    + _b64_length(16)
    + 4
)


def _jws_registry(max_payload_bytes: int) -> JWSRegistry:
    """Ed25519 only (no "none", no HMAC, no RSA); joserfc's default size limits are for tokens, not messages."""
    registry = JWSRegistry(algorithms=[SIGNING_ALGORITHM])
    registry.max_header_length = _MAX_HEADER_CHARS
    # Loose on purpose: `_verify` applies the exact limit to the decoded payload, as "too large".
    registry.max_payload_length = _jws_length(max_payload_bytes)
    return registry


_MESSAGE_JWS = _jws_registry(MAX_MESSAGE_BYTES)
_RECEIPT_JWS = _jws_registry(MAX_RECEIPT_BYTES)
_DOCUMENT_JWS = _jws_registry(MAX_DOCUMENT_BYTES)

# The JWE names the sender (node and signing key) so the receiver can find the key to verify with;
# both are public in the directory, so nothing confidential is in the clear.
_ENVELOPE_HEADERS = {
    "sender_node": HeaderParameter("Sending node's id", "str", required=True),
    "sender_kid": HeaderParameter("Sending node's signing key id", "str", required=True),
}
# ECDH-ES+A256KW with A256GCM, and nothing else: no "dir", no "zip" (a decompression bomb), no RSA.
_ENVELOPE_JWE = JWERegistry(
    header_registry=_ENVELOPE_HEADERS, algorithms=[KEY_AGREEMENT_ALGORITHM, CONTENT_ENCRYPTION_ALGORITHM]
)
_ENVELOPE_JWE.max_protected_header_length = _MAX_HEADER_CHARS
_ENVELOPE_JWE.max_ciphertext_length = MAX_ENVELOPE_CHARS  # loose: `_open` checks the whole envelope first
_ENVELOPE_HEADER_FIELDS = frozenset({"alg", "enc", "kid", "typ", "epk", "sender_node", "sender_kid"})


# --- messages ---------------------------------------------------------------------------------------


def seal(message: Mapping[str, Any], *, sender: NodeKeys, recipient: PublicKeys) -> str:
    """The envelope for `message`: signed by `sender`, encrypted to `recipient`, both compact.

    Raises Rejected, with the reason the receiver would give, for a message it would refuse for its form,
    so the outbox learns it now rather than after a round trip."""
    try:
        payload = canonical(message)
    except rfc8785.CanonicalizationError as error:
        raise Rejected(NOT_CANONICAL, f"the message has no RFC 8785 form ({type(error).__name__})") from error
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Rejected(TOO_LARGE, f"the message is {len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    parsed = json.loads(payload)
    check_message(parsed)
    if parsed["from"]["node"] != sender.node_id:
        raise Rejected(BAD_SIGNATURE, f"from.node is {_shown(parsed['from']['node'])}, not the sending node")
    if parsed["to"]["node"] != recipient.node_id:
        raise Rejected(NOT_FOR_THIS_NODE, f"to.node is {_shown(parsed['to']['node'])}, not the receiving node")
    signed = _sign(payload, sender.signing, typ=MESSAGE_TYP, registry=_MESSAGE_JWS)
    return jwe.encrypt_compact(
        {
            "alg": KEY_AGREEMENT_ALGORITHM,
            "enc": CONTENT_ENCRYPTION_ALGORITHM,
            "typ": ENVELOPE_TYP,
            "kid": recipient.encryption.kid,
            "sender_node": sender.node_id,
            "sender_kid": sender.signing.kid,
        },
        signed,
        recipient.encryption,
        registry=_ENVELOPE_JWE,
    )


def open_envelope(envelope: str, *, recipient: NodeKeys, sender_keys: Callable[[str], PublicKeys | None]) -> Opened:
    """Decrypt, verify and check an envelope that arrived for this node (EXCHANGE.md, receiver's checks 1–2).

    `sender_keys(node_id)` gives the directory's keys for a node, or None for a node it does not list.
    Returns the message, or raises Rejected — and nothing else, for any input at all."""
    try:
        return _open(envelope, recipient=recipient, sender_keys=sender_keys)
    except Rejected:
        raise
    except Exception as error:  # a path the checks below did not foresee: still the envelope's fault
        raise Rejected(malformed("envelope"), f"the envelope could not be read ({type(error).__name__})") from error


def _open(envelope: str, *, recipient: NodeKeys, sender_keys: Callable[[str], PublicKeys | None]) -> Opened:
    if not isinstance(envelope, str):
        raise Rejected(malformed("envelope"), "the envelope is not a string")
    if len(envelope) > MAX_ENVELOPE_CHARS:
        raise Rejected(TOO_LARGE, f"the envelope is {len(envelope)} characters; the limit is {MAX_ENVELOPE_CHARS}")

    # 1. Decrypts for this node. The protected header is authenticated by the decryption, so it is read after.
    try:
        decrypted = jwe.decrypt_compact(envelope, recipient.encryption, registry=_ENVELOPE_JWE)
    except Exception as error:  # joserfc, cryptography, base64, JSON, Unicode: all mean "cannot decrypt"
        raise Rejected(
            NOT_FOR_THIS_NODE, f"the envelope does not decrypt with this node's key ({type(error).__name__})"
        ) from error
    header = decrypted.headers()
    if header.get("kid") != recipient.encryption.kid:
        raise Rejected(NOT_FOR_THIS_NODE, "the envelope names another encryption key")
    if set(header) != _ENVELOPE_HEADER_FIELDS or header.get("typ") != ENVELOPE_TYP:
        raise Rejected(malformed("header"), "the envelope's header is not a CyberCoop envelope header")
    sender_node, sender_kid = header["sender_node"], header["sender_kid"]
    signed = decrypted.plaintext or b""

    # 2. Verifies with the key the directory lists for the sending node.
    try:
        sender = sender_keys(sender_node)
    except Exception as error:
        raise Rejected(SENDER_LOOKUP_FAILED, f"looking up the sending node failed ({type(error).__name__})") from error
    if sender is None or sender.node_id != sender_node:
        raise Rejected(BAD_SIGNATURE, f"the directory lists no node {_shown(sender_node)}")
    if sender_kid != sender.signing.kid:
        raise Rejected(BAD_SIGNATURE, "the envelope names a signing key the directory does not list for the sender")
    payload = _verify(signed, sender.signing, typ=MESSAGE_TYP, registry=_MESSAGE_JWS, max_bytes=MAX_MESSAGE_BYTES)
    message = _parse(payload, what="message")

    check_message(message)
    if message["from"]["node"] != sender_node:
        raise Rejected(
            BAD_SIGNATURE, f"from.node is {_shown(message['from']['node'])} but {_shown(sender_node)} signed"
        )
    if message["to"]["node"] != recipient.node_id:
        raise Rejected(NOT_FOR_THIS_NODE, f"the message is addressed to node {_shown(message['to']['node'])}")
    return Opened(
        message=message,
        envelope_sha256=hashlib.sha256(envelope.encode("ascii")).hexdigest(),
        jws=signed.decode("ascii"),
    )


# --- the message's form (EXCHANGE.md, Message) -------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # lower case, as str(UUID)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|\+00:00)")
_MESSAGE_FIELDS = (
    "v", "id", "conversation", "kind", "from", "to", "seq", "prev", "created_at",
    "instrument", "marking", "purposes", "conditions", "body", "attachments",
)  # fmt: skip
_ATTACHMENT_FIELDS = frozenset({"id", "name", "media_type", "size", "sha256"})
_PARTY_FIELDS = frozenset({"node", "body"})


def check_message(message: Any) -> None:
    """Raise Rejected("malformed: <field>") unless `message` has exactly the fields of a version 1 message,
    each of its type and form. What the fields mean (bodies, instruments, the kind's body) is the inbox's."""
    if not isinstance(message, dict):
        raise Rejected(malformed("message"), "the message is not a JSON object")
    for field in _MESSAGE_FIELDS:
        if field not in message:
            raise Rejected(malformed(field), f"the message has no {field!r}")
    if len(message) != len(_MESSAGE_FIELDS):
        raise Rejected(malformed("message"), "the message has fields version 1 does not define")

    def require(field: str, ok: bool, expected: str) -> None:
        if not ok:
            raise Rejected(malformed(field), f"{field!r} must be {expected}")

    v = message["v"]
    require("v", _is_int(v) and v == PROTOCOL_VERSION, f"the protocol version {PROTOCOL_VERSION}")
    require("id", _matches(_UUID, message["id"]), "a UUID")
    require("conversation", _matches(_UUID, message["conversation"]), "a UUID")
    kind = message["kind"]
    require("kind", _matches(_KIND, kind) and len(kind) <= 64, "a dotted name such as 'assistance.request'")
    for side in ("from", "to"):
        party = message[side]
        require(
            side,
            isinstance(party, dict)
            and set(party) == _PARTY_FIELDS
            and all(_is_name(party[name]) for name in _PARTY_FIELDS),
            "an object {node, body} of two non-empty strings",
        )
    seq = message["seq"]
    require("seq", _is_int(seq) and seq >= 1, "an integer from 1")
    prev = message["prev"]
    require("prev", prev is None or _matches(_SHA256, prev), "null or a SHA-256 in lower-case hex")
    # The first message of a sender in a conversation has no previous one, and only the first.
    require("prev", (seq == 1) == (prev is None), "null exactly when seq is 1")
    require("created_at", _is_utc_timestamp(message["created_at"]), "an RFC 3339 time in UTC")
    require("instrument", isinstance(message["instrument"], str) and len(message["instrument"]) <= 64, "a string")
    require("marking", _is_name(message["marking"]) and len(message["marking"]) <= 16, "a marking")
    for field in ("purposes", "conditions"):
        require(field, _is_str_list(message[field]), "a list of strings")
    require("body", isinstance(message["body"], dict), "an object")
    attachments = message["attachments"]
    require("attachments", isinstance(attachments, list), "a list")
    for index, attachment in enumerate(attachments):
        require(
            "attachments",
            isinstance(attachment, dict)
            and set(attachment) == _ATTACHMENT_FIELDS
            and _matches(_UUID, attachment["id"])
            and _is_name(attachment["name"])
            and len(attachment["name"]) <= 120
            and _is_name(attachment["media_type"])
            and len(attachment["media_type"]) <= 100
            and _is_int(attachment["size"])
            and attachment["size"] >= 0
            and _matches(_SHA256, attachment["sha256"]),
            f"a list of {{id, name, media_type, size, sha256}}; item {index} is not",
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _is_utc_timestamp(value: Any) -> bool:
    if not _matches(_RFC3339_UTC, value):
        return False
    try:
        dt.datetime.fromisoformat(value)  # the pattern lets 2024-13-45 through; the calendar does not
    except ValueError:
        return False
    return True


# --- receipts (EXCHANGE.md, Transport) --------------------------------------------------------------


def receipt(
    *,
    message_id: str | None,
    envelope_sha256: str,
    status: str,
    received_at: dt.datetime,
    node: NodeKeys,
    reason: str | None = None,
) -> str:
    """The receiving node's signed word on one envelope: accepted, duplicate or rejected, when, and by whom.
    `message_id` is None when the envelope could not be opened; `reason` is given exactly when rejected."""
    if status not in RECEIPT_STATUSES:
        raise ValueError(f"a receipt's status is one of {RECEIPT_STATUSES}, not {status!r}")
    if (status == "rejected") != (reason is not None):
        raise ValueError("a receipt has a reason exactly when its status is 'rejected'")
    if received_at.tzinfo is None:
        raise ValueError("received_at must be an aware datetime")
    claims: dict[str, Any] = {
        "message_id": message_id,
        "envelope_sha256": envelope_sha256,
        "status": status,
        "received_at": received_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "node": node.node_id,
    }
    if reason is not None:
        claims["reason"] = reason
    return _sign(canonical(claims), node.signing, typ=RECEIPT_TYP, registry=_RECEIPT_JWS)


def verify_receipt(
    token: str, *, expected_message_id: str | None, expected_envelope_sha256: str, signer: PublicKeys
) -> dict[str, Any]:
    """The receipt's content, once it is shown to be `signer`'s answer to exactly this envelope.
    Raises Rejected (and nothing else) for a bad signature, a malformed receipt or one about another envelope."""
    try:
        claims = _parse(
            _verify(token, signer.signing, typ=RECEIPT_TYP, registry=_RECEIPT_JWS, max_bytes=MAX_RECEIPT_BYTES),
            what="receipt",
        )
        _check_receipt(claims)
    except Rejected:
        raise
    except Exception as error:  # a path the checks did not foresee: the receipt is unusable
        raise Rejected(malformed("receipt"), f"the receipt could not be read ({type(error).__name__})") from error
    for field, expected in (
        ("node", signer.node_id),
        ("envelope_sha256", expected_envelope_sha256),
        ("message_id", expected_message_id),
    ):
        # A node that could not open an envelope does not know its message's id; the hash still binds it.
        unknown_id = field == "message_id" and claims[field] is None and claims["status"] == "rejected"
        if claims[field] != expected and not unknown_id:
            raise Rejected(mismatch(field), f"the receipt's {field} is not the one sent")
    return claims


def _check_receipt(claims: dict[str, Any]) -> None:
    rejected = claims.get("status") == "rejected"
    expected = {"message_id", "envelope_sha256", "status", "received_at", "node"} | ({"reason"} if rejected else set())
    if set(claims) != expected:
        raise Rejected(malformed("receipt"), "the receipt does not have the fields of a receipt")
    checks = {
        "message_id": claims["message_id"] is None or _matches(_UUID, claims["message_id"]),
        "envelope_sha256": _matches(_SHA256, claims["envelope_sha256"]),
        "status": claims["status"] in RECEIPT_STATUSES,
        "received_at": _is_utc_timestamp(claims["received_at"]),
        "node": _is_name(claims["node"]),
        "reason": not rejected or _is_name(claims["reason"]),
    }
    for field, ok in checks.items():
        if not ok:
            raise Rejected(malformed(field), f"the receipt's {field!r} is not of its form")


# --- signed documents (the directory) ---------------------------------------------------------------


def sign_document(doc: Mapping[str, Any], key: NodeKeys | OKPKey, *, typ: str = DOCUMENT_TYP) -> str:
    """A JSON document signed as a compact JWS over its RFC 8785 form: the Secretariat signs the directory
    with its directory key. `typ` names the kind of document, so one kind cannot pass for another."""
    signing = key.signing if isinstance(key, NodeKeys) else key
    payload = canonical(doc)
    if len(payload) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"the document is {len(payload)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    return _sign(payload, signing, typ=typ, registry=_DOCUMENT_JWS)


def verify_document(token: str, public: PublicKeys | OKPKey, *, typ: str = DOCUMENT_TYP) -> dict[str, Any]:
    """The document, once its signature verifies with `public` (the pinned directory key).
    Raises Rejected (and nothing else) for a bad signature, another `typ`, or a payload that is not a
    canonical JSON object. Whether its `version` is newer than the one held is the caller's to check."""
    signing = public.signing if isinstance(public, PublicKeys) else public
    try:
        return _parse(
            _verify(token, signing, typ=typ, registry=_DOCUMENT_JWS, max_bytes=MAX_DOCUMENT_BYTES), what="document"
        )
    except Rejected:
        raise
    except Exception as error:  # a path the checks did not foresee: the document is unusable
        raise Rejected(malformed("document"), f"the document could not be read ({type(error).__name__})") from error


# --- shared ----------------------------------------------------------------------------------------


def _sign(payload: bytes, key: OKPKey, *, typ: str, registry: JWSRegistry) -> str:
    return jws.serialize_compact(
        {"alg": SIGNING_ALGORITHM, "kid": key.kid, "typ": typ}, payload, key, registry=registry
    )


def _verify(token: str | bytes, key: OKPKey, *, typ: str, registry: JWSRegistry, max_bytes: int) -> bytes:
    """The payload of a compact JWS that `key` signed with exactly {alg: Ed25519, kid, typ}; Rejected if not."""
    if not isinstance(token, str | bytes):
        raise Rejected(malformed("jws"), "the signature is not a string")
    if len(token) > _jws_length(max_bytes):
        raise Rejected(TOO_LARGE, f"the signed content is over the limit of {max_bytes} bytes")
    try:
        signature = jws.extract_compact(token.encode("ascii") if isinstance(token, str) else token, registry=registry)
    except Exception as error:  # joserfc, base64, JSON, Unicode: all mean "not a JWS"
        raise Rejected(BAD_SIGNATURE, f"the content is not a compact JWS ({type(error).__name__})") from error
    # Exactly these members: no "b64": false, no "crit", no embedded "jwk" to trust instead of the directory's.
    if signature.headers() != {"alg": SIGNING_ALGORITHM, "kid": key.kid, "typ": typ}:
        raise Rejected(BAD_SIGNATURE, f"the JWS is not an {SIGNING_ALGORITHM} {typ} by the expected key")
    try:
        valid = jws.validate_compact(signature, key, registry=registry)
    except Exception as error:
        raise Rejected(BAD_SIGNATURE, f"the signature cannot be checked ({type(error).__name__})") from error
    if not valid:
        raise Rejected(BAD_SIGNATURE, "the signature does not verify")
    if len(signature.payload) > max_bytes:
        raise Rejected(TOO_LARGE, f"the signed content is {len(signature.payload)} bytes; the limit is {max_bytes}")
    return signature.payload


def _parse(payload: bytes, *, what: str) -> dict[str, Any]:
    """A signed payload as a JSON object, provided it is byte for byte its own RFC 8785 form: otherwise two
    nodes could hash, store and show the same signed message differently."""
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Rejected(malformed("json"), f"the {what} is not JSON ({type(error).__name__})") from error
    if not isinstance(value, dict):
        raise Rejected(malformed(what), f"the {what} is not a JSON object")
    try:
        again = canonical(value)
    except (rfc8785.CanonicalizationError, RecursionError) as error:
        raise Rejected(NOT_CANONICAL, f"the {what} has no RFC 8785 form ({type(error).__name__})") from error
    if again != payload:
        raise Rejected(NOT_CANONICAL, f"the {what} is not in its RFC 8785 form")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _shown(value: Any) -> str:
    """A value from the envelope, quoted and cut short, fit for a log line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
