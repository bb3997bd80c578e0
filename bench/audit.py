"""Benchmark: appending to the audit chain and verifying it, on SQLite (and PostgreSQL when reachable).

Run with `make bench`. Prints the figures and writes var/bench/audit.json with the machine it ran on.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", "5000"))


def _measure(database_url: str) -> dict:
    """Run the measurement in a child process, so each database gets a fresh Django."""
    code = f"""
import json, statistics, time, os
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from cybercoop.audit import services
from cybercoop.audit.rules import AuditAction
laps = []
for i in range({ENTRIES}):
    start = time.perf_counter()
    services.record(action=AuditAction.SIGNED_IN, target=("bench.thing", str(i)), data={{"i": i}})
    laps.append(time.perf_counter() - start)
start = time.perf_counter()
report = services.verify_chain()
verify = time.perf_counter() - start
assert report.ok and report.checked == {ENTRIES}
laps.sort()
print(json.dumps({{
    "entries": {ENTRIES},
    "append_p50_ms": round(laps[len(laps) // 2] * 1000, 3),
    "append_p95_ms": round(laps[int(len(laps) * 0.95)] * 1000, 3),
    "appends_per_second": round(len(laps) / sum(laps)),
    "verify_seconds": round(verify, 3),
    "verify_entries_per_second": round({ENTRIES} / verify),
}}))
"""
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="cybercoop.settings", CYBERCOOP_DATA_DIR=data_dir)
        if database_url:
            env["DATABASE_URL"] = database_url
        else:
            env.pop("DATABASE_URL", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _postgres_url() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return None
    import psycopg

    name = f"cybercoop_bench_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    results = {"sqlite": _measure("")}
    pg = _postgres_url()
    if pg:
        try:
            results["postgresql"] = _measure(pg)
        finally:
            import psycopg

            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg.rsplit("/", 1)[1]}" WITH (FORCE)')
    report = {
        "benchmark": "audit",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "results": results,
    }
    out = ROOT / "var" / "bench" / "audit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for database, figures in results.items():
        print(f"{database:>10}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
