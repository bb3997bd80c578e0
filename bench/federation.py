"""Benchmark: messages between two nodes on PostgreSQL, sent to receipted, against this machine's floor (issue 5).

    .venv/bin/python bench/federation.py                     # 2,000 messages, or $BENCH_FEDERATION_MESSAGES
                                                             # (what `make bench` runs: about a minute)
    .venv/bin/python bench/federation.py --messages 10000    # the issue's figure (about 4 minutes on 2 CPUs)
    .venv/bin/python bench/federation.py --messages 2000 --rate 30 --label paced   # latency below saturation
    .venv/bin/python bench/federation.py --deliverers 3 --web-workers 3 --batch 10 --label shape   # other shapes

Two real nodes (bench/lib/federation_nodes.py), kz and ru, each with a fresh PostgreSQL database on
127.0.0.1:5432, its data folder, keys made by `cybercoop node init`, a registry that lists both nodes (built
as the federation's tests build it, under their settings `tests.exchange.peer_settings`, which install the
test-only kind `fedtest.`) and a gunicorn server (`cybercoop serve`); each checks the other with a signed
`cybercoop node check` before anything is measured. The databases are dropped at the end unless --keep.

1. The floor, in the same run, before the load: --floor-ops (default: as many as --messages) seal + open
   round trips of a message of the bench's size on one core, with the nodes' own keys (`envelope.seal`:
   RFC 8785, Ed25519 JWS, ECDH-ES+A256KW/A256GCM JWE; `envelope.open_envelope`: decrypt, verify, check),
   also with the receipt signed and verified as every delivered message has it; and as many single-row
   INSERT + COMMIT (psycopg, autocommit, one connection) on the same PostgreSQL, into a temporary table —
   which PostgreSQL does not WAL-log, so its commits wait for no disk flush — and into an ordinary table,
   whose commits are durable like the nodes'. The floor is the smaller of the round trips and the durable
   commits per second.
2. The load (bench/lib/federation_load.py), in processes of node kz: --senders store --messages messages of
   --message-bytes (2 KB: the signed message's RFC 8785 form) from KZ-MIA to RU-MIA through
   `exchange.services.send`, which seals each and queues it in the outbox in its transaction — as fast as
   they can, or --rate messages a second in all; meanwhile --deliverers run the worker's job
   `outbox.deliver_due(limit=--limit)` in a loop (the worker's pass without its 5 s sleep; after a pass that
   found fewer than --limit rows they wait --linger ms), posting at most --batch (≤ 50) envelopes per
   request to node ru, which checks, stores and applies each (a transaction per envelope) and signs its
   receipt; kz verifies and keeps every receipt. Each message is a conversation of its own, so that parallel
   deliverers never post a conversation out of order (a message that arrives before its predecessor waits
   there, and is asked for again only after the 15–30 s backoff).

Figures: messages per second end to end (receipted ÷ time from the first send to the last receipt; and
steady, between the 10th and the 90th percentile receipt); the latency of each message, from its
`OutboxItem.created_at` (sealed) to `receipted_at` (the receipt verified and about to be stored),
p50/p95/max, with the part spent in the delivery pass that got it (from the pass's start); sends per
second and the SQL statements of a send; POSTs, the envelopes per POST (the batch size used) and the time a
POST takes per envelope; CPU milliseconds per message of each part (senders, deliverers, the receiving
server, PostgreSQL) and the machine's busy share; commits, rows written (by table) and WAL flushes per
message; the ratio of the end-to-end rate to the floor. Prints them and writes var/bench/federation.json
(federation-LABEL.json with --label) with the machine, its load average before and after, and the settings.
`--synchronous-commit off` lets the nodes' commits skip the disk flush: a diagnostic of what the flushes
cost, not the figure. Without a PostgreSQL server on 127.0.0.1:5432 it says so and stops.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from lib import federation_load, federation_nodes
from lib.federation_nodes import Node

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
LOAD = Path(federation_load.__file__)
TARGET_PER_SECOND = 1000  # the aim
STEADY = (0.10, 0.90)  # the share of receipts between which the steady rate is measured


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, help="messages sent (default $BENCH_FEDERATION_MESSAGES or 2000)")
    parser.add_argument("--message-bytes", type=int, default=2048, help="size of a signed message (default 2048)")
    parser.add_argument("--senders", type=int, default=1, help="processes calling services.send (default 1)")
    parser.add_argument("--deliverers", type=int, default=2, help="processes looping deliver_due (default 2)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers of each node (default 2)")
    parser.add_argument("--limit", type=int, default=100, help="deliver_due's limit: rows claimed per pass (100)")
    parser.add_argument("--batch", type=int, default=50, help="envelopes per POST, at most 50 (default 50)")
    parser.add_argument("--linger", type=float, default=20.0, help="ms to wait after a short pass (default 20)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s the senders offer (default 0: at once)")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="send everything first, then start the deliverers: the transport's rate on a backlog, without the senders",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="off: the nodes' commits do not wait for the disk (a diagnostic, not the figure; default on)",
    )
    parser.add_argument("--floor-ops", type=int, help="crypto round trips and commits of the floor (--messages)")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds the load may take (default 900)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and data folders; print where")
    parser.add_argument("--label", help="write var/bench/federation-LABEL.json instead")
    args = parser.parse_args()
    if args.messages is None:
        args.messages = int(os.environ.get("BENCH_FEDERATION_MESSAGES") or 2000)
    if args.floor_ops is None:
        args.floor_ops = args.messages
    if not 1 <= args.batch <= 50:
        parser.error("--batch is 1 to 50: the receiving node refuses larger batches")
    return args


def _percentiles(values: list[float], scale: float = 1000.0, digits: int = 2) -> dict[str, float]:
    """p50, p95 and max of `values` (seconds, shown in ms by default), by sorting them."""
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": round(ordered[len(ordered) // 2] * scale, digits),
        "p95": round(ordered[int(len(ordered) * 0.95)] * scale, digits),
        "max": round(ordered[-1] * scale, digits),
    }


# --- the floor ------------------------------------------------------------------------------------------------


def crypto_floor(nodes: dict[str, Node], *, rounds: int, text_chars: int) -> dict[str, Any]:
    """seal + open_envelope round trips on one core (this process), with the nodes' own keys; then the same with
    the receipt signed by the receiver and verified by the sender, as every delivered message also has."""
    from cybercoop.core import clock
    from cybercoop.exchange.federation import envelope, keys

    kz, ru = (keys.from_private_json((nodes[c].data_dir / "node" / "keys.json").read_bytes()) for c in ("kz", "ru"))
    kz_public, ru_public = kz.public(), ru.public()
    messages = [federation_load.wire_form(federation_load.body_text(text_chars, seed)) for seed in range(16)]
    for message in messages[:4]:  # warm up (imports, caches)
        envelope.open_envelope(
            envelope.seal(message, sender=kz, recipient=ru_public), recipient=ru, sender_keys=lambda _: kz_public
        )
    seal_laps, open_laps, receipt_laps = [], [], []
    sizes = set()
    for i in range(rounds):
        message = dict(messages[i % len(messages)], id=messages[0]["id"][:-6] + f"{i:06x}")
        start = time.perf_counter()
        sealed = envelope.seal(message, sender=kz, recipient=ru_public)
        sealed_at = time.perf_counter()
        opened = envelope.open_envelope(sealed, recipient=ru, sender_keys=lambda _: kz_public)
        opened_at = time.perf_counter()
        receipt = envelope.receipt(
            message_id=message["id"],
            envelope_sha256=opened.envelope_sha256,
            status="accepted",
            received_at=clock.now(),
            node=ru,
        )
        envelope.verify_receipt(
            receipt,
            expected_message_id=message["id"],
            expected_envelope_sha256=opened.envelope_sha256,
            signer=ru_public,
        )
        receipt_laps.append(time.perf_counter() - opened_at)
        seal_laps.append(sealed_at - start)
        open_laps.append(opened_at - sealed_at)
        sizes.add(len(opened.jws))
    round_trips = [s + o for s, o in zip(seal_laps, open_laps, strict=True)]
    with_receipts = [r + t for r, t in zip(round_trips, receipt_laps, strict=True)]
    return {
        "rounds": rounds,
        "signed_message_bytes": len(envelope.canonical(messages[0])),
        "envelope_bytes": len(sealed),
        "seal_ms": _percentiles(seal_laps, digits=3),
        "open_ms": _percentiles(open_laps, digits=3),
        "round_trips_per_second": round(rounds / sum(round_trips)),
        "with_receipt_ms": _percentiles(with_receipts, digits=3),
        "with_receipt_per_second": round(rounds / sum(with_receipts)),
    }


def commit_floor(database_url: str, *, rounds: int) -> dict[str, Any]:
    """Single-row INSERT + COMMIT (autocommit), one connection, into a temporary and into a logged table."""
    results: dict[str, Any] = {"rounds": rounds}
    row = "x" * 200
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CREATE TEMPORARY TABLE bench_floor_temp (id bigserial PRIMARY KEY, v text)")
        connection.execute("CREATE TABLE bench_floor_logged (id bigserial PRIMARY KEY, v text)")
        try:
            for table, name in (("bench_floor_temp", "temp_table"), ("bench_floor_logged", "logged_table")):
                statement = f"INSERT INTO {table} (v) VALUES (%s)"
                for _ in range(50):
                    connection.execute(statement, (row,), prepare=True)
                laps = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    connection.execute(statement, (row,), prepare=True)
                    laps.append(time.perf_counter() - start)
                results[name] = {"per_second": round(rounds / sum(laps)), "ms": _percentiles(laps, digits=3)}
        finally:
            connection.execute("DROP TABLE bench_floor_logged")
        settings = connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'shared_buffers', 'max_connections')"
        ).fetchall()
        results["postgresql"] = {
            "version": connection.execute("SHOW server_version").fetchone()[0],
            **dict(settings),
        }
    return results


# --- the load -------------------------------------------------------------------------------------------------


def _database_stats(nodes: dict[str, Node]) -> dict[str, Any]:
    """Cumulative counters: per database (transactions, rows written, and per table), and the server's WAL."""
    stats: dict[str, Any] = {}
    with federation_nodes.maintenance() as connection:
        for code, node in nodes.items():
            row = connection.execute(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = %s",
                (node.database,),
            ).fetchone()
            stats[code] = dict(zip(("commits", "rollbacks", "inserted", "updated"), row, strict=True))
        wal = connection.execute("SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal").fetchone()
    stats["wal"] = dict(zip(("records", "bytes", "writes", "syncs"), (int(v) for v in wal), strict=True))
    for code, node in nodes.items():
        with psycopg.connect(node.database_url, autocommit=True) as connection:
            for table, inserted, updated in connection.execute(
                "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables"
            ).fetchall():
                stats[f"{code}:{table}"] = {"inserted": inserted, "updated": updated}
    return stats


