"""The sending side of the federation: the worker's job `exchange.deliver_outbox` posts queued envelopes to
their nodes in batches, keeps each receiving node's signed receipt, and retries failures with exponential
backoff and jitter (EXCHANGE.md, Sender).

No transaction is held across the network: due rows are claimed (state `sent`, with a lease until the next
attempt) under `FOR UPDATE SKIP LOCKED`, posted, and their fate written in a second short transaction. A
worker that dies mid-flight leaves its rows `sent`; they are due again when the lease runs out, and the
receiver answers a second copy as a duplicate with the original receipt.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Count, F

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.exchange.federation import attachments, client, envelope, node
from cybercoop.exchange.federation.envelope import Rejected
from cybercoop.exchange.federation.keys import InvalidKey, PublicKeys
from cybercoop.exchange.models import OutboxItem, OutboxState
from cybercoop.registry import selectors as registry

logger = logging.getLogger(__name__)

# What one POST carries; the inbox refuses more (views.MAX_BATCH_BYTES is the same figure).
MAX_BATCH_ENVELOPES = 50
MAX_BATCH_BYTES = 16 * 1024 * 1024
FIRST_RETRY = dt.timedelta(seconds=30)
LAST_RETRY = dt.timedelta(hours=1)
# How long a claimed row stays with the worker that claimed it: longer than one POST can take.
LEASE = dt.timedelta(seconds=client.TIMEOUT_SECONDS * 4)

Post = Callable[[str, dict[str, Any], float], Any]  # (url, JSON body, timeout) -> the JSON answer
_random = random.SystemRandom()

DUE_STATES = (OutboxState.QUEUED, OutboxState.SENT, OutboxState.FAILED)
# The worker's job goes on claiming while its passes come back full, for at most this long, so that a
# backlog drains at the speed of the network and the receiver, not at one batch per worker pass.
JOB_LIMIT = 100
JOB_SECONDS = 20.0


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff with jitter: about 30 s after the first attempt, doubling, at most an hour.
    The jitter (between half and all of the step) keeps the nodes that lost one peer from retrying in step."""
    step = min(LAST_RETRY, FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20))
    return step * _random.uniform(0.5, 1.0)


def deliver_due(*, limit: int = 100, now: dt.datetime | None = None, post: Post | None = None) -> int:
    """Deliver the envelopes that are due (queued; failed or sent whose next attempt has come), grouped by
    receiving node, in batches; returns how many were attempted. `post` is for tests only: a live server."""
    now = now or clock.now()
    send = post or client.post_json
    claimed = _claim(now=now, limit=limit)
    by_peer: dict[str, list[OutboxItem]] = {}
    for item in claimed:
        by_peer.setdefault(item.peer, []).append(item)
    for peer, items in by_peer.items():
        for batch in _batches(items):
            _deliver_batch(peer=peer, items=batch, post=send, now=now)
    return len(claimed)


def deliver_job() -> int:
    """The worker's periodic job: deliver what is due, and keep going while the passes come back full (a
    backlog), for at most JOB_SECONDS; returns how many envelopes were attempted."""
    started = time.monotonic()
    total = 0
    while True:
        attempted = deliver_due(limit=JOB_LIMIT)
        total += attempted
        if attempted < JOB_LIMIT or time.monotonic() - started > JOB_SECONDS:
            return total


def _claim(*, now: dt.datetime, limit: int) -> list[OutboxItem]:
    """Take due rows for this worker: locked rows are another worker's, so they are skipped, not waited for."""
    with transaction.atomic():
        items = list(
            OutboxItem.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(state__in=DUE_STATES, next_attempt_at__lte=now)
            .order_by("pk")[:limit]  # creation order: a sender's messages leave in the order it made them
        )
        if items:
            OutboxItem.objects.filter(pk__in=[item.pk for item in items]).update(
                state=OutboxState.SENT, attempts=F("attempts") + 1, next_attempt_at=now + LEASE, updated_at=now
            )
        for item in items:
            item.state = OutboxState.SENT
            item.attempts += 1
            item.next_attempt_at = now + LEASE
            item.updated_at = now
    return items


def _batches(items: Sequence[OutboxItem]) -> Iterator[list[OutboxItem]]:
    batch: list[OutboxItem] = []
    size = 0
    for item in items:
        if batch and (len(batch) == MAX_BATCH_ENVELOPES or size + len(item.envelope) > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item.envelope) + 3  # the quotes and comma around it in the JSON
    if batch:
        yield batch


