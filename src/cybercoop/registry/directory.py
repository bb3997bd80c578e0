"""The registry's content as the Secretariat's directory carries it: `snapshot` on the Secretariat's node,
`apply_snapshot` on every other node, so that all of them answer "is this instrument in force between A
and B on D?" and "which node serves this body?" from the same records (EXCHANGE.md, Directory).

Signing, pinning and fetching are the exchange domain's (`exchange.federation.directory`); this module
knows only the tables. Its JSON is plain: codes as natural keys, dates as ISO 8601 strings, times of day
as "HH:MM:SS", instants as RFC 3339 in UTC, lists sorted, so the same registry always gives the same
document, byte for byte once canonicalised.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.registry import rules, services
from cybercoop.registry.models import (
    Acknowledgement,
    Body,
    DesignationNotice,
    Instrument,
    InstrumentEvent,
    Node,
    Party,
    PartyProfile,
)

SECTIONS: Final = ("parties", "nodes", "bodies", "instruments", "designations", "announcements")
# A directory of a version before announcements were carried is still read (as announcing nothing new).
OPTIONAL_SECTIONS: Final = ("announcements",)
# The signed document adds these to the snapshot; `apply_snapshot` accepts them and checks the version.
ENVELOPE_FIELDS: Final = ("version", "issued_at")
TABLES: Final = ("parties", "profiles", "nodes", "bodies", "instruments", "events", "designations", "announcements")
# Events and designation notices are append-only: a directory only ever adds to them.
APPEND_ONLY_TABLES: Final = ("events", "designations")

LANGUAGES: Final = ("ru", "kk", "en")
TERM_FIELDS: Final = (
    "execution_term_days",
    "forward_term_days",
    "urgent_confirmation_hours",
    "notifications_required",
    "withdrawal_notice_months",
)
PROFILE_FIELDS: Final = (*services.PROFILE_FIELDS, "signing_authorities", "updated_at")
MAX_AUTHORITY_PEM_CHARS: Final = 16 * 1024
PARTY_FIELDS: Final = frozenset({"code", "kind", "names", "time_zone", "profile"})
NODE_FIELDS: Final = frozenset(
    {
        "code",
        "name",
        "base_url",
        "signing_jwk",
        "encryption_jwk",
        "software_version",
        "protocol_version",
        "withdrawn_at",
    }
)
BODY_FIELDS: Final = frozenset({"code", "party", "kind", "names", "time_zone", "node"})
INSTRUMENT_FIELDS: Final = frozenset({"code", "kind", "names", "amends", "adopted_on", "place", "events", *TERM_FIELDS})
EVENT_FIELDS: Final = frozenset({"party", "kind", "on", "effective_on", "reference"})
DESIGNATION_FIELDS: Final = frozenset(
    {"instrument", "party", "kind", "body", "replaces", "effective_on", "reference", "filed_at"}
)
# An announcement names its notice by its place in the same document's `designations` (a notice has no code).
ANNOUNCEMENT_FIELDS: Final = frozenset({"notice", "party", "announced_at", "acknowledged_at"})

M = TypeVar("M", bound=models.Model)


# --- the Secretariat's side: the registry as a document ------------------------------------------------


def snapshot() -> dict[str, Any]:
    """The registry's content, JSON-ready and in a fixed order: Parties with their profiles, nodes, bodies
    with the node serving each, instruments with the depositary's records, designation notices, and their
    announcements to the Parties with each Party's acknowledgement (P4.3): so an announcement reaches the
    Party's own node, where its registrar acknowledges it.

    Local bookkeeping (who recorded or acknowledged what, when a row was stored here, originals and
    certified copies) stays out: it is not the same on every node and no rule of another node needs it.
    """
    notices = list(
        DesignationNotice.objects.select_related("instrument", "party", "body", "replaces").order_by(
            "instrument__code", "party__code", "effective_on", "pk"
        )
    )
    return {
        "parties": [_party(party) for party in Party.objects.select_related("profile").order_by("code")],
        "nodes": [_node(node) for node in Node.objects.order_by("code")],
        "bodies": [_body(body) for body in Body.objects.select_related("party", "node").order_by("code")],
        "instruments": [
            _instrument(instrument)
            for instrument in Instrument.objects.select_related("amends")
            .prefetch_related(models.Prefetch("events", queryset=InstrumentEvent.objects.select_related("party")))
            .order_by("code")
        ],
        # In the order the rules replay them (P4.2): by date of effect, then as filed. Same-day notices of one
        # Party keep their filing order, which can matter (a withdrawal and a new designation on one date).
        "designations": [_designation(notice) for notice in notices],
        "announcements": _announcements(notices),
    }


def _names(row: Any) -> dict[str, str]:
    return {language: getattr(row, f"name_{language}") for language in LANGUAGES}


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds") if value is not None else None


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _party(party: Party) -> dict[str, Any]:
    try:
        profile: PartyProfile | None = party.profile
    except PartyProfile.DoesNotExist:
        profile = None
    return {
        "code": party.code,
        "kind": party.kind,
        "names": _names(party),
        "time_zone": party.time_zone,
        "profile": _profile(profile) if profile is not None else None,
    }


def _profile(profile: PartyProfile) -> dict[str, Any]:
    return {
        "accepted_languages": sorted(profile.accepted_languages),
        "signature_required": profile.signature_required,
        "dual_criminality_required": profile.dual_criminality_required,
        "evidence_use_limits": profile.evidence_use_limits,
        "working_days": sorted(profile.working_days),
        "office_opens_at": profile.office_opens_at.isoformat(),
        "office_closes_at": profile.office_closes_at.isoformat(),
        "contact_name": profile.contact_name,
        "contact_phone": profile.contact_phone,
        "contact_email": profile.contact_email,
        "signing_authorities": sorted(profile.signing_authorities),
        "updated_at": _instant(profile.updated_at),
    }


def _node(node: Node) -> dict[str, Any]:
    return {
        "code": node.code,
        "name": node.name,
        "base_url": node.base_url,
        "signing_jwk": node.signing_jwk,
        "encryption_jwk": node.encryption_jwk,
        "software_version": node.software_version,
        "protocol_version": node.protocol_version,
        "withdrawn_at": _instant(node.withdrawn_at),
    }


def _body(body: Body) -> dict[str, Any]:
    return {
        "code": body.code,
        "party": body.party.code,
        "kind": body.kind,
        "names": _names(body),
        "time_zone": body.time_zone,
        "node": body.node.code if body.node is not None else None,
    }


def _instrument(instrument: Instrument) -> dict[str, Any]:
    events = sorted(instrument.events.all(), key=lambda event: (event.party.code, event.kind))
    return {
        "code": instrument.code,
        "kind": instrument.kind,
        "names": _names(instrument),
        "amends": instrument.amends.code if instrument.amends is not None else None,
        "adopted_on": _day(instrument.adopted_on),
        "place": instrument.place,
        **{field: getattr(instrument, field) for field in TERM_FIELDS},
        "events": [
            {
                "party": event.party.code,
                "kind": event.kind,
                "on": _day(event.on),
                "effective_on": _day(event.effective_on),
                "reference": event.reference,
            }
            for event in events
        ],
    }


def _designation(notice: DesignationNotice) -> dict[str, Any]:
    return {
        "instrument": notice.instrument.code,
        "party": notice.party.code,
        "kind": notice.kind,
        "body": notice.body.code,
        "replaces": notice.replaces.code if notice.replaces is not None else None,
        "effective_on": _day(notice.effective_on),
        "reference": notice.reference,
        "filed_at": _instant(notice.filed_at),
    }


def _announcements(notices: list[DesignationNotice]) -> list[dict[str, Any]]:
    """Each notice's announcements, by the notice's place in `designations` and then by Party."""
    place = {notice.pk: index for index, notice in enumerate(notices)}
    rows = [
        {
            "notice": place[ack.notice_id],
            "party": ack.party.code,
            "announced_at": _instant(ack.announced_at),
            "acknowledged_at": _instant(ack.acknowledged_at),
        }
        for ack in Acknowledgement.objects.select_related("party")
        if ack.notice_id in place
    ]
    return sorted(rows, key=lambda row: (row["notice"], row["party"]))


def check(doc: Mapping[str, Any], *, version: int) -> None:
    """Raise ValueError unless `doc` has the shape and references `apply_snapshot` takes. The Secretariat
    checks what it is about to sign, so that no node is ever sent a directory it must refuse."""
    _read(doc, version=version)


# --- every other node: the document into the tables ------------------------------------------------------


@transaction.atomic
def apply_snapshot(doc: Mapping[str, Any], *, version: int) -> dict[str, int]:
    """Mirror a directory's content into this node's registry, all or nothing; the counts of rows inserted
    and updated per table (`parties_inserted`, `bodies_updated`, `events_inserted` …).

    Rows are matched by their natural keys (codes; a record by instrument, Party and kind; a designation
    notice by all it says). Parties, nodes, bodies, instruments and profiles take the directory's values;
    depositary records and designation notices are only ever added, never changed or removed; announcements
    are added and a Party's acknowledgement is recorded, never taken back. Applying the same directory twice
    changes nothing. Raises ValueError, naming the faulty place, for a document
    that is not a directory or that contradicts a record held here; nothing is applied then.
    """
    content = _read(doc, version=version)
    counts: Counter[str] = Counter({f"{table}_inserted": 0 for table in TABLES})
    counts.update({f"{table}_updated": 0 for table in TABLES if table not in APPEND_ONLY_TABLES})
    now = clock.now()

    parties: dict[str, Party] = {}
    for index, row in enumerate(content["parties"]):
        path = f"parties[{index}]"
        party = _upsert(Party, path, {"code": row["code"]}, row["fields"], counts, "parties")
        parties[party.code] = party
        if row["profile"] is not None:
            _upsert(PartyProfile, f"{path}.profile", {"party_id": party.pk}, row["profile"], counts, "profiles")

    nodes: dict[str, Node] = {}
    for index, row in enumerate(content["nodes"]):
        # The Secretariat's registration and update times are its own; here they say when the row arrived.
        node = _upsert(
            Node,
            f"nodes[{index}]",
            {"code": row["code"]},
            row["fields"],
            counts,
            "nodes",
            on_insert={"registered_at": now},
            stamp=now,
        )
        nodes[node.code] = node

    bodies: dict[str, Body] = {}
    for index, row in enumerate(content["bodies"]):
        fields = {
            **row["fields"],
            "party_id": parties[row["party"]].pk,
            "node_id": nodes[row["node"]].pk if row["node"] is not None else None,
        }
        body = _upsert(Body, f"bodies[{index}]", {"code": row["code"]}, fields, counts, "bodies")
        bodies[body.code] = body

    # An amendment refers to the instrument it amends, so bases go first (the reader refused cycles).
    instruments: dict[str, Instrument] = {}
    pending = list(enumerate(content["instruments"]))
    while pending:
        ready = [(i, row) for i, row in pending if row["amends"] is None or row["amends"] in instruments]
        if not ready:  # unreachable after `_check_amendments`; a loop that cannot end is worse than a refusal
            raise ValueError("instruments: the amendments cannot be ordered")
        for index, row in ready:
            fields = {
                **row["fields"],
                "amends_id": instruments[row["amends"]].pk if row["amends"] is not None else None,
            }
            instruments[row["code"]] = _upsert(
                Instrument, f"instruments[{index}]", {"code": row["code"]}, fields, counts, "instruments"
            )
        pending = [item for item in pending if item not in ready]

    held_events = {
        (event.instrument_id, event.party_id, event.kind): event
        for event in InstrumentEvent.objects.filter(instrument__in=instruments.values())
    }
    for index, row in enumerate(content["instruments"]):
        instrument = instruments[row["code"]]
        for event_index, event in enumerate(row["events"]):
            path = f"instruments[{index}].events[{event_index}]"
            party = parties[event["party"]]
            held = held_events.get((instrument.pk, party.pk, event["kind"]))
            facts = {"on": event["on"], "effective_on": event["effective_on"], "reference": event["reference"]}
            if held is not None:
                if any(getattr(held, field) != value for field, value in facts.items()):
                    raise ValueError(
                        f"{path}: the depositary's record of {party.code} ({event['kind']}) under {instrument.code} "
                        "differs from the one held here, and records are never changed"
                    )
                continue
            record = InstrumentEvent(
                instrument=instrument, party=party, kind=event["kind"], recorded_at=now, recorded_by=None, **facts
            )
            _clean(record, path)
            record.save()
            counts["events_inserted"] += 1

    # A notice has no code: it is known by all it says, and the same notice may be filed twice (designated,
    # withdrawn, designated again on one date), so each held notice matches one entry, in the order filed.
    held_notices: dict[tuple[Any, ...], list[DesignationNotice]] = {}
    for held_notice in DesignationNotice.objects.order_by("pk"):
        held_notices.setdefault(_notice_key(held_notice), []).append(held_notice)
    notices: list[DesignationNotice] = []  # the row of each entry of `designations`, for the announcements
    for index, row in enumerate(content["designations"]):
        notice = DesignationNotice(
            instrument=instruments[row["instrument"]],
            party=parties[row["party"]],
            kind=row["kind"],
            body=bodies[row["body"]],
            replaces=bodies[row["replaces"]] if row["replaces"] is not None else None,
            effective_on=row["effective_on"],
            reference=row["reference"],
            filed_at=row["filed_at"],
            filed_by=None,
        )
        matching = held_notices.get(_notice_key(notice))
        if matching:
            notices.append(matching.pop(0))
            continue
        _clean(notice, f"designations[{index}]")
        notice.save()
        notices.append(notice)
        counts["designations_inserted"] += 1

    # P4.3: an announcement is added, and a Party's acknowledgement recorded, never taken back: one made here
    # and still on its way to the Secretariat stays, whatever an earlier directory says.
    held_announcements = {
        (ack.notice_id, ack.party_id): ack
        for ack in Acknowledgement.objects.filter(notice__in=[notice.pk for notice in notices])
    }
    for index, row in enumerate(content["announcements"]):
        notice, party = notices[row["notice"]], parties[row["party"]]
        held_ack = held_announcements.get((notice.pk, party.pk))
        if held_ack is None:
            ack = Acknowledgement(
                notice=notice,
                party=party,
                announced_at=row["announced_at"],
                acknowledged_at=row["acknowledged_at"],
                acknowledged_by=None,
            )
            _clean(ack, f"announcements[{index}]")
            ack.save()
            held_announcements[(notice.pk, party.pk)] = ack
            counts["announcements_inserted"] += 1
        elif held_ack.acknowledged_at is None and row["acknowledged_at"] is not None:
            held_ack.acknowledged_at = row["acknowledged_at"]
            held_ack.save(update_fields=["acknowledged_at"])
            counts["announcements_updated"] += 1

    result = dict(sorted(counts.items()))
    if any(result.values()):
        audit.record(
            action=AuditAction.DIRECTORY_APPLIED,
            data={"version": version, "changes": {name: count for name, count in result.items() if count}},
        )
    return result


def _notice_key(notice: DesignationNotice) -> tuple[Any, ...]:
    return (
        notice.instrument_id,
        notice.party_id,
        notice.kind,
        notice.body_id,
        notice.replaces_id,
        notice.effective_on,
    )


def _upsert(
    model: type[M],
    path: str,
    lookup: dict[str, Any],
    values: dict[str, Any],
    counts: Counter[str],
    table: str,
    *,
    on_insert: dict[str, Any] | None = None,
    stamp: dt.datetime | None = None,
) -> M:
    """The row found by `lookup`, inserted or brought to `values`; counted as inserted, updated or neither.
    `on_insert` holds values for a new row only; `stamp` goes into `updated_at` whenever the row is written."""
    stamped = {"updated_at": stamp} if stamp is not None else {}
    instance = model._default_manager.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values, **(on_insert or {}), **stamped)
        _clean(instance, path)
        instance.save(force_insert=True)
        counts[f"{table}_inserted"] += 1
        return instance
    changed = [field for field, value in values.items() if getattr(instance, field) != value]
    if changed:
        for field, value in {**{field: values[field] for field in changed}, **stamped}.items():
            setattr(instance, field, value)
        _clean(instance, path)
        instance.save(update_fields=[*changed, *stamped])
        counts[f"{table}_updated"] += 1
    return instance


def _clean(instance: models.Model, path: str) -> None:
    """The model's own field checks (lengths, slugs, URLs, time zones, e-mail), as a ValueError naming the
    place. References were resolved from the document already, so foreign keys are not looked up again."""
    relations = [field.name for field in instance._meta.fields if field.is_relation]
    try:
        instance.full_clean(exclude=relations, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        problems = "; ".join(
            f"{field}: {' '.join(str(message) for message in messages)}"
            for field, messages in sorted(error.message_dict.items())
        )
        raise ValueError(f"{path}: {problems}") from error


# --- reading the document ------------------------------------------------------------------------------
# Every value is checked for its type and form before anything is written, and every reference (a body's
# Party and node, an amendment's base, a notice's body) must name an entry of the same document: a
# directory is complete, never a patch.


def _read(doc: Mapping[str, Any], *, version: int) -> dict[str, Any]:
    """The document's content in the form `apply_snapshot` writes, or ValueError saying what is wrong."""
    if not isinstance(doc, Mapping):
        raise ValueError("the directory is not a JSON object")
    if not _is_int(version) or version < 1:
        raise ValueError("the version must be a whole number from 1")
    missing = [section for section in SECTIONS if section not in doc and section not in OPTIONAL_SECTIONS]
    if missing:
        raise ValueError(f"the directory has no {', '.join(missing)}")
    unknown = sorted(set(doc) - set(SECTIONS) - set(ENVELOPE_FIELDS))
    if unknown:
        raise ValueError(f"the directory has sections this version does not know: {', '.join(map(str, unknown))}")
    if "version" in doc and doc["version"] != version:
        raise ValueError(f"version: the document says {doc['version']!r}, not {version}")
    if "issued_at" in doc:
        _instant_of(doc["issued_at"], "issued_at", nullable=False)
    for section in SECTIONS:
        if not isinstance(doc.get(section, []), list):
            raise ValueError(f"{section}: not a list")

    parties = [_read_party(row, f"parties[{i}]") for i, row in enumerate(doc["parties"])]
    party_codes = _unique([row["code"] for row in parties], "parties")
    nodes = [_read_node(row, f"nodes[{i}]") for i, row in enumerate(doc["nodes"])]
    _unique([row["code"] for row in nodes], "nodes")
    active_nodes = {row["code"] for row in nodes if row["fields"]["withdrawn_at"] is None}
    withdrawn_nodes = {row["code"] for row in nodes} - active_nodes
    bodies = [
        _read_body(row, f"bodies[{i}]", party_codes, active_nodes, withdrawn_nodes)
        for i, row in enumerate(doc["bodies"])
    ]
    _unique([row["code"] for row in bodies], "bodies")
    body_party = {row["code"]: row["party"] for row in bodies}
    instruments = [_read_instrument(row, f"instruments[{i}]", party_codes) for i, row in enumerate(doc["instruments"])]
    instrument_codes = _unique([row["code"] for row in instruments], "instruments")
    _check_amendments(instruments, instrument_codes)
    designations = [
        _read_designation(row, f"designations[{i}]", instrument_codes, body_party)
        for i, row in enumerate(doc["designations"])
    ]
    announcements = [
        _read_announcement(row, f"announcements[{i}]", designations, party_codes)
        for i, row in enumerate(doc.get("announcements", []))
    ]
    _unique([f"{row['notice']}/{row['party']}" for row in announcements], "announcements")
    return {
        "parties": parties,
        "nodes": nodes,
        "bodies": bodies,
        "instruments": instruments,
        "designations": designations,
        "announcements": announcements,
    }


