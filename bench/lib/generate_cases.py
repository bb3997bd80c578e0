"""Fill a fresh PostgreSQL database with requests for assistance, for `bench/cases.py`.

    .venv/bin/python bench/lib/generate_cases.py [--cases 1000000] [--messages-for N] [--keep] [--name NAME]

It creates a database on postgres://postgres@127.0.0.1:5432, migrates it and seeds the demo registry and
users (`cybercoop manage migrate`, `cybercoop manage seed_demo`, with a temporary CYBERCOOP_DATA_DIR), then
loads the cases with COPY — never through the ORM — and drops the database at the end unless --keep.

Each case is simulated from drafting to its outcome with a seeded random generator, between the designated
bodies of different Parties (RU-MIA and KZ-MIA the busiest), created over the last three years: drafts and
drafts awaiting approval, discarded drafts, sent, in execution, awaiting information or a reply to conditions,
executed, refused; about 5 % urgent, 3 % forwarded within their State (P7.4). A sent case has the messages a
real one would have (request, urgent confirmation, receipt, forwarding, delay notice, questions and answers,
conditions, participation, postponement, refusal, results; 1 to 8 of them, with attachments on some), and its
state and clocks are derived from those messages by `cybercoop.assistance.rules.derive`, as the application
derives them. Reminders whose time came more than an hour ago are stamped as sent: the worker kept up, and
the last hour is its backlog. `--messages-for N` gives messages only to the N most recent cases (their clocks
still name the message that started them).

Shortcuts, all invisible to the pages and the worker: message hashes are SHA-256 of the message id and the
sender's previous hash (not the RFC 8785 digest, which would take longer than the rest of the fill); no audit
entries are written; the attachments' files do not exist. The indexes and foreign keys of the four loaded
tables are dropped for the load and created again after it (which checks them), then the tables are analysed.

It lives in bench/lib/ so that `make bench`, which runs bench/*.py, does not run it on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg

from cybercoop.assistance import rules
from cybercoop.assistance.rules import CaseState, Kind

SERVER_URL = "postgres://postgres@127.0.0.1:5432"
ADMIN_URL = f"{SERVER_URL}/postgres"
DEFAULT_CASES = 1_000_000
SPAN = dt.timedelta(days=3 * 365)
REMINDER_BACKLOG = dt.timedelta(hours=1)  # reminders due in the last hour are not sent yet
REMIND_BEFORE = dt.timedelta(hours=24)  # as assistance.services.REMIND_BEFORE

# The bodies designated under the Protocol (demo registry) that exchange requests, and how busy each is.
BODY_WEIGHTS = {"KZ-MIA": 26, "RU-MIA": 26, "BY-MIA": 12, "KG-MIA": 10, "AM-MIA": 8, "RU-FSB": 10, "KZ-NSC": 8}
# P7.4: where a body forwards a request outside its competence (another body of its own State).
FORWARD_TO = {"RU-MIA": "RU-FSB", "RU-FSB": "RU-MIA", "KZ-MIA": "KZ-NSC", "KZ-NSC": "KZ-MIA"}
PROTOCOL = "csto-2014-information-sphere"
BILATERAL = "kz-ru-2019-crime-cooperation"

LOADED_TABLES = (
    "assistance_case",
    "assistance_clock",
    "exchange_message",
    "exchange_attachment",
    "assistance_caseassignment",
)
CASE_COLUMNS = (
    "id",
    "state",
    "subject",
    "scope",
    "purpose",
    "grounds",
    "substance",
    "assistance_kinds",
    "assistance_sought",
    "identifiers",
    "execution_term_days",
    "other_information",
    "offence",
    "dual_criminality_confirmed",
    "annex_language",
    "urgent",
    "marking",
    "purposes",
    "approved_at",
    "return_comment",
    "outgoing_number",
    "incoming_number",
    "received_at",
    "closed_at",
    "postponed_until",
    "urgent_confirmed_at",
    "partially_refused",
    "conditions_proposed",
    "conditions_accepted",
    "participation_pending",
    "next_due_at",
    "created_at",
    "updated_at",
    "approved_by_id",
    "drafted_by_id",
    "handling_body_id",
    "instrument_id",
    "requested_body_id",
    "requesting_body_id",
    "submitted_by_id",
)
CLOCK_COLUMNS = (
    "case_id",
    "kind",
    "rule_id",
    "started_by",
    "started_at",
    "term",
    "unit",
    "zone",
    "until",
    "due_at",
    "acting_body_id",
    "obligatory",
    "status",
    "closed_by",
    "closed_at",
    "reminded_before_at",
    "reminded_due_at",
    "last_error",
    "attempts",
)
MESSAGE_COLUMNS = (
    "id",
    "conversation",
    "kind",
    "sender_body_id",
    "recipient_body_id",
    "sender_user_id",
    "seq",
    "position",
    "prev_hash",
    "created_at",
    "instrument",
    "marking",
    "purposes",
    "conditions",
    "body",
    "hash",
    "transport",
)
ATTACHMENT_COLUMNS = (
    "id",
    "message_id",
    "position",
    "name",
    "media_type",
    "size_bytes",
    "sha256",
    "file",
    "uploaded_by_id",
    "uploaded_at",
)
# Need to know (P10.1): the drafting officer, and the officers who receive the executing body's incoming requests.
ASSIGNMENT_COLUMNS = ("case_id", "user_id", "how", "assigned_by_id", "assigned_at")
COLUMNS = dict(
    zip(
        LOADED_TABLES,
        (CASE_COLUMNS, CLOCK_COLUMNS, MESSAGE_COLUMNS, ATTACHMENT_COLUMNS, ASSIGNMENT_COLUMNS),
        strict=True,
    )
)

# --- the words of the requests -------------------------------------------------------------------------------

SUBJECTS = (
    "Хищение денежных средств с банковских карт через фишинговый сайт {domain}",
    "Несанкционированный доступ к информационной системе {org}",
    "DDoS-атака на информационные ресурсы {org}",
    "Распространение вредоносной программы «{malware}» через мессенджер",
    "Вымогательство с использованием программы-шифровальщика {malware}, сервер управления {ip}",
    "Мошенничество с криптовалютой через инвестиционную платформу {domain}",
    "Продажа персональных данных абонентов в канале «{channel}»",
    "Телефонное мошенничество с подменой номера, колл-центр в г. {city}",
    "Взлом учётных записей пользователей социальной сети, группа «{channel}»",
    "Незаконный сбыт наркотических средств через интернет-магазин {domain}",
    "Размещение материалов с призывами к массовым беспорядкам на ресурсе {domain}",
    "Незаконный доступ к базе данных абонентов оператора связи {org}",
)
ORGS = (
    "АО «Казтелеком»",
    "ПАО «Ростелеком»",
    "РУП «Белтелеком»",
    "ОАО «Кыргызтелеком»",
    "ЗАО «Ереван Банк»",
    "АО «Народный банк Казахстана»",
    "Министерства финансов",
    "городской больницы № 4",
    "ТОО «Лог-Сервис»",
)
MALWARE = ("Выплаты-2026", "CryptoLocker.KZ", "AgentTesla", "Mamont", "RedLine", "Quasar RAT", "SpyNote")
CHANNELS = ("Базы-СНГ", "Пробив 24/7", "Выплаты-2026", "Халява КЗ", "Инвест-Клуб", "Новости без цензуры")
CITIES = ("Алматы", "Москва", "Бишкек", "Минск", "Ереван", "Караганда", "Новосибирск", "Ош", "Гомель")
DOMAIN_WORDS = ("bank", "pay", "invest", "login", "bonus", "shop")
TLDS = ("example", "example.kz", "example.ru", "example.by", "example.com", "example.org")
OFFENCES = (
    "ч. 4 ст. 190 УК РК",
    "ч. 3 ст. 159.6 УК РФ",
    "ч. 2 ст. 272 УК РФ",
    "ст. 212 УК РБ",
    "ч. 2 ст. 205 УК РК",
    "ст. 254 УК РА",
    "ч. 3 ст. 209 УК КР",
)
SCOPES = (
    (rules.Scope.IT_CRIME, 60),
    (rules.Scope.PROHIBITED_INTERNET_USE, 18),
    (rules.Scope.INFORMATION_SPACE, 10),
    (rules.Scope.CONSTITUTIONAL_ORDER, 9),
    (rules.Scope.PEACE_AND_SECURITY, 3),
)
ATTACHMENT_NAMES = (
    ("Постановление.pdf", "application/pdf"),
    ("Журналы подключений.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("Справка о движении средств.pdf", "application/pdf"),
    ("Протокол осмотра.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("Снимок экрана.png", "image/png"),
    ("Выгрузка.zip", "application/zip"),
)


@dataclass(frozen=True)
class Body:
    id: int
    code: str
    party: str
    zone: str
    officers: tuple[int, ...]
    signers: tuple[int, ...]  # the head and deputies (P6.5)
    desk: tuple[int, ...]  # the officers who receive its incoming requests (need to know, P10.1)


@dataclass
class Event:
    """A message of the case, before it is stored."""

    at: dt.datetime
    kind: Kind
    sender: Body
    recipient: Body
    user: int
    body: dict[str, Any]
    attachments: int = 0


@dataclass
class Tables:
    """Rows of one case, for each loaded table."""

    cases: list[tuple[Any, ...]] = field(default_factory=list)
    clocks: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    attachments: list[tuple[Any, ...]] = field(default_factory=list)
    assignments: list[tuple[Any, ...]] = field(default_factory=list)


# --- the database ----------------------------------------------------------------------------------------------


def create_database(name: str | None = None) -> str:
    """A new empty database (dropped first if it exists); returns its URL."""
    name = name or f"cybercoop_bench_cases_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER_URL}/{name}"


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def migrate_and_seed(url: str) -> None:
    """The schema and the demo registry and users, through the project's own commands."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, DATABASE_URL=url, CYBERCOOP_DATA_DIR=data_dir)
        for command in (["migrate", "--verbosity", "0"], ["seed_demo", "--json"]):
            subprocess.run(
                [sys.executable, "-m", "cybercoop", "manage", *command],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )


