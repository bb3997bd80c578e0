"""Seeding the demonstration through the domains' services, so every seeded row is audited too."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.db import transaction

from cybercoop.accounts import selectors as account_selectors
from cybercoop.accounts import services as account_services
from cybercoop.accounts.models import User
from cybercoop.assistance.models import Case
from cybercoop.demo import cases, data
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
    and the requests they start, as far as its own users take them (`cases.advance_cases`); once the nodes serve,
    `cases.play_cases` on each plays the rest as the other nodes' acts arrive."""
    if registry:
        _seed_parties_and_bodies()
    logins: list[Login] = []
    if not users:
        return logins
    password_validation.validate_password(password)
    created: list[str] = []
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
                password=None,  # set below, for all of them at once
                receives_incoming=username in data.RECEIVES_INCOMING,
            )
            created.append(username)
        logins.append(Login(username=username, role=role, body=body_code, full_name=full_name))
    if created:
        # The demo's users share one password: hashed once (a hash costs half a second of CPU by design, and the
        # demo and the tests seed a node many times over), so they share its salt too, which tells nothing more.
        User.objects.filter(username__in=created).update(password=make_password(password))
    if not Case.objects.exists():
        # The demo's requests as far as this node's users take them: on one node, to their end; in the multi-node
        # demo, up to the first act of another node's user (`seed_demo --play` plays the rest as it arrives).
        cases.advance_cases()
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
