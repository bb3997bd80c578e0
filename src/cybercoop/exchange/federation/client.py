"""Talking to another node over HTTP: JSON requests with urllib, and `node check`'s round trip (GET /node,
POST /ping) that tells an operator whether a peer is reachable, holds the keys the directory lists, keeps
time, and speaks this protocol version."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from cybercoop.core import clock
from cybercoop.exchange.federation import envelope, node
from cybercoop.exchange.federation.envelope import Rejected
from cybercoop.exchange.federation.keys import InvalidKey, PublicKeys
from cybercoop.registry import selectors as registry

PREFIX = "/federation/v1"
TIMEOUT_SECONDS = 30.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a batch's receipts; a node's description; a ping's answer
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)  # the receiver's check 4 refuses messages further in its future
PING_TYP = "cybercoop-ping+jws"
PONG_TYP = "cybercoop-pong+jws"  # another typ than the question's, so an answer cannot be replayed as one


class DeliveryError(Exception):
    """The peer could not be reached, or answered with something other than the JSON object expected."""


def software_version() -> str:
    """This node's software version, as installed."""
    try:
        return metadata.version("cybercoop")
    except metadata.PackageNotFoundError:
        return "unknown"


def ssl_context() -> ssl.SSLContext:
    """The TLS context of every call to another node: the peers' server certificates checked against
    CYBERCOOP_FEDERATION_CA (a PEM bundle; the system's trust store when unset), and this node's client
    certificate (CYBERCOOP_FEDERATION_CLIENT_CERT and _KEY) presented to a peer that asks for one (mutual TLS).
    Unused over plain HTTP, where the message-level signature and encryption still hold."""
    return _ssl_context(settings.FEDERATION_CA_FILE, settings.FEDERATION_CLIENT_CERT, settings.FEDERATION_CLIENT_KEY)


