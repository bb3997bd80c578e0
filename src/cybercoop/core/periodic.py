"""Periodic jobs: what `cybercoop worker` runs once per pass, besides the queued tasks.

The contract every job keeps:

- **No schedule lives in memory.** A job reads from the database what is due now (a deadline's due
  instant, an outbox row's next attempt) each time it runs, so a restarted worker, or a second one,
  loses and doubles nothing. A job is a function `() -> int` returning how many items it processed.
- **Rows are taken with row locks** (`select_for_update(no_key=True, skip_locked=True)` inside `transaction.atomic`),
  so any number of workers may run the same job at once without processing an item twice.
- **A job records its own errors** on the rows it failed (an error column, an attempt count), so one
  bad item neither blocks the others nor is silently retried forever. A job that raises is logged with
  its traceback by the worker, and the pass goes on with the next job.

Domains register their jobs from `AppConfig.ready()`:

    from cybercoop.core import periodic

    @periodic.register("assistance.process_due_clocks")
    def process_due_clocks() -> int: ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

Job = Callable[[], int]
_jobs: dict[str, Job] = {}


def register(name: str) -> Callable[[Job], Job]:
    """Decorator: run `fn` once on every pass of the worker, under `name` (`domain.what_it_does`)."""

    def decorator(fn: Job) -> Job:
        if name in _jobs and _jobs[name] is not fn:
            raise ValueError(f"a periodic job named {name!r} is already registered")
        _jobs[name] = fn
        return fn

    return decorator


def unregister(name: str) -> None:
    """Remove a job (for tests); an unknown name is ignored."""
    _jobs.pop(name, None)


def registered() -> dict[str, Job]:
    """The registered jobs by name, in registration order."""
    return dict(_jobs)


def run_all() -> dict[str, int | None]:
    """Run every registered job once; the processed count of each, or None for a job that raised.

    A job's exception is logged with its traceback and does not stop the others.
    """
    results: dict[str, int | None] = {}
    for name, job in registered().items():
        try:
            processed = job()
        except Exception:
            logger.exception("periodic job %s failed", name)
            results[name] = None
        else:
            results[name] = processed
            if processed:
                logger.info("periodic job %s processed %d item(s)", name, processed)
    return results
