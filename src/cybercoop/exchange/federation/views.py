"""The federation endpoint, `/federation/v1/`: what other nodes call. No sessions, no CSRF: every envelope
and ping is signed by its node's key, which is what authenticates it. Answers are JSON."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cybercoop.core import clock
from cybercoop.exchange.federation import attachments, client, envelope, inbox, node, outbox
from cybercoop.exchange.federation.envelope import Rejected

MAX_PING_BYTES = 8 * 1024


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _read_json(request: HttpRequest, limit: int) -> tuple[Any, JsonResponse | None]:
    """The request's JSON body, read up to `limit` bytes (Django's own cap is for forms, not batches)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, _error(400, "bad Content-Length")
    if length > limit:
        return None, _error(413, f"the body is over {limit} bytes")
    data = request.read(limit + 1)
    if len(data) > limit:
        return None, _error(413, f"the body is over {limit} bytes")
    try:
        return json.loads(data), None
    except ValueError:
        return None, _error(400, "the body is not JSON")


@csrf_exempt
@require_POST
def messages(request: HttpRequest) -> HttpResponse:
    """A batch of envelopes: `{"envelopes": [...]}` answered with one result per envelope, in order (HTTP 200
    whenever the batch was read; each envelope's fate is in its entry)."""
    payload, error = _read_json(request, outbox.MAX_BATCH_BYTES + 64 * 1024)
    if error is not None:
        return error
    envelopes = payload.get("envelopes") if isinstance(payload, dict) else None
    if (
        not isinstance(envelopes, list)
        or not 0 < len(envelopes) <= outbox.MAX_BATCH_ENVELOPES
        or not all(isinstance(item, str) for item in envelopes)
    ):
        return _error(400, f'expected {{"envelopes": [1 to {outbox.MAX_BATCH_ENVELOPES} strings]}}')
    try:
        results = inbox.receive_batch(envelopes)
    except node.NodeNotConfigured:
        return _error(503, "this node is not configured for the federation")
    return JsonResponse({"results": results})


@require_GET
def node_info(request: HttpRequest) -> HttpResponse:
    """Who answers here: the node's id, software and protocol versions, and its clock (for skew checks)."""
    return JsonResponse(
        {
            "node": node.this_node_id(),
            "software_version": client.software_version(),
            "protocol_version": envelope.PROTOCOL_VERSION,
            "time": clock.now().isoformat(),
        }
    )


@csrf_exempt
@require_POST
def ping(request: HttpRequest) -> HttpResponse:
    """A signed round trip for `node check`: `{"token": <the caller's signed {node, nonce, at}>}` answered with
    `{"token": <this node's signed {node, nonce, at, to}>}`; 403 when the caller's signature does not verify
    with the key this node's directory lists for it."""
    payload, error = _read_json(request, MAX_PING_BYTES)
    if error is not None:
        return error
    token = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token, str):
        return _error(400, 'expected {"token": "<compact JWS>"}')
    try:
        answer = client.answer_ping(token, now=clock.now())
    except Rejected as refused:
        return _error(403, refused.reason)
    except node.NodeNotConfigured:
        return _error(503, "this node is not configured for the federation")
    return JsonResponse({"token": answer})


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def attachment(request: HttpRequest, sha256: str) -> HttpResponse:
    """A file for a message to come, named by its SHA-256. GET, signed by the asking node (`Authorization:
    CyberCoop <JWS>`): how much of it this node holds from that node, `{"sha256", "offset", "complete"}`. PUT, a
    body of one chunk (compact JWE, signed by the sending node): the same answer once the chunk is taken; else
    the reason, `{"error"}` (and `"offset"` when the chunk was not where this node's copy ends)."""
    try:
        attachments.check_sha256(sha256)
        if request.method == "GET":
            sender = attachments.asking_node(
                request.headers.get("Authorization", ""), sha256=sha256, recipient=node.load_keys(), now=clock.now()
            )
            held = attachments.status(sender_node=sender, sha256=sha256)
        else:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _error(400, "bad Content-Length")
            limit = attachments.MAX_CHUNK_TOKEN_CHARS
            body = request.read(limit + 1) if length <= limit else b""
            if length > limit or len(body) > limit:
                return _error(413, f"a chunk holds at most {attachments.MAX_CHUNK_BYTES} bytes")
            held = attachments.receive_chunk(body, sha256=sha256)
    except attachments.Refused as refused:
        return JsonResponse(refused.as_json(), status=refused.status)
    except node.NodeNotConfigured:
        return _error(503, "this node is not configured for the federation")
    return JsonResponse(held.as_json())