def _read_party(row: Any, path: str) -> dict[str, Any]:
    _fields(row, PARTY_FIELDS, path)
    profile = row["profile"]
    return {
        "code": _text(row["code"], f"{path}.code", blank=False),
        "fields": {
            "kind": _choice(row["kind"], f"{path}.kind", rules.PartyKind.values),
            **_read_names(row["names"], f"{path}.names"),
            "time_zone": _text(row["time_zone"], f"{path}.time_zone", blank=False),
        },
        "profile": _read_profile(profile, f"{path}.profile") if profile is not None else None,
    }


def _read_profile(row: Any, path: str) -> dict[str, Any]:
    _fields(row, frozenset(PROFILE_FIELDS), path)
    languages = row["accepted_languages"]
    if not isinstance(languages, list) or any(code not in rules.PROFILE_LANGUAGE_LABELS for code in languages):
        raise ValueError(f"{path}.accepted_languages: not a list of the languages a Party may accept")
    days = row["working_days"]
    if not isinstance(days, list) or any(not _is_int(day) or not 1 <= day <= 7 for day in days):
        raise ValueError(f"{path}.working_days: not a list of ISO weekdays (1 to 7)")
    return {
        "accepted_languages": sorted(set(languages)),
        "signature_required": _bool(row["signature_required"], f"{path}.signature_required"),
        "dual_criminality_required": _bool(row["dual_criminality_required"], f"{path}.dual_criminality_required"),
        "evidence_use_limits": _text(row["evidence_use_limits"], f"{path}.evidence_use_limits"),
        "working_days": sorted(set(days)),
        "office_opens_at": _time_of(row["office_opens_at"], f"{path}.office_opens_at"),
        "office_closes_at": _time_of(row["office_closes_at"], f"{path}.office_closes_at"),
        "contact_name": _text(row["contact_name"], f"{path}.contact_name"),
        "contact_phone": _text(row["contact_phone"], f"{path}.contact_phone"),
        "contact_email": _text(row["contact_email"], f"{path}.contact_email"),
        "signing_authorities": _read_authorities(row["signing_authorities"], f"{path}.signing_authorities"),
        "updated_at": _instant_of(row["updated_at"], f"{path}.updated_at", nullable=True),
    }


