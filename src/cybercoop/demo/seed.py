"""Seeding the demonstration through the domains' services, so every seeded row is audited too."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from cybercoop.accounts import selectors as account_selectors
from cybercoop.accounts import services as account_services
from cybercoop.assistance import services as assistance
from cybercoop.assistance.models import Case
from cybercoop.core.clock import FrozenClock, use_clock
from cybercoop.demo import data
from cybercoop.registry import selectors as registry_selectors
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import Instrument, InstrumentEvent, Party, PartyProfile


@dataclass(frozen=True)
class Login:
    username: str
    role: str
    body: str
    full_name: str


@transaction.atomic
def seed(*, password: str, registry: bool = True, users: bool = True, node: str = "") -> list[Login]:
    """Create what is missing of the demo's Parties, bodies, users and cases; safe to run again.

    On a single node (the default) everything. In the multi-node demo: the Secretariat's node seeds the
    registry (`users=False`) before it publishes the directory, and then every node, the Secretariat's
    included, seeds with `registry=False, node=ITS_ID` the users of the bodies the directory assigns to it,
    and the requests they start (their own side of the workflow only: the other side acts on its own node)."""
    if registry:
        _seed_parties_and_bodies()
    logins: list[Login] = []
    if not users:
        return logins
    for username, body_code, role, full_name, position in data.USERS:
        body = registry_selectors.get_body(code=body_code)
        if body is None or (node and (body.node is None or body.node.code != node)):
            continue
        if account_selectors.get_user(username=username) is None:
            account_services.create_user(
                actor=None,
                username=username,
                full_name=full_name,
                position=position,
                body=body,
                role=role,
                password=password,
                receives_incoming=username in data.RECEIVES_INCOMING,
            )
        logins.append(Login(username=username, role=role, body=body_code, full_name=full_name))
    if not Case.objects.exists():
        _seed_cases(local_only=bool(node))
    return logins


def node_of_party(party_code: str) -> str:
    """The multi-node demo's node for a Party's bodies: Kazakhstan, Russia and Armenia run their own; the
    Secretariat's node serves the others and itself."""
    return data.DEMO_NODE_OF_PARTY.get(party_code, data.SECRETARIAT_NODE)


def _seed_parties_and_bodies() -> None:
    parties: dict[str, Party] = {p.code: p for p in registry_selectors.parties()}
    for code, kind, zone, name_ru, name_kk, name_en in data.PARTIES:
        if code not in parties:
            parties[code] = registry_services.register_party(
                actor=None,
                code=code,
                kind=kind,
                time_zone=zone,
                name_ru=name_ru,
                name_kk=name_kk,
                name_en=name_en,
            )
    for party_code, code, kind, name_ru, name_kk, name_en in data.BODIES:
        if registry_selectors.get_body(code=code) is None:
            registry_services.register_body(
                actor=None,
                party=parties[party_code],
                code=code,
                kind=kind,
                name_ru=name_ru,
                name_kk=name_kk,
                name_en=name_en,
            )
    _seed_registry(parties)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _seed_registry(parties: dict[str, Party]) -> None:
    """Instruments, the depositary's records, designations with their acknowledgements, Party profiles."""
    instruments: dict[str, Instrument] = {}
    for code, kind, amends, adopted_on, place, name_ru, name_kk, name_en, required in data.INSTRUMENTS:
        existing = registry_selectors.get_instrument(code=code)
        instruments[code] = existing or registry_services.create_instrument(
            actor=None,
            code=code,
            kind=kind,
            amends=instruments.get(amends) if amends else None,
            adopted_on=dt.date.fromisoformat(adopted_on),
            place=place,
            name_ru=name_ru,
            name_kk=name_kk,
            name_en=name_en,
            notifications_required=required,
        )
    recorded = {
        (e.instrument.code, e.party.code, e.kind) for e in InstrumentEvent.objects.select_related("instrument", "party")
    }
    for code, party, kind, on, effective_on, reference in data.EVENTS:
        if (code, party, kind) not in recorded:
            registry_services.record_event(
                actor=None,
                instrument=instruments[code],
                party=parties[party],
                kind=kind,
                on=dt.date.fromisoformat(on),
                effective_on=_date(effective_on),
                reference=reference,
            )
    protocol = instruments[data.PROTOCOL_CODE]
    if not registry_selectors.designation_notices(instrument=protocol).exists():
        notices = [
            registry_services.file_designation(
                actor=None,
                instrument=protocol,
                party=parties[party],
                kind=kind,
                body=registry_selectors.get_body(code=body),
                replaces=registry_selectors.get_body(code=replaces) if replaces else None,
                effective_on=dt.date.fromisoformat(effective_on),
            )
            for party, kind, body, replaces, effective_on in data.DESIGNATIONS
        ]
        # Every announcement acknowledged, but for the last one, still awaited from some Parties (P4.3).
        for notice in notices:
            for acknowledgement in notice.acknowledgements.select_related("party"):
                if notice is notices[-1] and acknowledgement.party.code in data.LATE_ACKNOWLEDGERS:
                    continue
                registry_services.acknowledge(actor=None, acknowledgement=acknowledgement)
    for party, languages, signature, dual, limits, days, opens, closes, contact, phone, email in data.PROFILES:
        if not PartyProfile.objects.filter(party=parties[party]).exists():
            registry_services.update_party_profile(
                actor=None,
                party=parties[party],
                accepted_languages=languages,
                signature_required=signature,
                dual_criminality_required=dual,
                evidence_use_limits=limits,
                working_days=days,
                office_opens_at=dt.time.fromisoformat(opens),
                office_closes_at=dt.time.fromisoformat(closes),
                contact_name=contact,
                contact_phone=phone,
                contact_email=email,
            )