def _deliver_batch(*, peer: str, items: list[OutboxItem], post: Post, now: dt.datetime) -> None:
    target = registry.get_node(code=peer)
    try:
        keys = node.peer_keys(peer)
    except InvalidKey as error:
        _fail(items, f"the directory's keys for node {peer!r} are unusable: {error}", now)
        return
    if target is None or keys is None:
        _fail(items, f"the directory lists no node {peer!r}", now)
        return
    # Files first: the receiver applies a message only with all its attachments (docs/federation.md, Attachments).
    items, unsent = attachments.send_files(items, base_url=target.base_url, recipient=keys)
    for why, failed in unsent:
        _fail(failed, why, now)
    if not items:
        return
    url = client.endpoint(target.base_url, "/messages")
    try:
        answer = post(url, {"envelopes": [item.envelope for item in items]}, client.TIMEOUT_SECONDS)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            raise client.DeliveryError(f"the answer from {url} does not hold one result per envelope")
    except client.DeliveryError as error:
        _fail(items, str(error), now)
        return
    except Exception as error:  # whatever the injected `post` raised: still this attempt's failure
        _fail(items, f"{type(error).__name__}: {error}", now)
        return
    with transaction.atomic():
        held = _still_held(items)
        # When the receipts arrived (`receipted_at`, and the base of any backoff); never before the pass began.
        answered = max(now, clock.now())
        for item, result in zip(items, results, strict=True):
            if item.pk in held:
                _record(held[item.pk], result if isinstance(result, dict) else {}, keys=keys, now=answered)


def _still_held(items: Sequence[OutboxItem]) -> dict[int, OutboxItem]:
    """The rows locked again, those this worker still holds (no other worker claimed them after the lease),
    without their envelopes, which the rest of the delivery does not write."""
    attempts = {item.pk: item.attempts for item in items}
    rows = (
        OutboxItem.objects.select_for_update(no_key=True, of=("self",))
        .select_related("message__sender_body")
        .defer("envelope")
        .filter(pk__in=list(attempts), state=OutboxState.SENT)
    )
    return {row.pk: row for row in rows if row.attempts == attempts[row.pk]}


RECORDED_FIELDS = ["state", "last_error", "reason", "receipt", "receipted_at", "next_attempt_at", "updated_at"]


def _record(current: OutboxItem, result: dict[str, Any], *, keys: PublicKeys, now: dt.datetime) -> None:
    status = result.get("status")
    reason = result.get("reason") if isinstance(result.get("reason"), str) else ""
    if status == "waiting":
        # Stored there, to be applied once the sender's earlier messages arrive: ask again later for the receipt.
        current.last_error = f"held by the receiving node: {reason}"[:2000]
        current.next_attempt_at = now + retry_delay(current.attempts)
    elif status == "retry":
        current.state = OutboxState.FAILED
        current.last_error = f"the receiving node asks to try again: {reason}"[:2000]
        current.next_attempt_at = now + retry_delay(current.attempts)
    else:
        try:
            claims = envelope.verify_receipt(
                result.get("receipt"),  # type: ignore[arg-type]  # verify_receipt refuses a non-string itself
                expected_message_id=str(current.message_id),
                expected_envelope_sha256=current.envelope_sha256,
                signer=keys,
            )
        except Rejected as error:
            current.state = OutboxState.FAILED
            current.last_error = f"the receipt does not verify ({error.reason}): {error.message}"[:2000]
            current.next_attempt_at = now + retry_delay(current.attempts)
        else:
            current.receipt = result["receipt"]
            current.receipted_at = now
            if claims["status"] == "rejected":
                _rejected(current, claims["reason"])
            else:
                current.state = OutboxState.RECEIPTED
                current.last_error = ""
    current.updated_at = now
    current.save(update_fields=RECORDED_FIELDS)
    if current.state == OutboxState.FAILED:
        logger.warning(
            "delivery of message %s to node %s failed: %s", current.message_id, current.peer, current.last_error
        )


def _rejected(item: OutboxItem, reason: str) -> None:
    """A final refusal by the receiving node: kept with its signed reason, logged and audited, never retried."""
    item.state = OutboxState.REJECTED
    item.reason = reason[:200]
    item.last_error = ""
    logger.warning("node %s rejected message %s: %s", item.peer, item.message_id, reason)
    audit.record(
        action=AuditAction.DELIVERY_REJECTED,
        body=item.message.sender_body,
        target=item.message,
        data={"peer": item.peer, "reason": item.reason, "kind": item.message.kind},
    )


def _fail(items: list[OutboxItem], error: str, now: dt.datetime) -> None:
    """The whole batch failed on the way (network, HTTP, an unusable answer): each row retries later."""
    logger.warning("delivery of %d envelope(s) failed: %s", len(items), error)
    with transaction.atomic():
        for current in _still_held(items).values():
            current.state = OutboxState.FAILED
            current.last_error = error[:2000]
            current.next_attempt_at = now + retry_delay(current.attempts)
            current.updated_at = now
            current.save(update_fields=["state", "last_error", "next_attempt_at", "updated_at"])


def summary() -> dict[str, int]:
    """How many outgoing envelopes are in each state (`cybercoop node outbox`)."""
    counts = {state.value: 0 for state in OutboxState}
    for row in OutboxItem.objects.values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts


def problems(*, limit: int = 50) -> list[OutboxItem]:
    """The failed and rejected envelopes, newest first, with their messages."""
    return list(
        OutboxItem.objects.filter(state__in=[OutboxState.FAILED, OutboxState.REJECTED])
        .select_related("message")
        .order_by("-updated_at", "-pk")[:limit]
    )