def _read_authorities(value: Any, path: str) -> list[str]:
    """PEM certificates, as text: parsing and checking them is the documents domain's, when it verifies."""
    if not isinstance(value, list) or any(
        not isinstance(pem, str)
        or not pem.startswith("-----BEGIN CERTIFICATE-----")
        or len(pem) > MAX_AUTHORITY_PEM_CHARS
        for pem in value
    ):
        raise ValueError(f"{path}: not a list of PEM certificates")
    return sorted(set(value))


def _read_node(row: Any, path: str) -> dict[str, Any]:
    _fields(row, NODE_FIELDS, path)
    for field in ("signing_jwk", "encryption_jwk"):
        if not isinstance(row[field], dict):
            raise ValueError(f"{path}.{field}: not a JWK object")
    protocol_version = row["protocol_version"]
    if not _is_int(protocol_version) or not 1 <= protocol_version <= 32767:
        raise ValueError(f"{path}.protocol_version: not a protocol version")
    return {
        "code": _text(row["code"], f"{path}.code", blank=False),
        "fields": {
            "name": _text(row["name"], f"{path}.name", blank=False),
            "base_url": _text(row["base_url"], f"{path}.base_url", blank=False),
            "signing_jwk": row["signing_jwk"],
            "encryption_jwk": row["encryption_jwk"],
            "software_version": _text(row["software_version"], f"{path}.software_version"),
            "protocol_version": protocol_version,
            "withdrawn_at": _instant_of(row["withdrawn_at"], f"{path}.withdrawn_at", nullable=True),
        },
    }