def _check_columns(conn: psycopg.Connection[Any]) -> None:
    """Fail clearly when the schema gained a NOT NULL column the generator does not fill."""
    for table, columns in COLUMNS.items():
        required = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND is_nullable = 'NO' "
                "AND column_default IS NULL AND is_identity = 'NO'",
                (table,),
            )
        }
        missing = required - set(columns)
        if missing:
            raise SystemExit(
                f"{table}: the generator does not fill {sorted(missing)}; update bench/lib/generate_cases.py"
            )


def _drop_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the loaded tables' secondary indexes, unique constraints and foreign keys; return the DDL that
    creates them again."""
    restore: list[str] = []
    for table in LOADED_TABLES:
        rows = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('f', 'u') ORDER BY contype DESC",  # unique first: foreign keys may need them
            (table,),
        ).fetchall()
        for name, definition in rows:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            (table,),
        ).fetchall()
        for name, definition in indexes:
            conn.execute(f"DROP INDEX {name}")
            restore.insert(0, definition)  # indexes before the constraints
    return restore


def _bench_user(conn: psycopg.Connection[Any], body_id: int, code: str, role: str, now: dt.datetime) -> int:
    """A user for a body the demo gives none of that role (RU-FSB, KZ-NSC); its password is unusable."""
    username = f"bench.{code.lower()}.{role}"
    row = conn.execute(
        "INSERT INTO accounts_user (password, username, full_name, position, email, role, language, is_active, "
        "receives_incoming, created_at, body_id) VALUES (%s, %s, %s, %s, '', %s, 'ru', true, %s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET role = EXCLUDED.role RETURNING id",
        ("!" + uuid.uuid4().hex, username, f"Сотрудник {code} ({role})", role, role, role == "officer", now, body_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _registry(conn: psycopg.Connection[Any], now: dt.datetime) -> tuple[dict[str, Body], dict[str, tuple[int, int]]]:
    """The bodies that exchange requests (with their officers and signers) and the instruments (id, term)."""
    bodies = {}
    for body_id, code, party, zone in conn.execute(
        "SELECT b.id, b.code, p.code, COALESCE(NULLIF(b.time_zone, ''), p.time_zone) "
        "FROM registry_body b JOIN registry_party p ON p.id = b.party_id WHERE b.code = ANY(%s)",
        (list(BODY_WEIGHTS),),
    ):
        users = conn.execute(
            "SELECT id, role, receives_incoming FROM accounts_user WHERE body_id = %s AND is_active ORDER BY id",
            (body_id,),
        ).fetchall()
        officers = tuple(u for u, role, _desk in users if role == "officer") or (
            _bench_user(conn, body_id, code, "officer", now),
        )
        desk = tuple(u for u, role, desk in users if role == "officer" and desk) or officers
        signers = tuple(u for u, role, _desk in users if role in ("head", "deputy")) or (
            _bench_user(conn, body_id, code, "head", now),
        )
        bodies[code] = Body(body_id, code, party, zone, officers, signers, desk)
    missing = set(BODY_WEIGHTS) - set(bodies)
    if missing:
        raise SystemExit(f"the demo registry has no bodies {sorted(missing)}")
    instruments = {
        code: (instrument_id, term)
        for instrument_id, code, term in conn.execute(
            "SELECT id, code, execution_term_days FROM registry_instrument WHERE code = ANY(%s)",
            ([PROTOCOL, BILATERAL],),
        )
    }
    return bodies, instruments


# --- the simulation ------------------------------------------------------------------------------------------------


def _days(value: float) -> dt.timedelta:
    return dt.timedelta(days=value)


def _json(value: Any) -> str:
    return _json_encoder.encode(value) if value else ("[]" if isinstance(value, list) else "{}")


_json_encoder = json.JSONEncoder(ensure_ascii=False)
KINDS_JSON = {
    tuple(kinds): json.dumps(kinds)
    for kinds in (["operational_search"], ["procedural_actions"], ["operational_search", "procedural_actions"])
}


def _in_order(events: list[Event]) -> list[Event]:
    """Events by time; an urgent request's written confirmation comes before the case closes."""
    last = events[-1]
    closes = last.kind == Kind.RESULTS or (last.kind == Kind.REFUSAL and not last.body["partial"])
    for event in events:
        if closes and event.kind == Kind.URGENT_CONFIRMATION and event.at >= last.at:
            event.at = max(last.at - dt.timedelta(hours=1), events[0].at + dt.timedelta(minutes=10))
    return sorted(events, key=lambda e: e.at)


