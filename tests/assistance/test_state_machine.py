"""A state machine drives random acts of both bodies and random clock moves through the assistance services
on the real database, and after every step checks what must hold of every case whatever happened (issue 4)."""

import contextlib
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from cybercoop.assistance import rules, services
from cybercoop.assistance.models import Case, Clock
from cybercoop.assistance.rules import CaseState, ClockStatus, Kind
from cybercoop.audit import services as audit
from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.exchange import rules as exchange_rules
from cybercoop.exchange import selectors as exchange_selectors
from cybercoop.exchange.models import Attachment, Message
from cybercoop.registry.models import Body, Instrument
from tests.accounts.factories import UserFactory
from tests.assistance.factories import REQUEST_FIELDS, designate, draft
from tests.registry.factories import BodyFactory

# The refusals a user can meet; anything else escaping a service is a bug.
REFUSALS = (InvalidInput, RuleViolation, PermissionDenied)
MAX_CASES = 4

# Concrete people, and people named by their place in the case ("the head of the body now executing it").
PERSONAS = ("kz_officer", "kz_head", "ru_officer", "ru_head", "fsb_officer", "fsb_head", "outsider")


def actors(*plausible: str) -> st.SearchStrategy[str]:
    """Half the time someone who may plausibly act, half the time anyone (who is then mostly refused)."""
    return st.one_of(st.sampled_from(plausible), st.sampled_from(PERSONAS))


REQUESTING = actors("requesting_officer", "requesting_head")
REQUESTING_HEAD = actors("requesting_head")
REQUESTED = actors("handling_officer", "handling_head")
REQUESTED_HEAD = actors("handling_head")


def text(valid: str) -> st.SearchStrategy[str]:
    """Mostly a real answer, sometimes blank (which every service must refuse)."""
    return st.sampled_from([valid, valid, valid, "   "])


