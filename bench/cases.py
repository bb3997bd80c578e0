"""Benchmark: the inbox, the case page and the deadline scan with many cases in PostgreSQL (issue 4).

    .venv/bin/python bench/cases.py                  # 100,000 cases, or $BENCH_CASES (what `make bench` runs)
    .venv/bin/python bench/cases.py --full           # 1,000,000 cases: the issue's figure (up to an hour)
    .venv/bin/python bench/cases.py --cases 20000    # a quick check
    .venv/bin/python bench/cases.py --database-url postgres://postgres@127.0.0.1:5432/NAME   # a database filled
                                                     # before by `bench/lib/generate_cases.py --keep`

The number of cases is --cases if given, else $BENCH_CASES if set, else 1,000,000 with --full, else 100,000.
The database is created, migrated, seeded and filled by bench/lib/generate_cases.py (COPY: about 30 s for
100,000 cases, 5 to 10 minutes for a million on 2 CPUs) and dropped at the end unless --keep. Then, in this
process (django.setup() on that database), each measurement runs --warm-up times, then --repetitions times
(fewer if it would take longer than --budget seconds, but at least 10), timed with time.perf_counter, for
officers of RU-MIA, KZ-MIA and BY-MIA:

- the inbox list: the first 50 rows of `selectors.inbox` with the running clocks the list shows; the same with
  a common word searched, with an incoming number searched, and with the overdue filter; the paginator's
  count (capped at core.paging.LIST_CAP) and the two deadline counters the page shows above the list;
- the case page: `selectors.get_case` + `selectors.messages` (with attachments) + `selectors.clocks`, for a
  different random case of the body each time;
- the rendered pages /cases/incoming/ (also searched and filtered) and /cases/<id>/, through Django's test
  Client, when those URLs resolve;
- the deadline scan: the worker's query (the ids of `selectors.due_clocks(limit=100)`, as
  `services.process_due_clocks` runs it) in a transaction rolled back, as the data stands (the worker kept up
  but for the last hour), and with a week of reminders not sent (worker down): the query per batch of 100 and
  whole `process_due_clocks` batches until the backlog is drained (rolled back too).

Targets (the issue): p95 under 50 ms for the pages, under 200 ms for the scan. Prints p50/p95/max, writes
var/bench/cases.json with the machine and the database, and EXPLAIN (ANALYZE, BUFFERS) plans of the main
queries to var/bench/cases-plans.txt. Without a PostgreSQL server on 127.0.0.1:5432 it says so and stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lib import generate_cases

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
USERS = ("ru.officer", "kz.officer", "by.officer")
PAGE_SIZE = 50
PAGE_TARGET_MS = 50
SCAN_TARGET_MS = 200
COMMON_WORD = "фишинг"  # in about one subject in twelve
BACKLOG = dt.timedelta(days=7)
MIN_LAPS = 10  # a measurement slower than its budget allows still gets this many laps (its p95 is then its max)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, help="number of cases (default: $BENCH_CASES, or see --full)")
    parser.add_argument("--full", action="store_true", help="1,000,000 cases unless --cases or $BENCH_CASES")
    parser.add_argument("--database-url", help="measure this database, filled before, instead of creating one")
    parser.add_argument("--keep", action="store_true", help="keep the database created and print its URL")
    parser.add_argument("--messages-for", type=int, help="give messages only to this many most recent cases")
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--budget", type=float, default=60, help="seconds per measurement at most (default 60)")
    parser.add_argument("--label", help="write var/bench/cases-LABEL.json and cases-LABEL-plans.txt instead")
    args = parser.parse_args()
    if args.cases is None:
        default = 1_000_000 if args.full else 100_000
        args.cases = int(os.environ.get("BENCH_CASES") or default)
    return args


def _postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


# --- timing -------------------------------------------------------------------------------------------------------


class Bench:
    """Runs the measurements and keeps their figures."""

    def __init__(self, *, repetitions: int, warm_up: int, budget: float) -> None:
        self.repetitions, self.warm_up, self.budget = repetitions, warm_up, budget
        self.results: list[dict[str, Any]] = []

    def measure(
        self, name: str, run: Callable[[], int], *, user: str = "", target_ms: float | None = None, unit: str = "rows"
    ) -> dict[str, Any]:
        """Time `run` (which returns how many rows, or bytes, it got); print and keep p50/p95/max."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        warm_until = time.perf_counter() + self.budget / 4
        for _ in range(self.warm_up):
            run()
            if time.perf_counter() > warm_until:
                break
        laps: list[float] = []
        sizes: list[int] = []
        deadline = time.perf_counter() + self.budget
        while len(laps) < self.repetitions and (len(laps) < MIN_LAPS or time.perf_counter() < deadline):
            start = time.perf_counter()
            sizes.append(run())
            laps.append(time.perf_counter() - start)
        with CaptureQueriesContext(connection) as captured:
            run()
        return self.keep(name, laps, sizes, user=user, target_ms=target_ms, unit=unit, queries=len(captured))

    def keep(
        self,
        name: str,
        laps: list[float],
        sizes: list[int],
        *,
        user: str = "",
        target_ms: float | None = None,
        unit: str = "rows",
        queries: int | None = None,
    ) -> dict[str, Any]:
        """Figures of laps timed here or elsewhere (the batches of a drained backlog, each run once)."""
        ordered = sorted(laps)
        result: dict[str, Any] = {
            "measurement": name,
            "user": user,
            "n": len(laps),
            "p50_ms": round(ordered[len(laps) // 2] * 1000, 2),
            "p95_ms": round(ordered[int(len(laps) * 0.95)] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2),
            unit: round(sum(sizes) / len(sizes), 1),
            "queries": queries,
            "target_ms": target_ms,
        }
        verdict = ""
        if target_ms is not None:
            result["meets_target"] = result["p95_ms"] < target_ms
            verdict = "  ok" if result["meets_target"] else f"  MISSES {target_ms} ms"
        self.results.append(result)
        print(
            f"  {name:<26} {user:<11} n={result['n']:<4} p50={result['p50_ms']:>8.2f}  p95={result['p95_ms']:>8.2f}  "
            f"max={result['max_ms']:>8.2f} ms  {unit}={result[unit]:g}"
            + (f" queries={queries}" if queries is not None else "")
            + verdict,
            flush=True,
        )
        return result


# --- the measurements (Django is set up from here on) ------------------------------------------------------


def _inbox_rows(queryset: Any, now: dt.datetime) -> int:
    """The first page as the list reads it (assistance.views): the list's columns of 50 cases, their running
    clocks and the bodies they name; then each row's other side, state, next deadline and overdue flag."""
    from cybercoop.assistance import rules, selectors

    page = list(selectors.as_list_rows(queryset)[:PAGE_SIZE])
    clocks = selectors.running_clocks(case_ids=[case["id"] for case in page])
    bodies = selectors.bodies_by_id({case["requesting_body_id"] for case in page})
    states = dict(rules.CaseState.choices)
    rows = []
    for case in page:
        running = clocks[case["id"]]
        upcoming = [c for c in running if c.obligatory or c.due_at > now]
        body = bodies[case["requesting_body_id"]]
        rows.append(
            (
                case["outgoing_number"],
                case["subject"],
                states[case["state"]],
                body.name,
                body.party.name,
                upcoming[0].due_at if upcoming else None,
                any(c.obligatory and c.due_at <= now for c in running),
            )
        )
    return len(rows)


def _deadline_counts(cases: Any, now: dt.datetime) -> int:
    """The two counters above the list (overdue, due within three days), as assistance.views shows them."""
    from cybercoop.assistance import selectors

    counts = selectors.deadline_counts(cases, now=now, soon=dt.timedelta(days=3))
    return counts.overdue + counts.due_soon


def _paginator_count(cases: Any) -> int:
    """The count the list's paginator makes (capped, as assistance.views pages)."""
    from cybercoop.core.paging import CappedPaginator

    return CappedPaginator(cases, PAGE_SIZE).count


def _case_page(viewer: Any, case_id: Any) -> int:
    from cybercoop.assistance import selectors

    case = selectors.get_case(viewer=viewer, case_id=case_id)
    assert case is not None
    shown: list[Any] = [case.requesting_body.party.name, case.handling_body.party.name, case.instrument.name]
    for message in selectors.messages(case=case):
        shown += [message.sender_body.name, message.recipient_body.name, message.body, *message.attachments.all()]
    for row in selectors.clocks(case=case):
        shown += [row.acting_body.name, row.due_at]
    return len(shown)


def _page(client: Any, url: str) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return len(response.content)


def _resolves(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def measure_user(bench: Bench, username: str, plans: list[tuple[str, Callable[[], Any]]]) -> None:
    """The inbox and the case page, for one officer."""
    from django.test import Client

    from cybercoop.accounts.models import User
    from cybercoop.assistance import selectors
    from cybercoop.core import clock

    viewer = User.objects.select_related("body__party").get(username=username)
    now = clock.now()
    rng = random.Random(username)
    inbox = selectors.inbox(viewer=viewer, now=now)
    numbers = list(inbox.exclude(incoming_number="").order_by("?").values_list("incoming_number", flat=True)[:100])
    case_ids = list(selectors.visible_cases(viewer=viewer).order_by("?").values_list("id", flat=True)[:2000])
    print(f"{username} ({viewer.body.code}): {inbox.count():,} cases in the inbox", flush=True)

    def searched(text: str) -> Any:
        return selectors.inbox(viewer=viewer, filters=selectors.CaseFilter(text=text), now=now)

    overdue = selectors.inbox(viewer=viewer, filters=selectors.CaseFilter(overdue=True), now=now)
    target = PAGE_TARGET_MS
    bench.measure("inbox.first_page", lambda: _inbox_rows(inbox, now), user=username, target_ms=target)
    bench.measure("inbox.count", lambda: _paginator_count(inbox), user=username)
    bench.measure("inbox.deadline_counters", lambda: _deadline_counts(inbox, now), user=username)
    bench.measure("inbox.search_word", lambda: _inbox_rows(searched(COMMON_WORD), now), user=username, target_ms=target)
    bench.measure(
        "inbox.search_number",
        lambda: _inbox_rows(searched(rng.choice(numbers)), now),
        user=username,
        target_ms=target,
    )
    bench.measure("inbox.overdue", lambda: _inbox_rows(overdue, now), user=username, target_ms=target)
    bench.measure("case.page", lambda: _case_page(viewer, rng.choice(case_ids)), user=username, target_ms=target)
    if not plans:  # the queries of the first (busiest) body, run again under EXPLAIN
        number, case_id = numbers[0], case_ids[0]
        plans += [
            (f"inbox, first page with its running clocks ({username})", lambda: _inbox_rows(inbox, now)),
            (f"inbox, count for the paginator ({username})", lambda: _paginator_count(inbox)),
            (f"inbox, overdue and due-soon counters ({username})", lambda: _deadline_counts(inbox, now)),
            (
                f"inbox, search for a common word «{COMMON_WORD}» ({username})",
                lambda: _inbox_rows(searched(COMMON_WORD), now),
            ),
            (f"inbox, search for an incoming number {number} ({username})", lambda: _inbox_rows(searched(number), now)),
            (f"inbox, overdue filter ({username})", lambda: _inbox_rows(overdue, now)),
            (f"case page {case_id} ({username})", lambda: _case_page(viewer, case_id)),
        ]

    if not (_resolves("/cases/incoming/") and _resolves(f"/cases/{case_ids[0]}/")):
        print("  (the pages /cases/incoming/ and /cases/<id>/ do not resolve: not measured)")
        return
    client = Client()
    client.force_login(viewer)
    pages = {
        "page.inbox": lambda: _page(client, "/cases/incoming/"),
        "page.inbox_search_word": lambda: _page(client, f"/cases/incoming/?text={COMMON_WORD}"),
        "page.inbox_search_number": lambda: _page(client, f"/cases/incoming/?text={rng.choice(numbers)}"),
        "page.inbox_overdue": lambda: _page(client, "/cases/incoming/?overdue=on"),
        "page.case": lambda: _page(client, f"/cases/{rng.choice(case_ids)}/"),
    }
    for name, run in pages.items():
        try:
            bench.measure(name, run, user=username, target_ms=target, unit="bytes")
        except Exception as error:  # the views are young: say what failed, measure the rest
            print(f"  {name:<28} {username:<11} failed: {type(error).__name__}: {error}")
            bench.results.append({"measurement": name, "user": username, "error": f"{type(error).__name__}: {error}"})


def _reset_backlog(now: dt.datetime) -> int:
    """A week of reminders not sent: the worker was down (inside the caller's transaction)."""
    from cybercoop.assistance import rules
    from cybercoop.assistance.models import Clock

    return Clock.objects.filter(
        status=rules.ClockStatus.RUNNING,
        obligatory=True,
        due_at__gt=now - BACKLOG,
        due_at__lte=now + dt.timedelta(days=1),
    ).update(reminded_before_at=None, reminded_due_at=None)


def _scan_query(now: dt.datetime) -> Any:
    """The worker's scan, exactly as `services.process_due_clocks` runs it: the ids of the next 100 due clocks (each
    is then locked and reminded in a transaction of its own)."""
    from cybercoop.assistance import selectors, services

    return selectors.due_clocks(now=now, remind_before=services.REMIND_BEFORE, limit=100).values_list("pk", flat=True)


def measure_scan(bench: Bench, plans: list[tuple[str, Callable[[], Any]]]) -> None:
    """The deadline scan, in transactions rolled back so the data stays as generated."""
    import logging

    from django.db import transaction

    from cybercoop.assistance import services
    from cybercoop.core import clock

    logging.getLogger("cybercoop.assistance").setLevel(logging.WARNING)  # a line per reminder otherwise
    now = clock.now()

    def scan() -> int:
        return len(list(_scan_query(now)))

    print("deadline scan", flush=True)
    with transaction.atomic():
        bench.measure("scan.steady", scan, target_ms=SCAN_TARGET_MS)
        plans.append(("deadline scan, as the data stands", scan))
        transaction.set_rollback(True)
    with transaction.atomic():
        reset = _reset_backlog(now)
        print(f"  ({reset:,} running clocks due in the last week or the next day made unreminded)")
        bench.measure("scan.backlog_query", scan, target_ms=SCAN_TARGET_MS)
        plans.append(("deadline scan, a week of backlog", lambda: _reset_backlog(now) + scan()))
        # The whole worker pass: the query, then per clock a reminder (notifications, audit entry) and its stamp.
        laps, handled = [], []
        for _ in range(200):
            start = time.perf_counter()
            count = services.process_due_clocks(limit=100)
            if not count:
                break
            laps.append(time.perf_counter() - start)
            handled.append(count)
        if laps:
            bench.keep("worker.backlog_batch", laps, handled, unit="reminders")
        transaction.set_rollback(True)


def write_plans(plans: list[tuple[str, Callable[[], Any]]], path: Path) -> dict[str, list[float]]:
    """Run each plan's code once more, capturing its SQL, then EXPLAIN (ANALYZE, BUFFERS) each SELECT of it into
    `path`, in a transaction rolled back (the scan locks rows); returns the execution times (ms) by title."""
    import re

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    times: dict[str, list[float]] = {}
    with path.open("w") as out:
        out.write(f"EXPLAIN (ANALYZE, BUFFERS) of the queries of bench/cases.py, {time.strftime('%Y-%m-%d %H:%M')}\n")
        for title, run in plans:
            out.write(f"\n{'=' * 100}\n=== {title}\n")
            with transaction.atomic(), CaptureQueriesContext(connection) as captured:
                run()
                selects = [
                    q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")
                ]
                times[title] = []
                with connection.cursor() as cursor:
                    for sql in selects:
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                        plan = "\n".join(line for (line,) in cursor.fetchall())
                        found = re.search(r"Execution Time: ([\d.]+) ms", plan)
                        times[title].append(float(found.group(1)) if found else -1.0)
                        out.write(f"\n--- SQL\n{sql}\n--- plan\n{plan}\n")
                transaction.set_rollback(True)
    return times


def database_facts() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', "
            "'effective_cache_size', 'random_page_cost', 'jit', 'max_parallel_workers_per_gather')"
        )
        settings = {name: f"{setting}{' × ' + unit if unit else ''}" for name, setting, unit in cursor.fetchall()}
        sizes = {}
        for table in (*generate_cases.LOADED_TABLES, "audit_auditentry"):
            cursor.execute(f"SELECT count(*), pg_size_pretty(pg_total_relation_size('{table}')) FROM {table}")
            rows, size = cursor.fetchone()
            sizes[table] = {"rows": rows, "size_with_indexes": size}
    return {"version": version, "settings": settings, "tables": sizes}


# --- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    args = _arguments()
    if not args.database_url and not _postgres_answers():
        print("cases: no PostgreSQL answers on 127.0.0.1:5432; skipped")
        return
    fill: dict[str, Any] = {}
    url = args.database_url
    if url is None:
        url, fill = generate_cases.generate(cases=args.cases, messages_for=args.messages_for)
        print(
            f"fill took {fill['fill_seconds']} s (load {fill['load_seconds']} s, indexes {fill['index_seconds']} s, "
            f"analyse {fill['analyse_seconds']} s)"
        )
    try:
        report = _run(args, url, fill)
    finally:
        if args.database_url is None and not args.keep:
            from django.db import connections

            connections.close_all()
            generate_cases.drop_database(url)
    if args.keep:
        print(f"kept: {url}")
    misses = [r for r in report["results"] if r.get("meets_target") is False]
    print(f"{len(misses)} measurement(s) miss their target" if misses else "every measurement meets its target")


def _run(args: argparse.Namespace, url: str, fill: dict[str, Any]) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="cybercoop-bench-"))
    (data_dir / "static").mkdir()
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="cybercoop.settings",
        CYBERCOOP_DATA_DIR=str(data_dir),
        CYBERCOOP_LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",  # the test Client's host
        CYBERCOOP_STATIC_STORAGE="django.contrib.staticfiles.storage.StaticFilesStorage",  # no collectstatic here
    )
    import django

    django.setup()
    bench = Bench(repetitions=args.repetitions, warm_up=args.warm_up, budget=args.budget)
    load_before = os.getloadavg()
    plans: list[tuple[str, Callable[[], Any]]] = []
    for username in USERS:
        measure_user(bench, username, plans)
    measure_scan(bench, plans)
    stem = f"cases-{args.label}" if args.label else "cases"
    plan_file = OUT / f"{stem}-plans.txt"
    OUT.mkdir(parents=True, exist_ok=True)
    plan_times = write_plans(plans, plan_file)
    facts = database_facts()
    report = {
        "benchmark": "cases",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "database": facts,
        "cases": facts["tables"]["assistance_case"]["rows"],
        "fill": fill,
        "targets_ms": {"pages_p95": PAGE_TARGET_MS, "scan_p95": SCAN_TARGET_MS},
        "results": bench.results,
        "plans_execution_ms": plan_times,
    }
    out = OUT / f"{stem}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"written to {out.relative_to(ROOT)} and {plan_file.relative_to(ROOT)}")
    return report


if __name__ == "__main__":
    main()