class Simulation:
    """Cases one after the other, oldest first, so that the numbers run in order."""

    def __init__(
        self, *, rng: random.Random, bodies: dict[str, Body], instruments: dict[str, tuple[int, int]], now: dt.datetime
    ) -> None:
        self.rng = rng
        self.bodies = bodies
        self.instruments = instruments
        self.now = now
        self.codes = list(BODY_WEIGHTS)
        self.weights = list(BODY_WEIGHTS.values())
        self.zones = {b.code: b.zone for b in bodies.values()}
        self.numbers: dict[str, int] = {}  # "KZ-MIA-2026-" -> how many this simulation gave
        self.first: dict[str, int] = {}  # the last number before the fill (the demo's cases)
        self.part, self.parts = 0, 1

    def continue_numbers(self, numbers: list[str]) -> None:
        """Number after the cases already there (the demo's own, seeded by `seed_demo`)."""
        for number in numbers:
            prefix, _, count = number.rpartition("-")
            if count.isdigit():
                self.first[prefix + "-"] = max(self.first.get(prefix + "-", 0), int(count))

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _number(self, prefix: str) -> str:
        """The next number of the body and year. Parts of the fill run side by side, each on every `parts`-th
        case, so each takes every `parts`-th number: unique, and in about the order of time."""
        self.numbers[prefix] = count = self.numbers.get(prefix, 0) + 1
        return f"{prefix}{self.first.get(prefix, 0) + (count - 1) * self.parts + self.part + 1:05d}"

    def _pick(self, *, other_than: str | None = None) -> Body:
        while True:
            body = self.bodies[self.rng.choices(self.codes, self.weights)[0]]
            if body.party != other_than:
                return body

    def _request_fields(self) -> dict[str, Any]:
        rng = self.rng
        ip = f"{rng.choice((185, 194, 203, 91, 46))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        domain = f"{rng.choice(DOMAIN_WORDS)}-{rng.randrange(10000):04d}.{rng.choice(TLDS)}"
        words = {
            "domain": domain,
            "ip": ip,
            "org": rng.choice(ORGS),
            "malware": rng.choice(MALWARE),
            "channel": rng.choice(CHANNELS),
            "city": rng.choice(CITIES),
        }
        subject = rng.choice(SUBJECTS).format(**words)
        case_number = f"{rng.randrange(10**14, 10**15)}"
        victims = rng.randrange(2, 900)
        offence = rng.choice(OFFENCES)
        kinds = rng.choice(
            (["operational_search"], ["procedural_actions"], ["operational_search", "procedural_actions"])
        )
        return {
            "subject": subject,
            "scope": rng.choices([s for s, _ in SCOPES], [w for _, w in SCOPES])[0],
            "purpose": f"Установление лиц, причастных к преступлению, и обеспечение доказательств по уголовному делу "
            f"№ {case_number}.",
            "grounds": f"Уголовное дело № {case_number} по признакам преступления, предусмотренного {offence}.",
            "substance": f"{subject}. Неустановленные лица с использованием ресурса {domain} (IP-адрес {ip}) "
            f"причинили ущерб {victims} потерпевшим на общую сумму {rng.randrange(10**5, 10**9)} в национальной "
            f"валюте. По имеющимся сведениям, сервер размещён у хостинг-провайдера в г. {rng.choice(CITIES)}, "
            f"а связанные учётные записи зарегистрированы на номера телефонов операторов связи запрашиваемой Стороны.",
            "assistance_kinds": kinds,
            "assistance_sought": f"Установить владельца сервера {ip} и регистранта домена {domain}; истребовать "
            f"журналы подключений за последние три месяца и сведения о платежах за услуги хостинга.",
            "identifiers": f"IP {ip}; домен {domain}; e-mail admin@{domain}; тел. +7 7{rng.randrange(10**8, 10**9)}",
            "execution_term_days": rng.choice((10, 15, 20, 45, 60)) if rng.random() < 0.1 else None,
            "other_information": f"Контактное лицо: следователь {rng.choice(CITIES)}ского отдела, "
            f"тел. +7 {rng.randrange(10**9, 10**10)}.",
            "offence": offence,
            "dual_criminality_confirmed": rng.random() < 0.9,
            "annex_language": rng.choice(("", "", "", "", "kk", "en")),
            "marking": rng.choices(("official", "confidential", "public"), (85, 13, 2))[0],
        }

    def case(self, created_at: dt.datetime, *, with_messages: bool) -> Tables:
        """One case, from drafting to whatever had happened by `now`."""
        rng, now = self.rng, self.now
        requesting = self._pick()
        requested = self._pick(other_than=requesting.party)
        bilateral = {requesting.code, requested.code} == {"KZ-MIA", "RU-MIA"} and rng.random() < 0.3
        instrument_code = BILATERAL if bilateral else PROTOCOL
        instrument_id, default_term = self.instruments[instrument_code]
        fields = self._request_fields()
        urgent = rng.random() < 0.05
        officer = rng.choice(requesting.officers)
        signer = rng.choice(requesting.signers)
        case_id = self._uuid()
        purposes = [fields["purpose"][:300]]
        draft_state: str = CaseState.DRAFT
        submitted_by = approved_by = approved_at = closed_at = None
        outgoing_number = incoming_number = return_comment = ""
        updated_at = min(created_at + _days(rng.uniform(0, 0.1)), now)
        events: list[Event] = []

        fate = rng.random()
        if fate < 0.023:  # a draft never sent: discarded, or still being written
            if fate < 0.02 and created_at + _days(5) < now:
                draft_state, closed_at = CaseState.DISCARDED, created_at + _days(rng.uniform(0.5, 5))
                updated_at = closed_at
            elif rng.random() < 0.3:  # returned by the head (P6.5)
                return_comment = "Уточнить идентификаторы и сумму ущерба."
        else:
            events, submitted_at = self._timeline(requesting, requested, officer, signer, created_at, urgent, fields)
            events = _in_order(events)
            sent_at = events[0].at
            if submitted_at is not None and submitted_at <= now:
                submitted_by = officer
                updated_at = submitted_at
                draft_state = CaseState.AWAITING_APPROVAL
            if sent_at <= now:
                outgoing_number = self._number(f"{requesting.code}-{sent_at:%Y}-")
                events[0].body["outgoing_number"] = outgoing_number
                if not urgent:
                    approved_by, approved_at = signer, sent_at
            events = [e for e in events if e.at <= now]
            for event in events:
                if event.kind == Kind.RECEIPT:
                    incoming_number = self._number(f"{event.sender.code}-{event.at:%Y}-I-")
                    event.body["incoming_number"] = incoming_number
                if event.kind == Kind.URGENT_CONFIRMATION:
                    approved_by, approved_at = event.user, event.at
            if events:
                updated_at = events[-1].at

        term = fields["execution_term_days"] or default_term
        tables = Tables()
        message_ids = [self._uuid() for _ in events]
        derived = rules.derive(
            [
                rules.MessageFacts(str(mid), e.kind, e.sender.code, e.recipient.code, e.at, e.body)
                for mid, e in zip(message_ids, events, strict=True)
            ],
            rules.CaseContext(requesting.code, requested.code, term, 3, 72, self.zones),
            draft_state=draft_state,
        )
        if derived.state in rules.CLOSED_STATES - {CaseState.DISCARDED}:
            closed_at = derived.closed_at
        tables.cases.append(
            (
                case_id,
                derived.state,
                fields["subject"],
                fields["scope"],
                fields["purpose"],
                fields["grounds"],
                fields["substance"],
                KINDS_JSON[tuple(fields["assistance_kinds"])],
                fields["assistance_sought"],
                fields["identifiers"],
                fields["execution_term_days"],
                fields["other_information"],
                fields["offence"],
                fields["dual_criminality_confirmed"],
                fields["annex_language"],
                derived.urgent if events else urgent,
                fields["marking"],
                _json(purposes),
                approved_at,
                return_comment,
                outgoing_number,
                incoming_number,
                derived.received_at,
                closed_at,
                derived.postponed_until,
                derived.urgent_confirmed_at,
                derived.partially_refused,
                _json(list(derived.conditions_proposed)),
                _json(list(derived.conditions_accepted)),
                derived.participation_pending,
                derived.next_due_at,
                created_at,
                updated_at,
                approved_by,
                officer,
                self.bodies[derived.handling_body].id,
                instrument_id,
                requested.id,
                requesting.id,
                submitted_by,
            )
        )
        for spec in derived.clocks:
            tables.clocks.append(self._clock(case_id, spec))
        tables.assignments.append((case_id, officer, "drafted", None, created_at))
        if events:  # sent: the executing body's desk is assigned on arrival
            handling = self.bodies[derived.handling_body]
            desk = [user for user in handling.desk if user != officer]
            tables.assignments += [(case_id, user, "incoming", None, events[0].at) for user in desk]
        if with_messages:
            self._messages(tables, case_id, message_ids, events, instrument_code, fields["marking"], purposes)
        return tables

    def _timeline(
        self,
        requesting: Body,
        requested: Body,
        officer: int,
        signer: int,
        created_at: dt.datetime,
        urgent: bool,
        fields: dict[str, Any],
    ) -> tuple[list[Event], dt.datetime | None]:
        """Every message the case will ever have, with its time (some after `now`), and when it was submitted."""
        rng = self.rng
        request_body = {
            "outgoing_number": "",
            "requesting_body": requesting.code,
            "requested_body": requested.code,
            "urgent": urgent,
            **fields,
            "execution_term_days": fields["execution_term_days"] or 30,
            "signatory": {"name": "Руководитель органа", "position": "Министр", "role": "head"},
        }
        request_body.pop("marking")
        events = []
        submitted_at = None
        if urgent:  # P6.4: sent at once by the officer, confirmed in writing by the head within 72 hours
            t = created_at + _days(rng.uniform(0.01, 0.3))
            events.append(Event(t, Kind.REQUEST, requesting, requested, officer, request_body))
            confirmation = rng.random()
            if confirmation < 0.95:
                hours = rng.uniform(2, 70) if confirmation < 0.85 else rng.uniform(72, 120)
                at = t + dt.timedelta(hours=hours)
                events.append(Event(at, Kind.URGENT_CONFIRMATION, requesting, requested, signer, {"signatory": {}}))
            receipt_delay = rng.uniform(0.01, 0.5)
        else:
            submitted_at = created_at + _days(rng.uniform(0.05, 2))
            t = submitted_at + _days(rng.uniform(0.05, 2))
            events.append(Event(t, Kind.REQUEST, requesting, requested, signer, request_body, int(rng.random() < 0.3)))
            receipt_delay = rng.uniform(0.1, 4)
        if rng.random() < 0.003:  # never registered
            return events, submitted_at
        handling = requested
        responder = rng.choice(handling.officers)
        t += _days(receipt_delay)
        received = {"received_at": t.isoformat(), "incoming_number": ""}
        events.append(Event(t, Kind.RECEIPT, handling, requesting, responder, received))
        if handling.code in FORWARD_TO and rng.random() < 0.06:  # P7.4: within three days of receipt
            t += _days(rng.uniform(0.1, 2.9))
            to_body = self.bodies[FORWARD_TO[handling.code]]
            reason = {"to_body": to_body.code, "reason": "Рассмотрение запроса относится к компетенции другого органа."}
            events.append(Event(t, Kind.FORWARD, handling, requesting, responder, reason))
            handling, responder = to_body, rng.choice(to_body.officers)
        stuck = rng.random() < 0.015  # never closed: its clocks run on, overdue
        if rng.random() < 0.02:  # P8
            t += _days(rng.uniform(0.5, 3))
            people = [{"name": "Иванов И. И.", "position": "старший оперуполномоченный"}]
            span = {"starts_on": (t + _days(10)).date().isoformat(), "ends_on": (t + _days(14)).date().isoformat()}
            events.append(
                Event(
                    t,
                    Kind.PARTICIPATION_REQUEST,
                    requesting,
                    handling,
                    officer,
                    {"representatives": people, **span, "note": ""},
                )
            )
            t += _days(rng.uniform(0.5, 5))
            events.append(
                Event(
                    t,
                    Kind.PARTICIPATION,
                    handling,
                    requesting,
                    responder,
                    {"agreed": True, "representatives": people, **span},
                )
            )
        if rng.random() < 0.05:  # P7.3
            t += _days(rng.uniform(1, 10))
            body = {"reason": "Сведения запрошены у оператора связи; ответ ожидается.", "expected_on": None}
            events.append(Event(t, Kind.DELAY, handling, requesting, responder, body))
        if rng.random() < 0.18:  # P7.5
            t += _days(rng.uniform(1, 10))
            questions = {
                "questions": "Просим сообщить точное время операций и хэш-суммы образцов вредоносной программы."
            }
            events.append(Event(t, Kind.INFO_REQUEST, handling, requesting, responder, questions))
            if rng.random() < 0.03:
                return events, submitted_at
            t += _days(rng.uniform(0.5, 10))
            answer = {"answer": "Время операций и хэш-суммы приведены в приложении."}
            events.append(Event(t, Kind.INFO_REPLY, requesting, handling, officer, answer, int(rng.random() < 0.4)))
        if rng.random() < 0.02:  # P7.6, P7.7
            t += _days(rng.uniform(2, 10))
            conditions = ["Сведения используются только по уголовному делу, указанному в запросе."]
            events.append(
                Event(
                    t,
                    Kind.CONDITIONS,
                    handling,
                    requesting,
                    responder,
                    {"conditions": conditions, "reason": "Закон о персональных данных."},
                )
            )
            if rng.random() < 0.1:
                return events, submitted_at
            t += _days(rng.uniform(1, 7))
            reply = {"accepted": rng.random() < 0.7, "comment": ""}
            events.append(Event(t, Kind.CONDITIONS_REPLY, requesting, handling, officer, reply))
        if rng.random() < 0.02:  # P7.6
            t += _days(rng.uniform(5, 20))
            until = (t + _days(rng.uniform(20, 60))).date()
            body = {"reason": "Исполнение может помешать расследованию.", "until": until.isoformat()}
            events.append(Event(t, Kind.POSTPONEMENT, handling, requesting, responder, body))
            t = max(t, dt.datetime.combine(until, dt.time(8), tzinfo=dt.UTC) - _days(rng.uniform(0, 10)))
        if stuck:
            return events, submitted_at
        return self._outcome(events, t, handling, requesting, responder), submitted_at

    def _outcome(
        self, events: list[Event], t: dt.datetime, handling: Body, requesting: Body, responder: int
    ) -> list[Event]:
        """The refusal or the results, and the messages in the order they were sent."""
        rng = self.rng
        outcome = rng.random()
        if outcome < 0.12:  # P9.1, P9.2
            t += _days(rng.uniform(1, 15))
            reasons = {"reasons": "Исполнение противоречит законодательству запрашиваемой Стороны.", "partial": False}
            events.append(Event(t, Kind.REFUSAL, handling, requesting, rng.choice(handling.signers), reasons))
            return events
        if outcome < 0.15:
            t += _days(rng.uniform(1, 10))
            body = {
                "reasons": "Содержание переписки предоставляется только по решению суда.",
                "partial": True,
                "refused_part": "Содержание переписки.",
            }
            events.append(Event(t, Kind.REFUSAL, handling, requesting, rng.choice(handling.signers), body))
        t += _days(2 + rng.expovariate(1 / 12))  # about one in ten after the 30 days of P7.2
        costs = (
            {"amount": f"{rng.randrange(1000, 90000)}.00", "currency": "KZT", "note": ""}
            if rng.random() < 0.05
            else None
        )
        results = {"summary": "Владелец сервера установлен; журналы подключений прилагаются.", "costs": costs}
        events.append(Event(t, Kind.RESULTS, handling, requesting, responder, results, rng.choice((0, 1, 1, 2, 3))))
        return events

    def _clock(self, case_id: uuid.UUID, spec: rules.ClockSpec) -> tuple[Any, ...]:
        obligatory = spec.kind in rules.OBLIGATORY_CLOCKS
        reminded_before = reminded_due = None
        if obligatory:  # the worker reminds until the clock stops, and has not caught up with the last hour
            handled_until = min(self.now - REMINDER_BACKLOG, spec.closed_at or self.now)
            if spec.due_at - REMIND_BEFORE <= handled_until:
                reminded_before = spec.due_at - REMIND_BEFORE + dt.timedelta(seconds=self.rng.uniform(5, 120))
            if spec.due_at <= handled_until:
                reminded_due = spec.due_at + dt.timedelta(seconds=self.rng.uniform(5, 120))
        return (
            case_id,
            spec.kind,
            spec.rule_id,
            spec.started_by,
            spec.started_at,
            spec.term,
            spec.unit,
            spec.zone,
            spec.until,
            spec.due_at,
            self.bodies[spec.acting_body].id,
            obligatory,
            spec.status,
            spec.closed_by,
            spec.closed_at,
            reminded_before,
            reminded_due,
            "",
            0,
        )

    def _messages(
        self,
        tables: Tables,
        case_id: uuid.UUID,
        message_ids: list[uuid.UUID],
        events: list[Event],
        instrument: str,
        marking: str,
        purposes: list[str],
    ) -> None:
        previous: dict[int, tuple[int, str]] = {}  # sender body id -> (seq, hash)
        accepted: list[str] = []
        proposed: list[str] = []
        purposes_json = _json(purposes)
        for position, (message_id, event) in enumerate(zip(message_ids, events, strict=True), start=1):
            seq, prev_hash = previous.get(event.sender.id, (0, ""))
            digest = hashlib.sha256(message_id.bytes + prev_hash.encode()).hexdigest()
            previous[event.sender.id] = (seq + 1, digest)
            tables.messages.append(
                (
                    message_id,
                    case_id,
                    event.kind.value,
                    event.sender.id,
                    event.recipient.id,
                    event.user,
                    seq + 1,
                    position,
                    prev_hash,
                    event.at,
                    instrument,
                    marking,
                    purposes_json,
                    _json(accepted),
                    _json(event.body),
                    digest,
                    "local",
                )
            )
            if event.kind == Kind.CONDITIONS:
                proposed = list(event.body["conditions"])
            elif event.kind == Kind.CONDITIONS_REPLY and event.body["accepted"]:
                accepted = accepted + proposed
            for index in range(event.attachments):
                name, media_type = self.rng.choice(ATTACHMENT_NAMES)
                uploaded_at = event.at - dt.timedelta(minutes=self.rng.uniform(1, 60))
                tables.attachments.append(
                    (
                        self._uuid(),
                        message_id,
                        index,
                        name,
                        media_type,
                        self.rng.randrange(20_000, 8_000_000),
                        hashlib.sha256(message_id.bytes + bytes([index])).hexdigest(),
                        f"attachments/{uploaded_at:%Y/%m}/{self._uuid().hex}.bin",
                        event.user,
                        uploaded_at,
                    )
                )