def _read_body(
    row: Any, path: str, party_codes: set[str], active_nodes: set[str], withdrawn_nodes: set[str]
) -> dict[str, Any]:
    _fields(row, BODY_FIELDS, path)
    node = row["node"]
    if node is not None and node in withdrawn_nodes:
        raise ValueError(f"{path}.node: {node!r} is withdrawn and serves no body")
    return {
        "code": _text(row["code"], f"{path}.code", blank=False),
        "party": _ref(row["party"], f"{path}.party", party_codes, "a Party"),
        "node": _ref(node, f"{path}.node", active_nodes, "a node") if node is not None else None,
        "fields": {
            "kind": _choice(row["kind"], f"{path}.kind", rules.BodyKind.values),
            **_read_names(row["names"], f"{path}.names"),
            "time_zone": _text(row["time_zone"], f"{path}.time_zone"),
        },
    }


def _read_instrument(row: Any, path: str, party_codes: set[str]) -> dict[str, Any]:
    _fields(row, INSTRUMENT_FIELDS, path)
    kind = _choice(row["kind"], f"{path}.kind", rules.InstrumentKind.values)
    amends = row["amends"]
    if amends is not None:
        amends = _text(amends, f"{path}.amends", blank=False)
    if (kind == rules.InstrumentKind.AMENDMENT) != (amends is not None):
        raise ValueError(f"{path}.amends: an amending protocol, and only one, names the instrument it amends")
    terms = {}
    for field in TERM_FIELDS:
        value = row[field]
        low = 0 if field == "withdrawal_notice_months" else 1
        if not _is_int(value) or not low <= value <= 32767:
            raise ValueError(f"{path}.{field}: not a whole number from {low}")
        terms[field] = value
    if not isinstance(row["events"], list):
        raise ValueError(f"{path}.events: not a list")
    events = [_read_event(event, f"{path}.events[{i}]", party_codes) for i, event in enumerate(row["events"])]
    seen = Counter((event["party"], event["kind"]) for event in events)
    twice = sorted(f"{party} {kind}" for (party, kind), count in seen.items() if count > 1)
    if twice:
        raise ValueError(f"{path}.events: recorded more than once: {', '.join(twice)}")
    return {
        "code": _text(row["code"], f"{path}.code", blank=False),
        "amends": amends,
        "fields": {
            "kind": kind,
            **_read_names(row["names"], f"{path}.names"),
            "adopted_on": _date_of(row["adopted_on"], f"{path}.adopted_on"),
            "place": _text(row["place"], f"{path}.place"),
            **terms,
        },
        "events": events,
    }


