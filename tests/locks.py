"""Row locks on PostgreSQL, seen from outside the sessions that take them (for the tests of lock order)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from tests.nodes import maintenance_connection


def wait_for_a_lock_wait(seconds: float = 20) -> bool:
    """Until another session of the test database waits for a lock; False if none does within `seconds`. Read on a
    connection of its own: a transaction sees pg_stat_activity as it was when it first looked."""
    database = connection.settings_dict["NAME"]
    with maintenance_connection(os.environ["DATABASE_URL"]) as server:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            waiting = server.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [database]
            ).fetchone()
            if waiting and waiting[0]:
                return True
            time.sleep(0.05)
    return False


def act_meanwhile(first: Callable[[], object], then: Callable[[], object]) -> tuple[threading.Thread, dict[str, Any]]:
    """Another session acting at the same moment as the test: in a transaction of its own, `first()` takes a lock;
    once some session (the test's) waits for a lock, `then()` takes the next one, and the transaction commits.
    Returns the thread (to join) and its outcome: {"waited": whether the test's session waited, "done": True, or
    the exception that aborted it (a deadlock)}. Starts it and returns once `first()` holds its lock."""
    holding, outcome = threading.Event(), {}

    def run() -> None:
        try:
            with transaction.atomic():
                first()
                holding.set()
                outcome["waited"] = wait_for_a_lock_wait()
                then()
            outcome["done"] = True
        except Exception as error:
            outcome["done"] = error
        finally:
            holding.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    holding.wait(20)
    return thread, outcome