# --- the fill -------------------------------------------------------------------------------------------------------


def fill(
    url: str,
    *,
    cases: int,
    messages_for: int | None = None,
    seed: int = 2014,
    now: dt.datetime | None = None,
    parts: int | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load `cases` cases into the migrated and seeded database at `url`; returns counts and timings.

    `parts` processes (default: one per CPU) simulate and COPY side by side, each every `parts`-th case."""
    now = now or dt.datetime.now(dt.UTC)
    parts = parts or min(os.cpu_count() or 1, 4)
    messages_for = cases if messages_for is None else min(messages_for, cases)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        _check_columns(conn)
        bodies, instruments = _registry(conn, now)
        numbers = [
            number
            for (number,) in conn.execute(
                "SELECT outgoing_number FROM assistance_case WHERE outgoing_number <> '' "
                "UNION ALL SELECT incoming_number FROM assistance_case WHERE incoming_number <> ''"
            )
        ]
        conn.commit()  # the bench users, whose foreign-key checks must not be pending when tables are altered
        restore = _drop_indexes(conn)
        conn.commit()
    # Creation instants over the last three years, a little busier lately; oldest first.
    rng = random.Random(seed)
    created = sorted(now - SPAN * (1 - rng.random() ** 0.8) for _ in range(cases))
    part_args = [
        (url, part, parts, created[part::parts], cases - messages_for, seed, now, bodies, instruments, numbers)
        for part in range(parts)
    ]
    counts = dict.fromkeys(LOADED_TABLES, 0)
    with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("fork")) as pool:
        for part_counts in pool.map(_load_part, part_args):
            for table, count in part_counts.items():
                counts[table] += count
    loaded = time.perf_counter()
    progress(f"  {cases:,} cases loaded in {loaded - started:.0f} s; creating the indexes and foreign keys")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in restore:
            conn.execute(statement)
        indexed = time.perf_counter()
        for table in LOADED_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")  # also sets the visibility map, as on a live node
        analysed = time.perf_counter()
    return {
        "cases": counts["assistance_case"],
        "clocks": counts["assistance_clock"],
        "messages": counts["exchange_message"],
        "attachments": counts["exchange_attachment"],
        "assignments": counts["assistance_caseassignment"],
        "cases_with_messages": messages_for,
        "generated_at": now.isoformat(),
        "seed": seed,
        "parts": parts,
        "load_seconds": round(loaded - started, 1),
        "index_seconds": round(indexed - loaded, 1),
        "analyse_seconds": round(analysed - indexed, 1),
        "fill_seconds": round(analysed - started, 1),
    }


def _load_part(args: tuple[Any, ...]) -> dict[str, int]:
    """One part of the fill, in its own process: simulate its cases and COPY them on four connections."""
    url, part, parts, created, messages_from, seed, now, bodies, instruments, numbers = args
    simulation = Simulation(rng=random.Random(seed * 100 + part), bodies=bodies, instruments=instruments, now=now)
    simulation.continue_numbers(numbers)
    simulation.part, simulation.parts = part, parts
    counts = dict.fromkeys(LOADED_TABLES, 0)
    started = time.perf_counter()
    with ExitStack() as stack:
        copies = {}
        for table, columns in COLUMNS.items():
            conn = stack.enter_context(psycopg.connect(url))
            conn.execute("SET synchronous_commit = off")
            cursor = stack.enter_context(conn.cursor())
            copies[table] = stack.enter_context(cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"))
        step = max(len(created) // 10, 1)
        for index, created_at in enumerate(created):
            tables = simulation.case(created_at, with_messages=part + index * parts >= messages_from)
            for table, rows in zip(
                LOADED_TABLES,
                (tables.cases, tables.clocks, tables.messages, tables.attachments, tables.assignments),
                strict=True,
            ):
                copy = copies[table]
                for row in rows:
                    copy.write_row(row)
                counts[table] += len(rows)
            if part == 0 and (index + 1) % step == 0:
                done = (index + 1) * parts
                print(f"  {done:>9,} cases generated ({time.perf_counter() - started:.0f} s)", flush=True)
    return counts


def generate(
    *, cases: int, messages_for: int | None = None, name: str | None = None, progress: Callable[[str], None] = print
) -> tuple[str, dict[str, Any]]:
    """Create, migrate, seed and fill a database; returns its URL and the fill's figures."""
    url = create_database(name)
    try:
        progress(f"database {url}: migrating and seeding the demo registry")
        start = time.perf_counter()
        migrate_and_seed(url)
        prepared = time.perf_counter() - start
        progress(f"filling {cases:,} cases")
        report = fill(url, cases=cases, messages_for=messages_for, progress=progress)
    except BaseException:
        drop_database(url)
        raise
    report["prepare_seconds"] = round(prepared, 1)
    return url, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="number of cases (default 1,000,000)")
    parser.add_argument("--messages-for", type=int, help="give messages only to this many most recent cases")
    parser.add_argument("--name", help="database name (default cybercoop_bench_cases_<pid>)")
    parser.add_argument("--keep", action="store_true", help="keep the database and print its URL")
    args = parser.parse_args(argv)
    url, report = generate(cases=args.cases, messages_for=args.messages_for, name=args.name)
    print(", ".join(f"{k}={v}" for k, v in report.items()))
    print(
        f"fill took {report['fill_seconds']} s: load {report['load_seconds']} s, "
        f"indexes {report['index_seconds']} s, analyse {report['analyse_seconds']} s"
    )
    if args.keep:
        print(f"kept: {url}")
    else:
        drop_database(url)


if __name__ == "__main__":
    main()