def _read_event(row: Any, path: str, party_codes: set[str]) -> dict[str, Any]:
    _fields(row, EVENT_FIELDS, path)
    kind = _choice(row["kind"], f"{path}.kind", rules.EventKind.values)
    effective_on = row["effective_on"]
    if kind == rules.EventKind.WITHDRAWAL_NOTIFIED:
        effective_on = _date_of(effective_on, f"{path}.effective_on")
    elif effective_on is not None:
        raise ValueError(f"{path}.effective_on: only a withdrawal has a date of effect")
    return {
        "party": _ref(row["party"], f"{path}.party", party_codes, "a Party"),
        "kind": kind,
        "on": _date_of(row["on"], f"{path}.on"),
        "effective_on": effective_on,
        "reference": _text(row["reference"], f"{path}.reference"),
    }


def _read_designation(row: Any, path: str, instrument_codes: set[str], body_party: dict[str, str]) -> dict[str, Any]:
    _fields(row, DESIGNATION_FIELDS, path)
    party = _text(row["party"], f"{path}.party", blank=False)
    kind = _choice(row["kind"], f"{path}.kind", rules.DesignationKind.values)
    body = _ref(row["body"], f"{path}.body", set(body_party), "a body")
    replaces = row["replaces"]
    if replaces is not None:
        replaces = _ref(replaces, f"{path}.replaces", set(body_party), "a body")
    if (kind == rules.DesignationKind.CHANGED) != (replaces is not None):
        raise ValueError(f"{path}.replaces: a change of body, and only a change, names the body it replaces")
    for field, code in (("body", body), ("replaces", replaces)):
        if code is not None and body_party[code] != party:
            raise ValueError(f"{path}.{field}: {code!r} is not a body of {party!r}")
    return {
        "instrument": _ref(row["instrument"], f"{path}.instrument", instrument_codes, "an instrument"),
        "party": party,
        "kind": kind,
        "body": body,
        "replaces": replaces,
        "effective_on": _date_of(row["effective_on"], f"{path}.effective_on"),
        "reference": _text(row["reference"], f"{path}.reference"),
        "filed_at": _instant_of(row["filed_at"], f"{path}.filed_at", nullable=False),
    }


