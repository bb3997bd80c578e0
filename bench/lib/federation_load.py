"""The load of `bench/federation.py`, in processes of the sending node (kz) started by it with that node's
environment (bench/lib/federation_nodes.py, `node_env`):

    python bench/lib/federation_load.py send --count N --text-chars C [--rate R] --out FILE
    python bench/lib/federation_load.py deliver --expected N --limit L --batch B --linger MS --out FILE

`send` stores N messages from KZ-MIA to RU-MIA through `exchange.services.send` (kind `fedtest.note`, each a
conversation of its own), which seals each and queues it in the outbox in the same transaction, one after
the other or, with --rate, R a second; it writes when it started and finished and how long each send took.

`deliver` runs the outbox worker's job, `exchange.federation.outbox.deliver_due(limit=L)`, in a loop — the
worker's pass without its sleep — until N envelopes of the outbox are settled (receipted or rejected) or the
deadline passes. After a pass that claimed fewer than L rows it waits MS milliseconds, so that a queue being
filled leaves in batches rather than one envelope at a time. Each POST goes through the real client
(`client.post_json`), timed; at most B (≤ 50, the protocol's limit) envelopes per POST. It writes, for every
pass, the `now` it gave deliver_due (which `OutboxItem.receipted_at` records) and the wall time when the
pass ended, so that the bench can tell when each receipt was actually in hand.

It lives in bench/lib/ so that `make bench`, which runs bench/*.py, does not run it on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import string
import time
import uuid
from pathlib import Path
from typing import Any

KIND = "fedtest.note"
PURPOSES = ["investigation"]
SENDER, RECIPIENT = ("kz", "KZ-MIA"), ("ru", "RU-MIA")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PROTOCOL_CODE = "csto-2014-information-sphere"  # cybercoop.registry.selectors.PROTOCOL_CODE, without Django


def wire_form(text: str, *, seq: int = 1, prev: str | None = None) -> dict[str, Any]:
    """A version 1 message as `wire.to_wire` makes the bench's messages (for the size and the crypto floor)."""
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "conversation": str(uuid.uuid4()),
        "kind": KIND,
        "from": {"node": SENDER[0], "body": SENDER[1]},
        "to": {"node": RECIPIENT[0], "body": RECIPIENT[1]},
        "seq": seq,
        "prev": prev,
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "instrument": PROTOCOL_CODE,
        "marking": "official",
        "purposes": PURPOSES,
        "conditions": [],
        "body": {"text": text},
        "attachments": [],
    }


def text_chars(message_bytes: int) -> int:
    """How many ASCII characters the body's text needs for the signed message (its RFC 8785 form) to be
    `message_bytes` long."""
    import rfc8785

    return max(0, message_bytes - len(rfc8785.dumps(wire_form(""))))


def body_text(chars: int, seed: int) -> str:
    """Text that differs from one message to the next (nothing the bench does compresses it anyway)."""
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + string.digits + " ", k=chars))


def microseconds(at: dt.datetime) -> int:
    """An aware datetime as whole microseconds since the epoch: an exact key, unlike a float timestamp."""
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def _setup() -> None:
    import django

    django.setup()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rusage(cpu_before: float) -> dict[str, float | None]:
    """This process's CPU time since `cpu_before` (its start-up, Django's imports, left out), and that of its
    PostgreSQL backend (read from /proc before the backend goes away)."""
    import os

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        backend_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:  # PostgreSQL on another machine
        backend_cpu = None
    return {"cpu_seconds": _cpu() - cpu_before, "backend_pid": backend, "backend_cpu_seconds": backend_cpu}


class Statements:
    """Counts the SQL statements this process sends (a Django execute wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def send(args: argparse.Namespace) -> dict[str, Any]:
    _setup()
    from django.db import connection

    from cybercoop.exchange import services
    from cybercoop.registry.models import Body

    sender = Body.objects.get(code=SENDER[1])
    recipient = Body.objects.get(code=RECIPIENT[1])
    texts = [body_text(args.text_chars, seed) for seed in range(16)]  # made before the clock starts
    laps: list[float] = []
    statements = Statements()
    cpu_before = _cpu()
    started = time.time()
    for i in range(args.count):
        if args.rate:  # paced: message i leaves at i / rate seconds, unless the sender is behind
            time.sleep(max(0.0, started + i / args.rate - time.time()))
        lap = time.perf_counter()
        with connection.execute_wrapper(statements):
            services.send(
                conversation=uuid.uuid4(),
                kind=KIND,
                sender_body=sender,
                recipient_body=recipient,
                sender_user=None,
                instrument=PROTOCOL_CODE,
                marking="official",
                purposes=PURPOSES,
                conditions=[],
                body={"text": texts[i % len(texts)]},
            )
        laps.append(time.perf_counter() - lap)
    finished = time.time()
    return {
        "started": started,
        "finished": finished,
        "laps": laps,
        "statements": statements.count,
        **_rusage(cpu_before),
    }


def deliver(args: argparse.Namespace) -> dict[str, Any]:
    _setup()
    from django.db import connection

    from cybercoop.core import clock
    from cybercoop.exchange.federation import client, outbox
    from cybercoop.exchange.models import OutboxItem, OutboxState

    if args.batch < outbox.MAX_BATCH_ENVELOPES:
        outbox.MAX_BATCH_ENVELOPES = args.batch  # read by outbox._batches on every call
    posts: list[tuple[int, int, float]] = []  # (envelopes, bytes of the envelopes, seconds)

    def timed_post(url: str, payload: dict[str, Any], timeout: float) -> Any:
        start = time.perf_counter()
        answer = client.post_json(url, payload, timeout)
        envelopes = payload["envelopes"]
        posts.append((len(envelopes), sum(len(e) for e in envelopes), time.perf_counter() - start))
        return answer

    settled_states = (OutboxState.RECEIPTED, OutboxState.REJECTED)
    passes: list[tuple[int, float, int, float]] = []  # (now in µs since the epoch, ended at, claimed, seconds)
    deadline = time.monotonic() + args.deadline
    idle = 0
    statements = Statements()
    cpu_before = _cpu()
    started = time.time()
    while time.monotonic() < deadline:
        now = clock.now()
        lap = time.perf_counter()
        with connection.execute_wrapper(statements):
            claimed = outbox.deliver_due(limit=args.limit, now=now, post=timed_post)
        ended = time.time()
        if claimed:
            passes.append((microseconds(now), ended, claimed, time.perf_counter() - lap))
        else:
            idle += 1
        if claimed < args.limit:
            if OutboxItem.objects.filter(state__in=settled_states).count() >= args.expected:
                break
            time.sleep(args.linger / 1000)
    return {
        "started": started,
        "finished": time.time(),
        "passes": passes,
        "posts": posts,
        "idle_passes": idle,
        "statements": statements.count,  # those of deliver_due only, not of the loop's own count query
        **_rusage(cpu_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    roles = parser.add_subparsers(dest="role", required=True)
    sending = roles.add_parser("send")
    sending.add_argument("--count", type=int, required=True)
    sending.add_argument("--text-chars", type=int, required=True)
    sending.add_argument("--rate", type=float, default=0.0, help="messages per second of this sender (0: at once)")
    delivering = roles.add_parser("deliver")
    delivering.add_argument("--expected", type=int, required=True)
    delivering.add_argument("--limit", type=int, default=100)
    delivering.add_argument("--batch", type=int, default=50)
    delivering.add_argument("--linger", type=float, default=20.0)
    delivering.add_argument("--deadline", type=float, default=900.0)
    for role in (sending, delivering):
        role.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = send(args) if args.role == "send" else deliver(args)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
