"""The demo's cases (`data.CASES`) replayed through the services with the clock set back, on one node or across
the nodes of the multi-node demo.

A case is played the same way everywhere: its steps in order, each by its user on the node that serves the user's
body. On one node every user is local and a pass plays every case to its end. In the multi-node demo a node acts
only for its own users: a pass (`advance_cases`) does each case's next local steps as far as it can, and stops at
an act of a user of another node until that act's message has arrived here (the nodes' workers carry it);
`play_cases` repeats passes until every case is where the single-node demo puts it, on this node.

What is done is read from the node's own database, never from a record of the play: the case (the request's
subject, requesting and requested body), its state (a submitted draft) and its conversation (one message per act
that crosses to the other side). So a pass is safe to run again, on any node, at any time: it never repeats an act.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.accounts import selectors as account_selectors
from cybercoop.assistance import services as assistance
from cybercoop.assistance.models import Case
from cybercoop.assistance.rules import CaseState, Kind
from cybercoop.core import contention
from cybercoop.core.clock import FrozenClock, use_clock
from cybercoop.demo import data
from cybercoop.exchange import transports
from cybercoop.exchange.models import Message
from cybercoop.registry import selectors as registry_selectors

logger = logging.getLogger(__name__)

# The first case starts at this instant, each next one two days later; a step's act comes its day and two hours
# after its case's start, so deadlines and "received" dates are the same on every node and on every run.
CASE_START = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)
CASE_SPACING = dt.timedelta(days=2)
STEP_HOUR = dt.timedelta(hours=2)
CASE_FIELDS = {
    "scope": "it_crime",
    "purpose": "Установление лиц, причастных к преступлению, и обеспечение доказательств по уголовному делу.",
    "grounds": "Уголовное дело, возбуждённое следственным подразделением запрашивающего органа.",
    "substance": "Преступление совершено с использованием информационно-коммуникационной сети Интернет; "
    "часть инфраструктуры находится на территории запрашиваемой Стороны.",
    "assistance_kinds": ["operational_search", "procedural_actions"],
    "assistance_sought": "Установить владельцев указанных ресурсов, истребовать журналы подключений и "
    "регистрационные данные, допросить администраторов хостинга.",
    "identifiers": "IP 203.0.113.17; домен bank-kz-login.example; кошелёк bc1q-demo-0000",
    "marking": "official",
}

Act = Callable[[Any, Case, dict[str, Any]], Case]
Step = tuple[int, str, str, dict[str, Any]]  # (day, username, action, arguments): see data.CASES


def _with_files(args: dict[str, Any]) -> dict[str, Any]:
    """A step's arguments with its `files` ((name, text) pairs) as the uploads the services take."""
    args = dict(args)
    files = args.pop("files", ())
    if files:
        args["uploads"] = [SimpleUploadedFile(name, text.encode(), content_type="text/plain") for name, text in files]
    return args


# Each action of a step: the service it calls, and the kind of the message it sends to the other side (None: an act
# that stays on its node, submitting a draft for approval).
ACTIONS: dict[str, tuple[Act, Kind | None]] = {
    "submit": (lambda actor, case, args: assistance.submit_for_approval(actor=actor, case=case), None),
    "approve": (lambda actor, case, args: assistance.approve_and_send(actor=actor, case=case), Kind.REQUEST),
    "send_urgent": (lambda actor, case, args: assistance.send_urgent(actor=actor, case=case), Kind.REQUEST),
    "receipt": (lambda actor, case, args: assistance.register_receipt(actor=actor, case=case), Kind.RECEIPT),
    "information_request": (
        lambda actor, case, args: assistance.request_information(actor=actor, case=case, **args),
        Kind.INFO_REQUEST,
    ),
    "results": (
        lambda actor, case, args: assistance.send_results(actor=actor, case=case, **_with_files(args)),
        Kind.RESULTS,
    ),
    "conditions": (
        lambda actor, case, args: assistance.propose_conditions(actor=actor, case=case, **args),
        Kind.CONDITIONS,
    ),
    "conditions_reply": (
        lambda actor, case, args: assistance.reply_to_conditions(actor=actor, case=case, **args),
        Kind.CONDITIONS_REPLY,
    ),
    "refuse_partly": (
        lambda actor, case, args: assistance.refuse(actor=actor, case=case, partial=True, **args),
        Kind.REFUSAL,
    ),
}

BODY_OF_USER = {username: body for username, body, *_rest in data.USERS}


class PlayError(Exception):
    """A demo case could not be played on this node: an act failed, or another node's act did not arrive in time."""


@dataclass(frozen=True)
class Waiting:
    """A demo case stopped on this node at an act of a user of another node whose message has not arrived yet."""

    key: str
    subject: str
    day: int
    actor: str
    action: str
    arrived: bool  # the case is on this node (False: its request has not arrived yet)
    busy: str = ""  # an act of this node the database gave up on (a deadlock …), tried again on the next pass

    def __str__(self) -> str:
        act = f"case {self.key!r} ({_short(self.subject)}): {self.actor}'s {self.action} (day {self.day})"
        if self.busy:
            return f"{act}, an act on this node, was given up by the database each time: {self.busy}"
        return f"{act}, an act on another node, has not arrived here"


def _short(subject: str) -> str:
    return subject if len(subject) <= 50 else subject[:49] + "…"