def _read_announcement(
    row: Any, path: str, designations: list[dict[str, Any]], party_codes: set[str]
) -> dict[str, Any]:
    _fields(row, ANNOUNCEMENT_FIELDS, path)
    notice = row["notice"]
    if not _is_int(notice) or not 0 <= notice < len(designations):
        raise ValueError(f"{path}.notice: {notice!r} is not the place of a notice in designations")
    party = _ref(row["party"], f"{path}.party", party_codes, "a Party")
    if party == designations[notice]["party"]:
        raise ValueError(f"{path}.party: a notice is announced to the other Parties, not to {party!r}")
    announced_at = _instant_of(row["announced_at"], f"{path}.announced_at", nullable=False)
    acknowledged_at = _instant_of(row["acknowledged_at"], f"{path}.acknowledged_at", nullable=True)
    return {"notice": notice, "party": party, "announced_at": announced_at, "acknowledged_at": acknowledged_at}


def _check_amendments(instruments: list[dict[str, Any]], codes: set[str]) -> None:
    """Every amendment names an instrument of the directory, and no chain of amendments runs in a circle."""
    base = {row["code"]: row["amends"] for row in instruments}
    for index, row in enumerate(instruments):
        if row["amends"] is not None:
            _ref(row["amends"], f"instruments[{index}].amends", codes, "an instrument")
        seen = {row["code"]}
        code = row["amends"]
        while code is not None:
            if code in seen:
                raise ValueError(f"instruments[{index}].amends: the amendments run in a circle")
            seen.add(code)
            code = base[code]