def _cpu_snapshot(nodes: dict[str, Node]) -> dict[str, Any]:
    return {
        "at": time.monotonic(),
        "machine": federation_nodes.machine_jiffies(),
        "servers": {
            code: {pid: federation_nodes.cpu_seconds(pid) for pid in node.server_pids()} for code, node in nodes.items()
        },
        "postgres": {
            pid: federation_nodes.cpu_seconds(pid)
            for pid in federation_nodes.postgres_pids(tuple(node.database for node in nodes.values()))
        },
    }


def _cpu_spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    def spent(first: dict[int, float], last: dict[int, float]) -> float:
        return sum(seconds - first.get(pid, 0.0) for pid, seconds in last.items())

    def postgres(first: dict[int, float], last: dict[int, float]) -> dict[int, float]:
        return {pid: seconds - first.get(pid, 0.0) for pid, seconds in last.items()}

    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    return {
        "wall_seconds": after["at"] - before["at"],
        "machine_busy_share": round(busy / total, 3) if total else None,
        "servers": {code: spent(before["servers"][code], after["servers"].get(code, {})) for code in before["servers"]},
        "postgres": postgres(before["postgres"], after["postgres"]),
    }


def _spawn(node: Node, role: str, out: Path, *options: str) -> subprocess.Popen[bytes]:
    with out.with_suffix(".log").open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, str(LOAD), role, "--out", str(out), *options],
            env=node.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def run_load(nodes: dict[str, Node], args: argparse.Namespace, work: Path, text_chars: int) -> dict[str, Any]:
    """Senders and deliverers of node kz at the same time, until every message is receipted (or the deadline)."""
    sender = nodes["kz"]
    stats_before = _database_stats(nodes)
    cpu_before = _cpu_snapshot(nodes)

    def start_deliverers() -> list[subprocess.Popen[bytes]]:
        return [
            _spawn(
                sender,
                "deliver",
                work / f"deliver-{i}.json",
                *("--expected", str(args.messages), "--limit", str(args.limit), "--batch", str(args.batch)),
                *("--linger", str(args.linger), "--deadline", str(args.deadline)),
            )
            for i in range(args.deliverers)
        ]

    deliverers = [] if args.backlog else start_deliverers()
    shares = [args.messages // args.senders + (i < args.messages % args.senders) for i in range(args.senders)]
    rate = str(args.rate / args.senders)
    senders = [
        _spawn(
            sender,
            "send",
            work / f"send-{i}.json",
            "--count",
            str(count),
            "--text-chars",
            str(text_chars),
            "--rate",
            rate,
        )
        for i, count in enumerate(shares)
    ]
    # PostgreSQL backends come and go (the servers' connections are renewed after 60 s, CONN_MAX_AGE): keep the
    # last CPU time seen of each, sampled twice a second, so that one that ended still counts.
    seen: dict[int, float] = {}
    failed = []
    if args.backlog:  # every message queued before the first delivery
        for process in senders:
            process.wait()
        deliverers = start_deliverers()
    for i, process in enumerate(senders + deliverers):
        while True:
            seen.update(_cpu_snapshot(nodes)["postgres"])
            try:
                code = process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if time.monotonic() - cpu_before["at"] > args.deadline + 120:
                    process.kill()
                continue
            if code != 0:
                failed.append(process.args[2] + f" #{i}")
            break
    cpu_after = _cpu_snapshot(nodes)
    cpu_after["postgres"] = {**seen, **cpu_after["postgres"]}
    # An idle backend publishes its statistics only after 10 s; one that ends, at once: stop the servers (their
    # part is done) and let their connections go.
    for node in nodes.values():
        node.stop()
    time.sleep(1.0)
    stats_after = _database_stats(nodes)
    if failed:
        logs = "\n".join(p.read_text()[-3000:] for p in sorted(work.glob("*.log")) if p.stat().st_size)
        raise RuntimeError(f"load processes failed: {', '.join(failed)}\n{logs}")
    sends = [json.loads((work / f"send-{i}.json").read_text()) for i in range(args.senders)]
    delivers = [json.loads((work / f"deliver-{i}.json").read_text()) for i in range(args.deliverers)]
    return {
        "sends": sends,
        "delivers": delivers,
        "cpu": _cpu_spent(cpu_before, cpu_after),
        "stats": {
            key: {k: value - stats_before.get(key, {}).get(k, 0) for k, value in stats_after[key].items()}
            for key in stats_after
        },
    }


def outcome(nodes: dict[str, Node], load: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The figures of the load, from what the processes wrote and what both databases hold."""
    n = args.messages
    epoch = federation_load.EPOCH
    with psycopg.connect(nodes["kz"].database_url) as connection:
        states = dict(connection.execute("SELECT state, count(*) FROM exchange_outboxitem GROUP BY state").fetchall())
        rows = connection.execute(
            "SELECT created_at, receipted_at, attempts, length(envelope), receipt <> '' FROM exchange_outboxitem "
            "WHERE state = 'receipted'"
        ).fetchall()
        errors = connection.execute(
            "SELECT last_error, count(*) FROM exchange_outboxitem WHERE last_error <> '' GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    with psycopg.connect(nodes["ru"].database_url) as connection:
        inbound = dict(
            connection.execute("SELECT state, count(*) FROM exchange_inboundenvelope GROUP BY state").fetchall()
        )
        applied_messages = connection.execute("SELECT count(*) FROM exchange_message").fetchone()[0]
    receipts, latencies, in_flight = [], [], []
    pass_starts = sorted(now_us / 1e6 for d in load["delivers"] for now_us, _ended, _claimed, _s in d["passes"])
    for created_at, receipted_at, _attempts, _length, _has_receipt in rows:
        got = (receipted_at - epoch).total_seconds()
        receipts.append(got)
        latencies.append((receipted_at - created_at).total_seconds())
        started = bisect.bisect_right(pass_starts, got) - 1  # the last pass to start before the receipt
        if started >= 0:
            in_flight.append(got - pass_starts[started])
    receipts.sort()
    first_send = min(s["started"] for s in load["sends"])
    last_send = max(s["finished"] for s in load["sends"])
    send_laps = [lap for s in load["sends"] for lap in s["laps"]]
    posts = [p for d in load["delivers"] for p in d["posts"]]
    passes = [p for d in load["delivers"] for p in d["passes"]]
    receipted = len(rows)
    span = (receipts[-1] - first_send) if receipts else 0.0
    first_delivery = min(d["started"] for d in load["delivers"])
    delivery_span = (receipts[-1] - first_delivery) if receipts else 0.0
    lo, hi = (
        (receipts[int(receipted * STEADY[0])], receipts[int(receipted * STEADY[1]) - 1]) if receipted >= 10 else (0, 0)
    )
    cpu = load["cpu"]
    # The load processes' backends, as each read it before it ended (one still ending may be in the snapshot
    # too: it is counted once), then the others: the servers' backends and PostgreSQL's helpers.
    loaders = load["sends"] + load["delivers"]
    reported = {p["backend_pid"] for p in loaders}
    postgres_cpu = sum(p["backend_cpu_seconds"] or 0.0 for p in loaders) + sum(
        seconds for pid, seconds in cpu["postgres"].items() if pid not in reported
    )
    per_message_ms = {
        "senders": sum(s["cpu_seconds"] for s in load["sends"]) / n * 1000,
        "deliverers": sum(d["cpu_seconds"] for d in load["delivers"]) / n * 1000,
        "receiving_server": cpu["servers"]["ru"] / n * 1000,
        "sending_server": cpu["servers"]["kz"] / n * 1000,
        "postgresql": postgres_cpu / n * 1000,
    }
    per_message_ms["total"] = sum(per_message_ms.values())
    stats = load["stats"]
    return {
        "receipted": receipted,
        "every_receipt_kept": receipted == n and all(r[4] for r in rows),
        "outbox_states": states,
        "receiver_inbound_states": inbound,
        "receiver_messages_stored": applied_messages,
        "attempts_max": max((r[2] for r in rows), default=0),
        "errors_seen": [{"last_error": e[:200], "rows": c} for e, c in errors[:5]],
        "envelope_bytes_mean": round(sum(r[3] for r in rows) / receipted) if receipted else None,
        "seconds_first_send_to_last_receipt": round(span, 2),
        "end_to_end_per_second": round(receipted / span, 1) if span else None,
        # From the first deliverer's start: with --backlog, the transport's own rate, the senders left out.
        "delivered_per_second": round(receipted / delivery_span, 1) if delivery_span else None,
        "steady_per_second": round((receipted * (STEADY[1] - STEADY[0])) / (hi - lo), 1) if hi > lo else None,
        "latency_ms": _percentiles(latencies, digits=1),
        "latency_in_delivery_pass_ms": _percentiles(in_flight, digits=1),
        "sending": {
            "seconds": round(last_send - first_send, 2),
            "per_second": round(n / (last_send - first_send), 1),
            "send_ms": _percentiles(send_laps),
            "sql_statements_per_message": round(sum(s["statements"] for s in load["sends"]) / n, 1),
        },
        "delivering": {
            "passes": len(passes),
            "idle_passes": sum(d["idle_passes"] for d in load["delivers"]),
            "rows_per_pass_mean": round(sum(p[2] for p in passes) / len(passes), 1) if passes else None,
            "pass_ms": _percentiles([p[3] for p in passes]),
            "posts": len(posts),
            "envelopes_per_post_mean": round(sum(p[0] for p in posts) / len(posts), 1) if posts else None,
            "envelopes_per_post_max": max((p[0] for p in posts), default=0),
            "post_ms": _percentiles([p[2] for p in posts]),
            "post_ms_per_envelope_mean": round(sum(p[2] for p in posts) / sum(p[0] for p in posts) * 1000, 2)
            if posts
            else None,
            "seconds_after_last_send": round(receipts[-1] - last_send, 2) if receipts else None,
            "sql_statements_per_message": round(sum(d["statements"] for d in load["delivers"]) / n, 1),
        },
        "cpu": {
            "wall_seconds": round(cpu["wall_seconds"], 2),
            "machine_busy_share": cpu["machine_busy_share"],
            "cores": os.cpu_count(),
            "ms_per_message": {k: round(v, 3) for k, v in per_message_ms.items()},
        },
        "database": {
            "commits_per_message": {code: round(stats[code]["commits"] / n, 2) for code in ("kz", "ru")},
            "rows_inserted_per_message": {code: round(stats[code]["inserted"] / n, 2) for code in ("kz", "ru")},
            "rows_updated_per_message": {code: round(stats[code]["updated"] / n, 2) for code in ("kz", "ru")},
            "wal_syncs_per_message": round(stats["wal"]["syncs"] / n, 2),
            "wal_kib_per_message": round(stats["wal"]["bytes"] / n / 1024, 1),
            "rows_written_per_message_by_table": {
                key: {k: round(v / n, 2) for k, v in counts.items() if v}
                for key, counts in sorted(stats.items())
                if ":" in key and (counts["inserted"] or counts["updated"])
            },
        },
    }


# --- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    args = _arguments()
    if not federation_nodes.postgres_answers():
        print("federation: no PostgreSQL answers on 127.0.0.1:5432; skipped")
        return
    began = time.monotonic()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="cybercoop-bench-federation-"))
    text_chars = federation_load.text_chars(args.message_bytes)
    print(
        f"federation: {args.messages:,} messages of {args.message_bytes} bytes; {args.senders} sender(s), "
        f"{args.deliverers} deliverer(s), {args.web_workers} web worker(s) per node; load average "
        + " ".join(f"{x:.2f}" for x in load_before),
        flush=True,
    )
    nodes: dict[str, Node] = {}
    try:
        nodes = federation_nodes.start_pair(
            work,
            prefix=f"cybercoop_bench_fed_{os.getpid()}",
            web_workers=args.web_workers,
            synchronous_commit=args.synchronous_commit == "on",
        )
        setup_seconds = time.monotonic() - began
        print(f"  two nodes up and checking each other in {setup_seconds:.1f} s; measuring the floor", flush=True)
        floor_began = time.monotonic()
        crypto = crypto_floor(nodes, rounds=args.floor_ops, text_chars=text_chars)
        commits = commit_floor(nodes["kz"].database_url, rounds=args.floor_ops)
        floor_seconds = time.monotonic() - floor_began
        print(
            f"  floor: {crypto['round_trips_per_second']:,} seal+open/s on one core "
            f"({crypto['with_receipt_per_second']:,}/s with the receipt signed and verified); "
            f"{commits['logged_table']['per_second']:,} durable commits/s, "
            f"{commits['temp_table']['per_second']:,} into a temporary table",
            flush=True,
        )
        load_began = time.monotonic()
        load = run_load(nodes, args, work, text_chars)
        load_seconds = time.monotonic() - load_began
        result = outcome(nodes, load, args)
    finally:
        federation_nodes.stop_pair(nodes, keep=args.keep)
        if args.keep:
            print(f"kept: {work} and the databases " + ", ".join(n.database for n in nodes.values()))
        else:
            shutil.rmtree(work, ignore_errors=True)

    floor = min(crypto["round_trips_per_second"], commits["logged_table"]["per_second"])
    rate = result["end_to_end_per_second"] or 0.0
    report = {
        "benchmark": "federation",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "messages": args.messages,
            "message_bytes": args.message_bytes,
            "senders": args.senders,
            "deliverers": args.deliverers,
            "web_workers_per_node": args.web_workers,
            "deliver_due_limit": args.limit,
            "backlog": args.backlog,
            "batch_envelopes": args.batch,
            "linger_ms": args.linger,
            "offered_rate_per_second": args.rate or "as fast as the senders go",
            "synchronous_commit": args.synchronous_commit,
        },
        "floor": {
            "crypto": crypto,
            "commits": commits,
            "messages_per_second": floor,
            "note": "the smaller of the seal+open round trips on one core and the durable (logged table) single-row "
            "commits on one connection; a temporary table's commits wait for no WAL flush",
        },
        "result": result,
        "target_per_second": TARGET_PER_SECOND,
        "ratio_to_floor": round(rate / floor, 3) if floor else None,
        "ratio_to_floor_temp_table_commits": round(
            rate / min(crypto["round_trips_per_second"], commits["temp_table"]["per_second"]), 3
        ),
        "meets_target": rate >= TARGET_PER_SECOND,
        "meets_half_the_floor": rate >= floor / 2,
        "seconds": {
            "setup": round(setup_seconds, 1),
            "floor": round(floor_seconds, 1),
            "load": round(load_seconds, 1),
            "total": round(time.monotonic() - began, 1),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / (f"federation-{args.label}.json" if args.label else "federation.json")
    out.write_text(json.dumps(report, indent=2))
    _print(report)
    print(f"written to {out.relative_to(ROOT)}")


def _print(report: dict[str, Any]) -> None:
    r, d = report["result"], report["result"]["delivering"]
    s = report["settings"]
    print(
        f"  {r['receipted']:,} of {s['messages']:,} receipted in {r['seconds_first_send_to_last_receipt']} s: "
        f"{r['end_to_end_per_second']} messages/s end to end ({r['steady_per_second']}/s steady), "
        f"latency p50 {r['latency_ms'].get('p50')} ms, p95 {r['latency_ms'].get('p95')} ms, "
        f"max {r['latency_ms'].get('max')} ms; {r['delivered_per_second']}/s from the first delivery"
        + (" (a backlog sent first)" if s.get("backlog") else "")
    )
    print(
        f"  sending {r['sending']['per_second']}/s (send p50 {r['sending']['send_ms']['p50']} ms, "
        f"p95 {r['sending']['send_ms']['p95']} ms); delivering: {d['posts']:,} POSTs of "
        f"{d['envelopes_per_post_mean']} envelopes on average (at most {s['batch_envelopes']}), "
        f"POST p50 {d['post_ms'].get('p50')} ms = {d['post_ms_per_envelope_mean']} ms per envelope; "
        f"last receipt {d['seconds_after_last_send']} s after the last send"
    )
    c, db = r["cpu"], r["database"]
    print(
        "  CPU per message (ms): "
        + ", ".join(f"{k} {v}" for k, v in c["ms_per_message"].items())
        + f"; machine busy {c['machine_busy_share']:.0%} of {c['cores']} cores"
    )
    print(
        f"  commits per message: kz {db['commits_per_message']['kz']}, ru {db['commits_per_message']['ru']}; "
        f"WAL flushes per message {db['wal_syncs_per_message']}"
    )
    print(
        f"  floor {report['floor']['messages_per_second']:,}/s: end to end is {report['ratio_to_floor']:.0%} of it "
        f"(aim: 50 %, and {report['target_per_second']:,}/s); every receipt kept: {r['every_receipt_kept']}; "
        f"took {report['seconds']['total']} s"
    )


if __name__ == "__main__":
    main()