@functools.lru_cache(maxsize=4)
def _ssl_context(ca_file: str, client_cert: str, client_key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context


def open_url(request: urllib.request.Request, *, timeout: float) -> Any:
    """`urllib.request.urlopen` for a call to another node, https with `ssl_context()`; the caller has checked
    that the URL is http(s)."""
    context = ssl_context() if request.full_url.startswith("https://") else None
    return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310 - http(s) only


def endpoint(base_url: str, path: str) -> str:
    """The URL of a federation endpoint (`/messages`, `/node`, `/ping`) under a node's base URL."""
    return base_url.rstrip("/") + PREFIX + path


def request_json(url: str, payload: dict[str, Any] | None = None, *, timeout: float = TIMEOUT_SECONDS) -> Any:
    """POST `payload` (or GET, without one) and return the JSON answer; DeliveryError for anything else than
    a 2xx answer holding JSON. Only http and https URLs are opened."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"not an http(s) address: {url!r}")
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=data,
        method="GET" if payload is None else "POST",
        headers={
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"cybercoop/{software_version()}",
        },
    )
    try:
        with open_url(request, timeout=timeout) as answer:
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"HTTP {error.code} from {url}") from error
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections, bad URLs
        raise DeliveryError(f"{url} is unreachable: {error}") from error
    if len(body) > MAX_ANSWER_BYTES:
        raise DeliveryError(f"the answer from {url} is over {MAX_ANSWER_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as error:
        raise DeliveryError(f"the answer from {url} is not JSON") from error


def post_json(url: str, payload: dict[str, Any], timeout: float) -> Any:
    """The outbox's default way to POST a batch (tests may point it at a live server instead)."""
    return request_json(url, payload, timeout=timeout)


# --- ping ---------------------------------------------------------------------------------------------------


def ping_token(*, nonce: str, at: dt.datetime) -> str:
    """This node's signed question for POST /ping."""
    return envelope.sign_document(
        {"node": node.this_node_id(), "nonce": nonce, "at": at.astimezone(dt.UTC).isoformat()},
        node.load_keys(),
        typ=PING_TYP,
    )


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, not yet verified: only to learn which node claims to have signed it."""
    try:
        payload = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, AttributeError) as error:
        raise Rejected(envelope.malformed("jws"), "not a compact JWS") from error
    if not isinstance(value, dict):
        raise Rejected(envelope.malformed("jws"), "the payload is not a JSON object")
    return value


def answer_ping(token: str, *, now: dt.datetime) -> str:
    """The answer to a peer's ping: this node's signed {node, nonce, at, to}. Raises Rejected when the ping
    is not signed by the key the directory lists for the node it names."""
    claimed = unverified_claims(token).get("node")
    if not isinstance(claimed, str):
        raise Rejected(envelope.malformed("node"), "the ping names no node")
    try:
        keys = node.peer_keys(claimed)
    except InvalidKey as error:
        raise Rejected(envelope.SENDER_LOOKUP_FAILED, "the directory's keys for the node are unusable") from error
    if keys is None:
        raise Rejected(envelope.BAD_SIGNATURE, "the directory lists no such node")
    claims = envelope.verify_document(token, keys, typ=PING_TYP)
    nonce = claims.get("nonce")
    if claims.get("node") != claimed or not isinstance(nonce, str) or not 0 < len(nonce) <= 100:
        raise Rejected(envelope.malformed("ping"), "the ping is not {node, nonce, at}")
    return envelope.sign_document(
        {"node": node.this_node_id(), "nonce": nonce, "at": now.astimezone(dt.UTC).isoformat(), "to": claimed},
        node.load_keys(),
        typ=PONG_TYP,
    )


# --- node check -----------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """What `node check` found: each problem in plain words, and what it learnt on the way."""

    target: str
    base_url: str = ""
    node_id: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_peer(target: str, *, timeout: float = 10.0) -> CheckReport:
    """Check a peer, named by its node code (looked up in the registry) or its base URL: reachable, the
    protocol version, the clock, and a signed round trip with the keys each side's directory lists."""
    report = CheckReport(target=target)
    expected: PublicKeys | None = None
    if target.startswith(("http://", "https://")):
        report.base_url = target
    else:
        peer = registry.get_node(code=target)
        if peer is None:
            report.problems.append(f"the directory lists no node {target!r}")
            return report
        report.base_url, report.node_id = peer.base_url, peer.code

    # 1. The address answers, as the node we think it is, with its protocol version and its time.
    sent_at = clock.now()
    try:
        info = request_json(endpoint(report.base_url, "/node"), timeout=timeout)
    except DeliveryError as error:
        report.problems.append(f"address unreachable: {error}")
        return report
    received_at = clock.now()
    if not isinstance(info, dict) or not isinstance(info.get("node"), str):
        report.problems.append("the address does not answer as a CyberCoop node (GET /federation/v1/node)")
        return report
    if report.node_id and info["node"] != report.node_id:
        report.problems.append(f"the address answers as node {info['node']!r}, not {report.node_id!r}")
    report.node_id = report.node_id or info["node"]
    report.notes.append(f"node {info['node']!r}, software {info.get('software_version')!r}")
    if info.get("protocol_version") != envelope.PROTOCOL_VERSION:
        report.problems.append(
            f"protocol version mismatch: the peer speaks {info.get('protocol_version')!r}, "
            f"this node {envelope.PROTOCOL_VERSION}"
        )
    _check_skew(report, info.get("time"), sent_at, received_at)

    # 2. A signed round trip: the peer knows our key, and its answer verifies with the key we hold for it.
    try:
        expected = node.peer_keys(report.node_id)
    except InvalidKey as error:
        report.problems.append(f"key mismatch: the directory's keys for {report.node_id!r} are unusable ({error})")
        return report
    if expected is None:
        report.problems.append(f"key mismatch: the directory lists no keys for node {report.node_id!r}")
        return report
    nonce = secrets.token_urlsafe(16)
    try:
        answer = request_json(
            endpoint(report.base_url, "/ping"), {"token": ping_token(nonce=nonce, at=clock.now())}, timeout=timeout
        )
    except DeliveryError as error:
        report.problems.append(
            f"key mismatch: the peer refused this node's signed ping ({error}); "
            "is this node's current key in the peer's directory?"
        )
        return report
    token = answer.get("token") if isinstance(answer, dict) else None
    try:
        pong = envelope.verify_document(token if isinstance(token, str) else "", expected, typ=PONG_TYP)
    except Rejected as error:
        report.problems.append(
            f"key mismatch: the peer's answer does not verify with the key the directory lists ({error.reason})"
        )
        return report
    if pong.get("nonce") != nonce or pong.get("node") != report.node_id or pong.get("to") != node.this_node_id():
        report.problems.append("key mismatch: the peer's signed answer is not an answer to this ping")
    return report


def _check_skew(report: CheckReport, their_time: Any, sent_at: dt.datetime, received_at: dt.datetime) -> None:
    try:
        theirs = dt.datetime.fromisoformat(their_time)
    except (TypeError, ValueError):
        report.problems.append("the peer does not tell its time")
        return
    if theirs.tzinfo is None:
        report.problems.append("the peer tells its time without a time zone")
        return
    ours = sent_at + (received_at - sent_at) / 2  # the middle of the round trip
    skew = theirs - ours
    report.notes.append(f"clock difference {skew.total_seconds():+.1f} s")
    if abs(skew) > MAX_CLOCK_SKEW:
        report.problems.append(
            f"clock skew over 5 minutes: the peer's clock is {skew.total_seconds():+.0f} s from this node's"
        )
