"""`cybercoop worker`: periodic jobs and queued tasks, one pass at a time, stopping gracefully.

The worker closes stale database connections between passes, as a long-running process must; a test
transaction does not survive that on PostgreSQL, so tests that run it use `transactional_db`.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from cybercoop import cli
from cybercoop.accounts import tasks as account_tasks
from cybercoop.core import periodic


@task()
def explode() -> None:
    """A task that always fails, to see the failure recorded."""
    raise RuntimeError("the task broke")


@pytest.fixture
def jobs():
    """Register periodic jobs for one test; they are removed afterwards."""
    names = []

    def add(name, fn):
        periodic.register(name)(fn)
        names.append(name)
        return fn

    yield add
    for name in names:
        periodic.unregister(name)


@pytest.fixture
def database_tasks(settings):
    """Tasks queued as rows in the database, as in production (the tests' default runs them at once)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_one_pass_runs_every_periodic_job_once(transactional_db, jobs, caplog):
    calls = []
    jobs("tests.first", lambda: calls.append("first") or 3)
    jobs("tests.second", lambda: calls.append("second") or 0)
    with caplog.at_level("INFO"):
        call_command("worker", "--once")
    assert calls == ["first", "second"]
    assert "periodic job tests.first processed 3 item(s)" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_job_that_raises_is_logged_and_the_pass_goes_on(transactional_db, jobs, caplog):
    calls = []

    def broken():
        raise RuntimeError("the job broke")

    jobs("tests.broken", broken)
    jobs("tests.after", lambda: calls.append("after") or 1)
    with caplog.at_level("ERROR", logger="cybercoop.core.periodic"):
        call_command("worker", "--once")
    assert calls == ["after"]
    assert "periodic job tests.broken failed" in caplog.text
    assert "RuntimeError: the job broke" in caplog.text  # with its traceback


def test_run_all_reports_what_each_job_did(db, jobs):
    jobs("tests.three", lambda: 3)
    jobs("tests.broken", lambda: 1 // 0)
    outcome = periodic.run_all()
    # The domains' own jobs run too (nothing is due in an empty database); ours report what they did.
    assert {name: outcome[name] for name in ("tests.three", "tests.broken")} == {"tests.three": 3, "tests.broken": None}
    assert outcome["assistance.process_due_clocks"] == 0


def test_one_name_cannot_hold_two_jobs(jobs):
    jobs("tests.unique", lambda: 0)
    with pytest.raises(ValueError, match="already registered"):
        periodic.register("tests.unique")(lambda: 1)


def test_a_pass_drains_the_queued_tasks_and_records_their_outcome(transactional_db, database_tasks, jobs):
    order = []
    jobs("tests.job", lambda: order.append("job") or 0)
    sent = account_tasks.send_email.enqueue("kk@kz.example", "Тема", "Текст")
    failed = explode.enqueue()
    assert DBTaskResult.objects.ready().count() == 2
    assert mail.outbox == []
    call_command("worker", "--once")
    assert order == ["job"]
    assert [m.to for m in mail.outbox] == [["kk@kz.example"]]
    sent.refresh()
    failed.refresh()
    assert sent.status == TaskResultStatus.SUCCESSFUL
    assert failed.status == TaskResultStatus.FAILED
    assert "the task broke" in failed.errors[0].traceback
    assert not DBTaskResult.objects.ready().exists()


def test_sigterm_stops_the_loop_after_the_current_job(transactional_db, database_tasks, jobs):
    calls = []

    def job():
        calls.append("job")
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    jobs("tests.signals", job)
    queued = account_tasks.send_email.enqueue("kk@kz.example", "Тема", "Текст")
    previous = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    call_command("worker", "--interval", "60")
    assert time.monotonic() - started < 30
    assert calls == ["job"]
    # Stopping comes before the queue: the task waits for the next worker.
    queued.refresh()
    assert queued.status == TaskResultStatus.READY
    assert signal.getsignal(signal.SIGTERM) == previous


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "soon"])
def test_the_interval_must_be_positive_seconds(interval):
    with pytest.raises(CommandError, match="interval"):
        call_command("worker", "--interval", interval)


def test_cybercoop_worker_runs_this_command(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "_django", seen.append)
    cli.main(["worker"])
    cli.main(["worker", "--once"])
    cli.main(["worker", "--interval", "2.5"])
    assert seen == [["worker"], ["worker", "--once"], ["worker", "--interval", "2.5"]]