def _read_names(value: Any, path: str) -> dict[str, str]:
    _fields(value, frozenset(LANGUAGES), path)
    return {
        f"name_{language}": _text(value[language], f"{path}.{language}", blank=language != "ru")
        for language in LANGUAGES
    }


def _fields(value: Any, expected: frozenset[str], path: str) -> None:
    """`value` is an object with exactly the expected fields: a field added or dropped is a new format, and a
    node refuses what it cannot mirror whole rather than keep half of it."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not an object")
    missing, unknown = sorted(expected - set(value)), sorted(set(value) - expected)
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{path}: unknown fields {', '.join(map(str, unknown))}")


def _unique(codes: list[str], path: str) -> set[str]:
    twice = sorted(code for code, count in Counter(codes).items() if count > 1)
    if twice:
        raise ValueError(f"{path}: listed more than once: {', '.join(twice)}")
    return set(codes)


def _ref(value: Any, path: str, known: set[str], what: str) -> str:
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"{path}: {value!r} is not {what} of the directory")
    return value


def _text(value: Any, path: str, *, blank: bool = True) -> str:
    if not isinstance(value, str) or (not blank and not value):
        raise ValueError(f"{path}: not {'a' if blank else 'a non-empty'} string")
    if "\x00" in value:
        raise ValueError(f"{path}: holds a NUL character")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: not true or false")
    return value


def _choice(value: Any, path: str, choices: list[str]) -> str:
    if value not in choices:
        raise ValueError(f"{path}: {value!r} is not one of {', '.join(choices)}")
    return str(value)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}")
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|\+00:00)")


def _parsed(value: Any, path: str, pattern: re.Pattern[str], parse: Callable[[str], Any], what: str) -> Any:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValueError(f"{path}: not {what}")
    try:
        return parse(value)
    except ValueError as error:  # the pattern lets 2024-13-45 through; the calendar does not
        raise ValueError(f"{path}: not {what}") from error


def _date_of(value: Any, path: str) -> dt.date:
    parsed: dt.date = _parsed(value, path, _DATE, dt.date.fromisoformat, "a date (YYYY-MM-DD)")
    return parsed


def _time_of(value: Any, path: str) -> dt.time:
    parsed: dt.time = _parsed(value, path, _TIME, dt.time.fromisoformat, "a time of day (HH:MM:SS)")
    return parsed


def _instant_of(value: Any, path: str, *, nullable: bool) -> dt.datetime | None:
    if value is None and nullable:
        return None
    parsed: dt.datetime = _parsed(value, path, _INSTANT, dt.datetime.fromisoformat, "an RFC 3339 time in UTC")
    return parsed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1