def advance_cases() -> list[Waiting]:
    """One pass over the demo cases: on each, the acts of this node's users that are due, in order, each once the
    acts before it are here. Returns the acts of other nodes' users the unfinished cases wait for (none: every case
    is where the single-node demo puts it, on this node). An act the database gave up on (a deadlock, `core.contention`)
    is among them, to be tried again. Raises PlayError if an act fails otherwise."""
    users = {user.username: user for user in account_selectors.users()}
    waiting: list[Waiting] = []
    for index, (key, author, to_body, urgent, subject, steps) in enumerate(data.CASES):
        if author not in users and any(not stop.arrived for stop in waiting):
            # The requests this node receives are taken up in the demo's order, as on a single node (their incoming
            # numbers follow it): none before the earlier ones have arrived.
            continue
        stop = _advance(
            key=key,
            start=CASE_START + index * CASE_SPACING,
            author=author,
            to_body=to_body,
            urgent=urgent,
            subject=subject,
            steps=steps,
            users=users,
        )
        if stop is not None:
            waiting.append(stop)
    return waiting


def play_cases(*, timeout: float, poll: float = 0.5) -> None:
    """Pass over the demo cases (`advance_cases`) until none waits for another node, reading this node's database
    again every `poll` seconds for the acts that arrived. Raises PlayError naming what is still awaited if `timeout`
    seconds pass first."""
    deadline = time.monotonic() + timeout
    while waiting := advance_cases():
        if time.monotonic() >= deadline:
            raise PlayError(
                f"after {timeout:.0f} s, still waiting: "
                + "; ".join(str(stop) for stop in waiting)
                + ". Is the other node serving, and its worker running? (`cybercoop node outbox` there shows its"
                " envelopes to this node.)"
            )
        time.sleep(poll)


def _advance(
    *,
    key: str,
    start: dt.datetime,
    author: str,
    to_body: str,
    urgent: bool,
    subject: str,
    steps: Sequence[Step],
    users: dict[str, Any],
) -> Waiting | None:
    """Play what is due of one case on this node; the act it waits for, or None when nothing is left to wait for."""
    requested = registry_selectors.get_body(code=to_body)
    if requested is None:
        return None
    if author not in users:
        # A request of another node's user: this node sees the case only if it serves the requested body, from the
        # request's arrival on, and only the acts that cross between the two sides (or are its own users').
        steps = [step for step in steps if step[1] in users or ACTIONS[step[2]][1] is not None]
        if not transports.serves(requested) or not any(ACTIONS[action][1] for _day, _actor, action, _args in steps):
            return None
    case = (
        Case.objects.filter(subject=subject, requesting_body__code=BODY_OF_USER[author], requested_body=requested)
        .order_by("created_at")
        .first()
    )
    if case is None and author in users:
        with use_clock(FrozenClock(start)):
            case = assistance.create_draft(
                actor=users[author],
                requested_body=requested,
                instrument=registry_selectors.protocol(),
                subject=subject,
                urgent=urgent,
                **CASE_FIELDS,
            )
    for number, (day, actor, action, args) in enumerate(steps):
        if case is not None and _done(case, steps, number):
            continue
        if actor not in users or case is None:
            return Waiting(key=key, subject=subject, day=day, actor=actor, action=action, arrived=case is not None)
        at = start + dt.timedelta(days=day) + STEP_HOUR
        last = Message.objects.filter(conversation=case.pk).order_by("-created_at").first()
        if last is not None and last.created_at > at:
            # Set back before what is already here, the act would look older than the acts it answers.
            raise PlayError(f"case {key!r}: {actor}'s {action} (day {day}) would come before the case's last message")
        with use_clock(FrozenClock(at)):
            try:
                case = ACTIONS[action][0](users[actor], case, args)
            except Exception as error:
                if contention.is_contention(error):
                    # Concurrent work (the worker, an arriving message) made the database give up on the act: nothing
                    # was changed, and the play tries it again on its next pass, as a user told so would.
                    busy = str(error).splitlines()[0]
                    logger.warning(
                        "case %r: %s's %s given up by the database, to be tried again: %s", key, actor, action, busy
                    )
                    return Waiting(
                        key=key, subject=subject, day=day, actor=actor, action=action, arrived=True, busy=busy
                    )
                raise PlayError(
                    f"case {key!r} ({_short(subject)}): {actor}'s {action} (day {day}) failed on this node: "
                    f"{type(error).__name__}: {error}"
                ) from error
    return None


def _done(case: Case, steps: Sequence[Step], number: int) -> bool:
    """Is step `number` of the case done here? Submitting: the draft went to approval once (if a head returned it
    since, that is the demo user's doing, not undone here). An act that crosses: the conversation holds as many
    messages of its kind from its user's body as the steps up to it send (more, if the demo's users went on)."""
    _day, actor, action, _args = steps[number]
    kind = ACTIONS[action][1]
    if kind is None:
        return case.submitted_by_id is not None or case.state != CaseState.DRAFT
    body = BODY_OF_USER[actor]
    needed = sum(
        1 for _d, other, act, _a in steps[: number + 1] if ACTIONS[act][1] == kind and BODY_OF_USER[other] == body
    )
    return Message.objects.filter(conversation=case.pk, kind=kind, sender_body__code=body).count() >= needed