CASE_START = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)
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


def _with_files(args: dict[str, Any]) -> dict[str, Any]:
    """A step's arguments with its `files` ((name, text) pairs) as the uploads the services take."""
    args = dict(args)
    files = args.pop("files", ())
    if files:
        args["uploads"] = [SimpleUploadedFile(name, text.encode(), content_type="text/plain") for name, text in files]
    return args


def _seed_cases(*, local_only: bool = False) -> None:
    """A few requests in different states, replayed through the services with the clock set back. With
    `local_only`, the requests of this node's users, as far as this node's users take them."""
    users = {u.username: u for u in account_selectors.users()}
    protocol = registry_selectors.protocol()
    actions = {
        "submit": lambda actor, case, args: assistance.submit_for_approval(actor=actor, case=case),
        "approve": lambda actor, case, args: assistance.approve_and_send(actor=actor, case=case),
        "send_urgent": lambda actor, case, args: assistance.send_urgent(actor=actor, case=case),
        "receipt": lambda actor, case, args: assistance.register_receipt(actor=actor, case=case),
        "information_request": lambda actor, case, args: assistance.request_information(actor=actor, case=case, **args),
        "results": lambda actor, case, args: assistance.send_results(actor=actor, case=case, **_with_files(args)),
        "conditions": lambda actor, case, args: assistance.propose_conditions(actor=actor, case=case, **args),
        "conditions_reply": lambda actor, case, args: assistance.reply_to_conditions(actor=actor, case=case, **args),
        "refuse_partly": lambda actor, case, args: assistance.refuse(actor=actor, case=case, partial=True, **args),
    }
    for index, (_key, author, to_body, urgent, subject, steps) in enumerate(data.CASES):
        if author not in users:
            continue
        if local_only:  # up to the first act of a user of another node
            steps = steps[: next((i for i, step in enumerate(steps) if step[1] not in users), len(steps))]
        with use_clock(FrozenClock(CASE_START + dt.timedelta(days=index * 2))) as frozen:
            start = frozen.now()
            case = assistance.create_draft(
                actor=users[author],
                requested_body=registry_selectors.get_body(code=to_body),
                instrument=protocol,
                subject=subject,
                urgent=urgent,
                **CASE_FIELDS,
            )
            for days, actor, action, args in steps:
                frozen.set(start + dt.timedelta(days=days, hours=2))
                case = actions[action](users[actor], case, args)