DELAYS = st.one_of(
    st.integers(1, 180).map(lambda n: dt.timedelta(minutes=n)),
    st.integers(1, 72).map(lambda n: dt.timedelta(hours=n)),
    st.integers(1, 40).map(lambda n: dt.timedelta(days=n)),
)


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def rolled_back():
    """One run of the machine in a transaction that is always undone, so runs do not see each other's cases."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


@dataclass(frozen=True)
class Snapshot:
    """Everything an act on a case may change."""

    messages: int
    audit_entries: int
    attachments: int
    case: dict[str, Any]
    clocks: list[dict[str, Any]]


def snapshot(case_id: Any) -> Snapshot:
    return Snapshot(
        messages=Message.objects.count(),
        audit_entries=AuditEntry.objects.count(),
        attachments=Attachment.objects.count(),
        case=Case.objects.filter(pk=case_id).values().get(),
        clocks=list(Clock.objects.filter(case_id=case_id).order_by("pk").values()),
    )


def offered(case: Case, user: Any, kind: Kind) -> bool:
    """What the case page would offer `user` now: the side, the role and the state machine all allow `kind`."""
    side = case.side_of(user.body_id)
    if side is None or not user.has_perm(rules.TRANSITIONS[kind].permission, case):
        return False
    return rules.refusal_reason(kind=kind, state=case.state, side=side, derived=services.derive(case)) is None


def the_other_nodes_view(messages: list[Message]) -> tuple[list[rules.MessageFacts], rules.CaseContext]:
    """What a node that has nothing but the messages folds: everything it needs (the two bodies, the term, the
    legal basis) comes from the request message, as when the request arrived from another node."""
    request = messages[0]
    assert request.kind == Kind.REQUEST, "a sent case's conversation starts with its request"
    instrument = Instrument.objects.get(code=request.instrument)
    codes = {m.sender_body.code for m in messages} | {m.recipient_body.code for m in messages}
    codes |= {str(m.body["to_body"]) for m in messages if m.kind == Kind.FORWARD}
    context = rules.CaseContext(
        requesting_body=request.sender_body.code,
        requested_body=request.recipient_body.code,
        execution_term_days=int(request.body["execution_term_days"]),
        forward_term_days=instrument.forward_term_days,
        urgent_confirmation_hours=instrument.urgent_confirmation_hours,
        zones={b.code: str(b.zone) for b in Body.objects.select_related("party").filter(code__in=codes)},
    )
    facts = [
        rules.MessageFacts(
            id=str(m.id),
            kind=m.kind,
            sender=m.sender_body.code,
            recipient=m.recipient_body.code,
            created_at=m.created_at,
            body=m.body,
        )
        for m in messages
    ]
    return facts, context


def stored_clocks(case: Case) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (c.kind, str(c.started_by)): (
            c.rule_id,
            c.started_at,
            c.term,
            c.unit,
            c.zone,
            c.until,
            c.due_at,
            c.acting_body.code,
            c.obligatory,
            c.status,
            str(c.closed_by) if c.closed_by else None,
            c.closed_at,
        )
        for c in Clock.objects.filter(case=case).select_related("acting_body")
    }


def derived_clocks(derived: rules.Derived) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (c.kind, c.started_by): (
            c.rule_id,
            c.started_at,
            c.term,
            c.unit,
            c.zone,
            c.until,
            c.due_at,
            c.acting_body,
            c.kind in rules.OBLIGATORY_CLOCKS,
            c.status,
            c.closed_by,
            c.closed_at,
        )
        for c in derived.clocks
    }


@dataclass(frozen=True)
class World:
    """What every run starts from: the Protocol in force, four bodies and their people, the frozen clock."""

    instrument: Any
    bodies: dict[str, Body]
    staff: dict[str, dict[str, Any]]  # body code -> role -> user
    people: dict[str, Any]
    clock: Any
    start: dt.datetime

    def other_body_of_the_same_state(self, body: Body) -> Body | None:
        """A designated body of the same State to forward to (P7.4), if there is one."""
        return {"RU-MIA": self.bodies["fsb"], "RU-FSB": self.bodies["ru"]}.get(body.code)


def case_machine(world: World) -> type[RuleBasedStateMachine]:
    """The machine, bound to this test's world."""

    class CaseWorkflow(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self) -> None:
            super().__init__()
            self._transaction = contextlib.ExitStack()
            self._transaction.enter_context(rolled_back())
            self._hashes_checked: set[Any] = set()
            self._done = False  # whether the last act went through, and if not, why
            self._refusal: Exception | None = None
            self._last_consistent: Any = None
            world.clock.set(world.start)

        def teardown(self) -> None:
            try:
                report = audit.verify_chain()
                assert report.ok, f"the audit chain does not verify: {report.message}"
            finally:
                self._transaction.close()

        # --- helpers -------------------------------------------------------------------------------------------

        def _user(self, actor: str, case: Case) -> Any:
            place, _, role = actor.partition("_")
            if place == "requesting":
                return world.staff[case.requesting_body.code][role]
            if place == "handling":
                return world.staff[case.handling_body.code][role]
            return world.people[actor]

        def _act(self, name: str, case_id: Any, actor: str, call: Any, *, sends: Kind | None = None) -> None:
            """Call a service. A refusal changes nothing; a message act is refused (other than for bad input)
            exactly when the case page would not offer it to that user now."""
            case = Case.objects.select_related("requesting_body", "handling_body").get(pk=case_id)
            user = self._user(actor, case)
            expected = offered(case, user, sends) if sends not in (None, Kind.REQUEST) else None
            before = snapshot(case_id)
            refusal: Exception | None = None
            try:
                call(user, case)
            except REFUSALS as error:
                refusal = error
            if refusal is not None:
                assert snapshot(case_id) == before, f"a refused {name} by {user.username} changed the database"
                assert not (expected and not isinstance(refusal, InvalidInput)), (
                    f"{name} by {user.username} is offered in “{case.state}” but was refused: {refusal!r}"
                )
                self._done, self._refusal = False, refusal
                return
            after = snapshot(case_id)
            assert expected is not False, f"{name} by {user.username} succeeded in “{case.state}” but is not offered"
            assert after.audit_entries > before.audit_entries, f"{name} left no audit entry"
            assert after.messages == before.messages + (sends is not None), f"{name} sent the wrong number of messages"
            if sends is not None:
                last = Message.objects.filter(conversation=case_id).order_by("-position").first()
                assert (last.kind, last.sender_user) == (sends, user)
            self._done = True

        def _today(self, case: Case) -> dt.date:
            return world.clock.now().astimezone(case.handling_body.zone).date()

        # --- drafting and approval -----------------------------------------------------------------------------

        @initialize(
            target=cases,
            urgent=st.booleans(),
            stage=st.sampled_from(["draft", "awaiting approval", "sent", "in execution", "executed", "refused"]),
        )
        def first_case(self, urgent: bool, stage: str) -> Any:
            """A first request from Kazakhstan to Russia, already some way along (the steps say where)."""
            case = draft(world.people["kz_officer"], world.bodies["ru"], world.instrument, urgent=urgent).pk
            steps = {
                "draft": [],
                "awaiting approval": [self.submit_for_approval],
                "sent": [self.send_urgent if urgent else self.approve_and_send],
                "in execution": [self.approve_and_send, self.register_receipt],
                "executed": [self.approve_and_send, self.register_receipt, self.send_results],
                "refused": [self.approve_and_send, self.register_receipt, self.refuse],
            }[stage]
            for step in steps:
                assert self._proceed(step, case)
            return case

        @rule(
            target=cases,
            author=st.sampled_from(["kz_officer", "kz_officer", "kz_officer", "outsider", "kz_auditor"]),
            to=st.sampled_from(["ru", "ru", "ru", "kz", "undesignated"]),
            urgent=st.booleans(),
            complete=st.sampled_from([True, True, False]),
        )
        def create_draft(self, author: str, to: str, urgent: bool, complete: bool) -> Any:
            if Case.objects.count() >= MAX_CASES:
                return multiple()
            before = (Case.objects.count(), AuditEntry.objects.count())
            fields = {**REQUEST_FIELDS, "urgent": urgent} | (
                {} if complete else {"purpose": "", "assistance_kinds": []}
            )
            try:
                case = services.create_draft(
                    actor=world.people[author], requested_body=world.bodies[to], instrument=world.instrument, **fields
                )
            except REFUSALS:
                assert (Case.objects.count(), AuditEntry.objects.count()) == before
                return multiple()
            return case.pk

        @rule(
            case=cases,
            actor=REQUESTING,
            change=st.sampled_from(["complete", "incomplete", "urgent", "not urgent", "term", "bad scope"]),
            term=st.integers(0, 400),
        )
        def update_draft(
            self, case: Any, actor: str = "requesting_officer", change: str = "complete", term: int = 30
        ) -> None:
            fields = {
                "complete": REQUEST_FIELDS,
                "incomplete": {"grounds": ""},
                "urgent": {"urgent": True},
                "not urgent": {"urgent": False},
                "term": {"execution_term_days": term},  # 0 and more than 365 are refused
                "bad scope": {"scope": "everything"},
            }[change]
            self._act("update_draft", case, actor, lambda u, c: services.update_draft(actor=u, case=c, **fields))

        @rule(case=cases, actor=REQUESTING)
        def submit_for_approval(self, case: Any, actor: str = "requesting_officer") -> None:
            self._act("submit_for_approval", case, actor, lambda u, c: services.submit_for_approval(actor=u, case=c))

        @rule(case=cases, actor=REQUESTING_HEAD, comment=text("Уточните период"))
        def return_to_draft(self, case: Any, actor: str = "requesting_head", comment: str = "Уточните период") -> None:
            self._act(
                "return_to_draft", case, actor, lambda u, c: services.return_to_draft(actor=u, case=c, comment=comment)
            )

        @rule(case=cases, actor=REQUESTING)
        def discard_draft(self, case: Any, actor: str) -> None:
            self._act("discard_draft", case, actor, lambda u, c: services.discard_draft(actor=u, case=c))

        @rule(case=cases, actor=REQUESTING_HEAD)
        def approve_and_send(self, case: Any, actor: str = "requesting_head") -> None:
            self._act(
                "approve_and_send",
                case,
                actor,
                lambda u, c: services.approve_and_send(actor=u, case=c),
                sends=Kind.REQUEST,
            )

        @rule(case=cases, actor=REQUESTING)
        def send_urgent(self, case: Any, actor: str = "requesting_officer") -> None:
            self._act(
                "send_urgent", case, actor, lambda u, c: services.send_urgent(actor=u, case=c), sends=Kind.REQUEST
            )

        @rule(case=cases, actor=REQUESTING_HEAD)
        def confirm_urgent(self, case: Any, actor: str = "requesting_head") -> None:
            self._act(
                "confirm_urgent",
                case,
                actor,
                lambda u, c: services.confirm_urgent(actor=u, case=c),
                sends=Kind.URGENT_CONFIRMATION,
            )

        # --- the requested side, and the requesting side's answers ---------------------------------------------

        @rule(
            case=cases,
            actor=REQUESTED,
            when=st.sampled_from(["now", "now", "earlier", "future", "before it was sent"]),
            minutes=st.integers(1, 3 * 24 * 60),
        )
        def register_receipt(
            self, case: Any, actor: str = "handling_officer", when: str = "now", minutes: int = 1
        ) -> None:
            now = world.clock.now()
            request = Message.objects.filter(conversation=case, kind=Kind.REQUEST).first()
            sent_at = request.created_at if request else now
            received_at = {
                "now": None,
                "earlier": max(sent_at, now - dt.timedelta(minutes=minutes)),
                "future": now + dt.timedelta(minutes=minutes),
                "before it was sent": sent_at - dt.timedelta(minutes=minutes),
            }[when]
            self._act(
                "register_receipt",
                case,
                actor,
                lambda u, c: services.register_receipt(actor=u, case=c, received_at=received_at),
                sends=Kind.RECEIPT,
            )

        @rule(
            case=cases,
            actor=REQUESTED,
            to=st.sampled_from(["another body of its State", "another body of its State", "ru", "kz", "undesignated"]),
            reason=text("Относится к компетенции другого органа"),
        )
        def forward(
            self,
            case: Any,
            actor: str = "handling_officer",
            to: str = "another body of its State",
            reason: str = "Относится к компетенции другого органа",
        ) -> None:
            def call(u: Any, c: Case) -> Any:
                to_body = (
                    world.bodies.get(to) or world.other_body_of_the_same_state(c.handling_body) or world.bodies["kz"]
                )
                return services.forward(actor=u, case=c, to_body=to_body, reason=reason)

            self._act("forward", case, actor, call, sends=Kind.FORWARD)

        @rule(
            case=cases,
            actor=REQUESTED,
            reason=text("Провайдер не ответил"),
            expected_in=st.none() | st.integers(1, 90),
        )
        def notify_delay(
            self,
            case: Any,
            actor: str = "handling_officer",
            reason: str = "Провайдер не ответил",
            expected_in: int | None = 10,
        ) -> None:
            def call(u: Any, c: Case) -> Any:
                expected_on = self._today(c) + dt.timedelta(days=expected_in) if expected_in else None
                return services.notify_delay(actor=u, case=c, reason=reason, expected_on=expected_on)

            self._act("notify_delay", case, actor, call, sends=Kind.DELAY)

        @rule(case=cases, actor=REQUESTED, questions=text("Уточните номера карт потерпевших"))
        def request_information(
            self, case: Any, actor: str = "handling_officer", questions: str = "Уточните номера карт"
        ) -> None:
            self._act(
                "request_information",
                case,
                actor,
                lambda u, c: services.request_information(actor=u, case=c, questions=questions),
                sends=Kind.INFO_REQUEST,
            )

        @rule(case=cases, actor=REQUESTING, answer=text("Номера карт: 4400 43** **** 1234"))
        def provide_information(
            self, case: Any, actor: str = "requesting_officer", answer: str = "Номера карт: 4400 43** **** 1234"
        ) -> None:
            self._act(
                "provide_information",
                case,
                actor,
                lambda u, c: services.provide_information(actor=u, case=c, answer=answer),
                sends=Kind.INFO_REPLY,
            )

        @rule(case=cases, actor=REQUESTED, reason=text("Идёт расследование"), days=st.integers(-2, 800))
        def postpone(
            self, case: Any, actor: str = "handling_officer", reason: str = "Идёт расследование", days: int = 45
        ) -> None:
            def call(u: Any, c: Case) -> Any:
                until = self._today(c) + dt.timedelta(days=days)  # refused unless after today and within two years
                return services.postpone(actor=u, case=c, reason=reason, until=until)

            self._act("postpone", case, actor, call, sends=Kind.POSTPONEMENT)

        @rule(
            case=cases,
            actor=REQUESTED,
            conditions=st.lists(st.sampled_from(["Только для дела № 261500031000217", "Не передавать третьим", " "])),
            reason=text("ст. 12 Протокола"),
        )
        def propose_conditions(
            self,
            case: Any,
            actor: str = "handling_officer",
            conditions: tuple[str, ...] = ("Только для дела № 261500031000217",),
            reason: str = "ст. 12 Протокола",
        ) -> None:
            self._act(
                "propose_conditions",
                case,
                actor,
                lambda u, c: services.propose_conditions(actor=u, case=c, conditions=conditions, reason=reason),
                sends=Kind.CONDITIONS,
            )

        @rule(case=cases, actor=REQUESTING, accepted=st.booleans())
        def reply_to_conditions(self, case: Any, actor: str = "requesting_officer", accepted: bool = True) -> None:
            self._act(
                "reply_to_conditions",
                case,
                actor,
                lambda u, c: services.reply_to_conditions(actor=u, case=c, accepted=accepted, comment="Согласны"),
                sends=Kind.CONDITIONS_REPLY,
            )

        @rule(
            case=cases,
            actor=REQUESTING,
            named=st.sampled_from([True, True, False]),
            starts_in=st.integers(0, 60),
            days=st.integers(-2, 10),
        )
        def request_participation(
            self, case: Any, actor: str = "requesting_officer", named: bool = True, starts_in: int = 5, days: int = 3
        ) -> None:
            people = [{"name": "Ахметов Ерлан Серикович", "position": "ст. оперуполномоченный"}] if named else []

            def call(u: Any, c: Case) -> Any:
                starts_on = self._today(c) + dt.timedelta(days=starts_in)
                return services.request_participation(
                    actor=u,
                    case=c,
                    representatives=people,
                    starts_on=starts_on,
                    ends_on=starts_on + dt.timedelta(days=days),
                )

            self._act("request_participation", case, actor, call, sends=Kind.PARTICIPATION_REQUEST)

        @rule(case=cases, actor=REQUESTED, agreed=st.booleans(), dated=st.sampled_from([True, True, False]))
        def decide_participation(
            self, case: Any, actor: str = "handling_officer", agreed: bool = True, dated: bool = True
        ) -> None:
            def call(u: Any, c: Case) -> Any:
                today = self._today(c)
                return services.decide_participation(
                    actor=u,
                    case=c,
                    agreed=agreed,
                    representatives=[{"name": "Ахметов Ерлан Серикович"}],
                    starts_on=today + dt.timedelta(days=1) if dated else None,
                    ends_on=today + dt.timedelta(days=3) if dated else None,
                    reasons="Участие не допускается законодательством",
                )

            self._act("decide_participation", case, actor, call, sends=Kind.PARTICIPATION)

        @rule(
            case=cases,
            actor=REQUESTED_HEAD,
            reasons=text("Противоречит ст. 23 Конституции РФ"),
            partial=st.booleans(),
            refused_part=text("Содержание переписки"),
        )
        def refuse(
            self,
            case: Any,
            actor: str = "handling_head",
            reasons: str = "Противоречит ст. 23 Конституции РФ",
            partial: bool = False,
            refused_part: str = "Содержание переписки",
        ) -> None:
            self._act(
                "refuse",
                case,
                actor,
                lambda u, c: services.refuse(
                    actor=u, case=c, reasons=reasons, partial=partial, refused_part=refused_part
                ),
                sends=Kind.REFUSAL,
            )

        @rule(
            case=cases,
            actor=REQUESTED,
            summary=text("Владелец сервера установлен; журналы прилагаются"),
            costs=st.sampled_from(
                [
                    ("", ""),
                    ("", ""),
                    ("1500", "rub"),
                    ("12 000,50", "KZT"),
                    ("много", "RUB"),
                    ("-5", "RUB"),
                    ("1", "руб"),
                ]
            ),
            bad_upload=st.sampled_from([False, False, False, True]),
        )
        def send_results(
            self,
            case: Any,
            actor: str = "handling_officer",
            summary: str = "Владелец сервера установлен",
            costs: tuple[str, str] = ("", ""),
            bad_upload: bool = False,
        ) -> None:
            uploads = [SimpleUploadedFile("virus.exe", b"MZ\x90\x00\x03")] if bad_upload else []
            self._act(
                "send_results",
                case,
                actor,
                lambda u, c: services.send_results(
                    actor=u, case=c, summary=summary, costs_amount=costs[0], costs_currency=costs[1], uploads=uploads
                ),
                sends=Kind.RESULTS,
            )

        # --- the case moves on: someone does what the case page offers -----------------------------------------

        def _proceed(self, step: Any, case: Any) -> bool:
            step(case)  # every step's defaults are the right person with valid input
            return self._done

        # Hypothesis picks among the rules evenly, and random acts alone seldom get a case far: the same step under
        # three names gives the way forward the weight it needs to reach every state in a short run.
        @rule(case=cases, data=st.data())
        def the_right_person_does_what_the_case_offers(self, case: Any, data: Any) -> None:
            self._move_on(case, data)

        @rule(case=cases, data=st.data())
        def the_case_moves_on(self, case: Any, data: Any) -> None:
            self._move_on(case, data)

        @rule(case=cases, data=st.data())
        def the_case_moves_on_again(self, case: Any, data: Any) -> None:
            self._move_on(case, data)

        def _move_on(self, case: Any, data: Any) -> None:
            """One of the acts open now is done by the right person with valid input, and must succeed."""
            current = Case.objects.select_related("handling_body").get(pk=case)
            acts: list[Any] = []
            if current.state == CaseState.DRAFT and rules.check_request(services.request_facts(current)):
                acts += [self.update_draft]  # incomplete: complete it first (P6.2)
            elif current.state in rules.DRAFT_STATES:
                acts += [self.approve_and_send] + ([self.send_urgent] if current.urgent else [])
                acts += [self.submit_for_approval] if current.state == CaseState.DRAFT else [self.return_to_draft]
            elif current.state not in rules.CLOSED_STATES:
                derived = services.derive(current)
                by_kind = {
                    Kind.URGENT_CONFIRMATION: self.confirm_urgent,
                    Kind.RECEIPT: self.register_receipt,
                    Kind.FORWARD: self.forward,
                    Kind.DELAY: self.notify_delay,
                    Kind.INFO_REQUEST: self.request_information,
                    Kind.INFO_REPLY: self.provide_information,
                    Kind.POSTPONEMENT: self.postpone,
                    Kind.CONDITIONS: self.propose_conditions,
                    Kind.CONDITIONS_REPLY: self.reply_to_conditions,
                    Kind.PARTICIPATION_REQUEST: self.request_participation,
                    Kind.PARTICIPATION: self.decide_participation,
                    Kind.REFUSAL: self.refuse,
                    Kind.RESULTS: self.send_results,
                }
                for side in rules.Side:
                    acts += [
                        by_kind[k]
                        for k in rules.allowed_kinds(state=current.state, side=side, derived=derived)
                        if k in by_kind  # consent (P10.2) has its own tests: tests/assistance/test_consent.py
                    ]
                if world.other_body_of_the_same_state(current.handling_body) is None and self.forward in acts:
                    acts.remove(self.forward)
            if not acts:
                return
            act = data.draw(st.sampled_from(acts).map(lambda f: f.__name__), label="act")
            assert self._proceed(getattr(self, act), case), (
                f"{act} was offered in “{current.state}” but refused: {self._refusal!r}"
            )

        # --- time, the worker, and rebuilding a case -----------------------------------------------------------

        @rule(delay=DELAYS, then_the_worker_runs=st.booleans())
        def time_passes(self, delay: dt.timedelta, then_the_worker_runs: bool) -> None:
            world.clock.advance(delay)
            if then_the_worker_runs:
                self.the_worker_runs()

        @rule()
        def the_worker_runs(self) -> None:
            """The deadline worker reminds before and at every deadline, once, and fails on none."""
            before = Message.objects.count()
            services.process_due_clocks()
            errors = list(Clock.objects.exclude(last_error="").values_list("kind", "case__state", "last_error"))
            assert not errors, f"the worker recorded an error: {errors}"
            assert services.process_due_clocks() == 0, "the worker reminded the same deadline twice"
            now = world.clock.now()
            running = Clock.objects.filter(status=ClockStatus.RUNNING, obligatory=True)
            assert not running.filter(due_at__lte=now, reminded_due_at=None).exists(), "an overdue clock not reminded"
            assert not running.filter(due_at__lte=now + services.REMIND_BEFORE, reminded_before_at=None).exists()
            assert Message.objects.count() == before

        @rule(case=cases)
        def recompute(self, case: Any) -> None:
            """Rebuilding a case from its messages changes nothing but the time it was last touched."""
            before = snapshot(case)
            services.recompute(case=Case.objects.get(pk=case))
            after = snapshot(case)
            assert (after.messages, after.audit_entries, after.clocks) == (
                before.messages,
                before.audit_entries,
                before.clocks,
            )
            assert {**after.case, "updated_at": None} == {**before.case, "updated_at": None}

        # --- what always holds ---------------------------------------------------------------------------------

        @invariant()
        def every_case_is_consistent(self) -> None:
            """The four invariants of issue 4, after every step. They read only the cases, clocks, messages and
            audit entries: if none of those changed since they last held (a refused act, a clock move), they hold."""
            read = (
                list(Case.objects.order_by("pk").values_list()),
                list(Clock.objects.order_by("pk").values_list()),
                Message.objects.count(),  # messages and audit entries are append-only
                AuditEntry.objects.count(),
            )
            if read == self._last_consistent:
                return
            self.a_closed_case_has_results_or_a_refusal()
            self.no_clock_runs_on_a_closed_case()
            self.both_sides_derive_the_stored_case_from_the_same_messages()
            self.every_message_is_in_the_audit_log()
            self._last_consistent = read

        def a_closed_case_has_results_or_a_refusal(self) -> None:
            for case in Case.objects.filter(state__in=[CaseState.EXECUTED, CaseState.REFUSED]):
                said = list(
                    Message.objects.filter(conversation=case.pk).order_by("position").values_list("kind", "body")
                )
                closing = [k == Kind.RESULTS or (k == Kind.REFUSAL and not b.get("partial")) for k, b in said]
                if case.state == CaseState.EXECUTED:  # P7.8
                    assert any(k == Kind.RESULTS for k, _ in said), f"{case.pk} is executed without results"
                else:  # P9.1, P9.2
                    assert any(k == Kind.REFUSAL and not b.get("partial") for k, b in said), (
                        f"{case.pk} is refused without a full refusal"
                    )
                # The message that closed the case is the last one: nothing is said in a closed case.
                assert closing.count(True) == 1, f"{case.pk} was closed twice: {[k for k, _ in said]}"
                assert closing[-1], f"{case.pk} has messages after the one that closed it: {[k for k, _ in said]}"
                assert case.closed_at is not None

        def no_clock_runs_on_a_closed_case(self) -> None:
            running = Clock.objects.filter(status=ClockStatus.RUNNING, case__state__in=rules.CLOSED_STATES)
            assert not running.exists(), list(running.values_list("case__state", "kind"))
            assert not Clock.objects.filter(case__state__in=rules.DRAFT_STATES | {CaseState.DISCARDED}).exists()
            # The lists' overdue filter and counters read the case's next deadline: it is its nearest running
            # obligation, and nothing once closed.
            for case in Case.objects.all():
                owed = Clock.objects.filter(case=case, status=ClockStatus.RUNNING, obligatory=True)
                nearest = owed.order_by("due_at").values_list("due_at", flat=True).first()
                assert case.next_due_at == nearest, (case.state, case.next_due_at, nearest)

        def both_sides_derive_the_stored_case_from_the_same_messages(self) -> None:
            for case in Case.objects.select_related("handling_body", "requesting_body", "requested_body", "instrument"):
                derived = services.derive(case)
                assert (case.state, case.handling_body.code) == (derived.state, derived.handling_body)
                assert stored_clocks(case) == derived_clocks(derived)
                messages = list(exchange_selectors.conversation(conversation_id=case.pk))
                if case.state in rules.DRAFT_STATES | {CaseState.DISCARDED}:
                    assert not messages, f"a {case.state} case has messages"
                    continue
                stored = (
                    case.urgent,
                    case.received_at,
                    case.closed_at,
                    case.postponed_until,
                    case.urgent_confirmed_at,
                    case.partially_refused,
                    tuple(case.conditions_proposed),
                    tuple(case.conditions_accepted),
                    case.participation_pending,
                )
                assert stored == (
                    derived.urgent,
                    derived.received_at,
                    derived.closed_at,
                    derived.postponed_until,
                    derived.urgent_confirmed_at,
                    derived.partially_refused,
                    derived.conditions_proposed,
                    derived.conditions_accepted,
                    derived.participation_pending,
                )
                # The other node has the same messages: each sender numbers and chains its own, so the other node
                # can tell it has all of them in order, and the hash it recomputes on arrival is the one stored here.
                by_sender: dict[str, list[Message]] = defaultdict(list)
                for message in messages:
                    by_sender[message.sender_body.code].append(message)
                    if message.pk not in self._hashes_checked:
                        manifests = [a.manifest() for a in message.attachments.all()]
                        assert exchange_rules.message_digest(message.hashed_fields(manifests)) == message.hash
                        self._hashes_checked.add(message.pk)
                for sent in by_sender.values():
                    assert [m.seq for m in sent] == list(range(1, len(sent) + 1))
                    assert [m.prev_hash for m in sent] == ["", *(m.hash for m in sent[:-1])]
                # ... and from those messages alone it derives, every time, the case this node stored.
                facts, context = the_other_nodes_view(messages)
                assert rules.derive(facts, context) == derived
                assert rules.derive(list(facts), context) == derived

        def every_message_is_in_the_audit_log(self) -> None:
            messages = {str(pk): (kind, seq) for pk, kind, seq in Message.objects.values_list("pk", "kind", "seq")}
            logged = [
                (entry.object_id, (entry.data.get("kind"), entry.data.get("seq")))
                for entry in AuditEntry.objects.filter(action=AuditAction.MESSAGE_SENT)
            ]
            assert dict(logged) == messages
            assert len(logged) == len(messages), "a message was logged twice"

    return CaseWorkflow


