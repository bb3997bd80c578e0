"""`cybercoop worker`: the node's background worker, a loop of periodic jobs and queued tasks.

Each pass runs every periodic job once (`core.periodic`), then drains the tasks that are ready in the
database (django-tasks-db's worker, which takes each with a row lock), then sleeps `--interval`
seconds. SIGTERM or SIGINT ends it gracefully after the running job or task; a second signal ends it
at once. Any number of workers may run side by side: nothing is scheduled in memory.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from argparse import ArgumentParser, ArgumentTypeError
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from cybercoop.core import periodic

logger = logging.getLogger("cybercoop.worker")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as error:
        raise ArgumentTypeError("must be a number of seconds") from error
    if not math.isfinite(seconds) or seconds <= 0:
        raise ArgumentTypeError("must be a number of seconds greater than zero")
    return seconds


def _worker_id() -> str:
    """Unique across the worker pool, and telling where a task ran: host, process, random suffix."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"[:64]


class Command(BaseCommand):
    help = "Run the background worker: periodic jobs, then the queued tasks, every --interval seconds."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--interval", type=_interval, default=5.0, help="Seconds to wait between passes (default 5)."
        )
        parser.add_argument("--once", action="store_true", help="Run one pass, then exit (for tests and cron).")

    def handle(self, *args: Any, **options: Any) -> None:
        self._stopping = False
        self._tasks: Worker | None = None
        worker_id = _worker_id()
        previous = self._install_signal_handlers()
        logger.info("worker %s started; periodic jobs: %s", worker_id, ", ".join(periodic.registered()) or "none")
        try:
            while not self._stopping:
                self._pass(worker_id)
                if options["once"]:
                    break
                self._sleep(options["interval"])
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        logger.info("worker %s stopped", worker_id)

    def _pass(self, worker_id: str) -> None:
        """One pass: every periodic job once, then every task that is ready."""
        close_old_connections()
        periodic.run_all()
        if self._stopping:
            return
        self._tasks = Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        try:
            self._tasks.run()
        except Exception:
            # The database may be away for a moment; the next pass tries again.
            logger.exception("draining the task queue failed")
        finally:
            self._tasks = None
            close_old_connections()

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps, so a signal is answered within half a second."""
        deadline = time.monotonic() + seconds
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.5))

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Our own handlers for SIGTERM/SIGINT (only the main thread may set them); the old ones to restore."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for signum in _SIGNALS:
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            logger.warning("received %s again: stopping now", signal.strsignal(signum))
            raise SystemExit(1)
        logger.warning("received %s: stopping after the current job or task", signal.strsignal(signum))
        self._stopping = True
        if self._tasks is not None:
            # django-tasks-db's loop checks this flag between tasks.
            self._tasks.running = False