@pytest.mark.rule("P6.4", "P7.2", "P7.8", "P9.1")
def test_any_sequence_of_acts_and_clock_moves_keeps_every_case_consistent(
    protocol, kz_body, ru_body, outsider_body, kz_officer, kz_head, ru_officer, ru_head, outsider, kz_auditor, clock
):
    # A second designated Russian body, far to the east, to forward requests to (P7.4), and one not designated.
    fsb = BodyFactory(party=ru_body.party, code="RU-FSB", time_zone="Asia/Vladivostok")
    designate(protocol, fsb)
    undesignated = BodyFactory(party=ru_body.party, code="RU-XYZ")
    fsb_officer = UserFactory(username="ru.fsb.officer", body=fsb, role="officer", receives_incoming=True)
    fsb_head = UserFactory(username="ru.fsb.head", body=fsb, role="head")
    am_head = UserFactory(username="am.head", body=outsider_body, role="head")
    world = World(
        instrument=protocol,
        bodies={"kz": kz_body, "ru": ru_body, "fsb": fsb, "am": outsider_body, "undesignated": undesignated},
        staff={
            kz_body.code: {"officer": kz_officer, "head": kz_head},
            ru_body.code: {"officer": ru_officer, "head": ru_head},
            fsb.code: {"officer": fsb_officer, "head": fsb_head},
            outsider_body.code: {"officer": outsider, "head": am_head},
        },
        people={
            "kz_officer": kz_officer,
            "kz_head": kz_head,
            "kz_auditor": kz_auditor,
            "ru_officer": ru_officer,
            "ru_head": ru_head,
            "fsb_officer": fsb_officer,
            "fsb_head": fsb_head,
            "outsider": outsider,
        },
        clock=clock,
        start=clock.now(),
    )
    run_state_machine_as_test(
        case_machine(world),
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_recompute_leaves_a_discarded_urgent_draft_as_it_was(protocol, kz_officer, ru_body, clock):
    """Found by the machine: `services.recompute` used to set `urgent` from the messages on a discarded draft
    (which has none), turning an urgent request into a non-urgent one."""
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    case = services.discard_draft(actor=kz_officer, case=case)
    assert services.recompute(case=case).urgent is True
