"""The registry as the directory carries it: snapshot on the Secretariat's node, apply_snapshot on every
other node, and the Secretariat's services for nodes. On a real database, with the demo's registry."""

import copy
import datetime as dt
import itertools
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput
from cybercoop.demo.seed import seed
from cybercoop.exchange.federation import keys
from cybercoop.registry import directory, selectors, services
from cybercoop.registry.models import (
    Body,
    DesignationNotice,
    Instrument,
    InstrumentEvent,
    Node,
    Party,
    PartyProfile,
)
from tests.registry.factories import BodyFactory, InstrumentFactory, PartyFactory, in_force, record

D = dt.date
TABLES = (Party, PartyProfile, Node, Body, Instrument, InstrumentEvent, DesignationNotice)


def _jwks(code):
    """A node's public keys as the directory lists them (the registry stores them as given)."""
    public = keys.public_jwks(keys.generate(code))
    return {"signing_jwk": public["keys"][0], "encryption_jwk": public["keys"][1]}


def _counts():
    return tuple(model.objects.count() for model in TABLES)


def _audit(action):
    return AuditEntry.objects.filter(action=action).count()


def _seeded_with_nodes():
    """The demo's registry, with a node for the Kazakh and the Russian bodies and one for the Secretariat."""
    seed(password="demo password for tests 1")
    for code, party in (("kz", "KZ"), ("ru", "RU"), ("secretariat", "CSTO")):
        node = services.register_node(
            actor=None, code=code, name=f"Node {code}", base_url=f"https://{code}.example", **_jwks(code)
        )
        for body in selectors.bodies(party_code=party):
            services.assign_body_node(actor=None, body=body, node=node)


def _answers():
    """Everything the rules answer from the registry, by codes: in force between every two Parties under
    every instrument on every date that matters, each Party's status, and the bodies designated."""
    parties = list(selectors.parties(states_only=True).order_by("code"))
    days = {D(2014, 12, 22), D(2026, 11, 23), D(2030, 1, 1)}
    for event in InstrumentEvent.objects.all():
        days |= {event.on - dt.timedelta(days=1), event.on}
        if event.effective_on:
            days |= {event.effective_on - dt.timedelta(days=1), event.effective_on}
    for notice in DesignationNotice.objects.all():
        days |= {notice.effective_on - dt.timedelta(days=1), notice.effective_on}
    answers = {}
    for instrument in selectors.instruments().order_by("code"):
        for day in sorted(days):
            for a, b in itertools.combinations(parties, 2):
                answers[instrument.code, day, a.code, b.code] = selectors.in_force_between(
                    instrument=instrument, party_a=a, party_b=b, on=day
                )
            for row in selectors.status_table(instrument=instrument, on=day):
                answers[instrument.code, day, row.party.code] = row.status
            answers[instrument.code, day] = sorted(
                b.code for b in selectors.designated_bodies(instrument=instrument, on=day)
            )
    nodes = {body.code: getattr(selectors.node_of(body), "code", None) for body in selectors.bodies()}
    return answers, nodes


_SOURCE = {}


@pytest.fixture
def source(db, clock):
    """The demo's registry snapshotted with the rules' answers on it, then rolled back: the test database
    is then an empty node that has never seen a directory. Seeded once per run (the clock is frozen, so the
    content is the same every time) and handed out as a fresh copy."""
    if not _SOURCE:
        with transaction.atomic():
            _seeded_with_nodes()
            _SOURCE["doc"], _SOURCE["answers"] = directory.snapshot(), _answers()
            transaction.set_rollback(True)
    assert _counts() == (0,) * len(TABLES)
    return copy.deepcopy(_SOURCE["doc"]), copy.deepcopy(_SOURCE["answers"])


# --- snapshot ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_snapshot_is_deterministic_json_and_lists_everything(clock):
    _seeded_with_nodes()
    doc = directory.snapshot()
    assert json.dumps(directory.snapshot(), sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert json.loads(json.dumps(doc)) == doc  # JSON-ready: no dates, times or decimals left
    assert list(doc) == list(directory.SECTIONS)
    assert [p["code"] for p in doc["parties"]] == sorted(Party.objects.values_list("code", flat=True))
    assert [n["code"] for n in doc["nodes"]] == ["kz", "ru", "secretariat"]
    assert [b["code"] for b in doc["bodies"]] == sorted(Body.objects.values_list("code", flat=True))
    assert [i["code"] for i in doc["instruments"]] == sorted(Instrument.objects.values_list("code", flat=True))
    assert sum(len(i["events"]) for i in doc["instruments"]) == InstrumentEvent.objects.count()
    assert len(doc["designations"]) == DesignationNotice.objects.count()
    assert sum(p["profile"] is not None for p in doc["parties"]) == PartyProfile.objects.count()
    kz_mia = next(b for b in doc["bodies"] if b["code"] == "KZ-MIA")
    assert kz_mia["node"] == "kz"
    assert kz_mia["names"]["kk"] == Body.objects.get(code="KZ-MIA").name_kk
    protocol = next(i for i in doc["instruments"] if i["code"] == selectors.PROTOCOL_CODE)
    assert protocol["adopted_on"] == "2014-12-23"
    assert protocol["notifications_required"] == 4
    withdrawal = next(e for e in protocol["events"] if e["kind"] == "withdrawal_notified")
    assert withdrawal["party"] == "AM"
    assert D.fromisoformat(withdrawal["effective_on"]) > D.fromisoformat(withdrawal["on"])


@pytest.mark.django_db
def test_the_snapshot_of_an_empty_registry_is_empty_lists():
    assert directory.snapshot() == {section: [] for section in directory.SECTIONS}


# --- apply_snapshot ------------------------------------------------------------------------------------


@pytest.mark.rule("P4.2", "P16.1", "P16.2", "P18")
def test_an_empty_node_that_applies_the_snapshot_answers_as_the_secretariat_does(source):
    doc, answers = source
    assert {v for v in answers[0].values() if isinstance(v, bool)} == {True, False}  # not a trivial comparison
    counts = directory.apply_snapshot(doc, version=1)
    assert counts["parties_inserted"] == len(doc["parties"])
    assert counts["events_inserted"] == sum(len(i["events"]) for i in doc["instruments"])
    assert counts["designations_inserted"] == len(doc["designations"])
    assert _answers() == answers
    assert directory.snapshot() == doc  # the mirror holds exactly what the directory said
    entry = AuditEntry.objects.get(action="registry:directory:applied")
    assert entry.data["version"] == 1
    assert entry.data["changes"]["bodies_inserted"] == len(doc["bodies"])


def test_applying_the_same_snapshot_again_changes_nothing(source):
    doc, _answers = source
    directory.apply_snapshot(doc, version=1)
    before = (_counts(), AuditEntry.objects.count())
    counts = directory.apply_snapshot(doc, version=2)
    assert set(counts.values()) == {0}
    assert (_counts(), AuditEntry.objects.count()) == before


@pytest.mark.django_db
def test_the_secretariat_applying_its_own_snapshot_changes_nothing(clock):
    _seeded_with_nodes()
    before = (_counts(), AuditEntry.objects.count())
    assert set(directory.apply_snapshot(directory.snapshot(), version=1).values()) == {0}
    assert (_counts(), AuditEntry.objects.count()) == before


@pytest.mark.rule("P4.2")
def test_a_newer_snapshot_updates_names_and_nodes_and_appends_notices(source, clock):
    doc, _answers = source
    directory.apply_snapshot(doc, version=1)
    newer = copy.deepcopy(doc)
    kz_mia = next(b for b in newer["bodies"] if b["code"] == "KZ-MIA")
    kz_mia["names"]["en"] = "Ministry of Internal Affairs of Kazakhstan"
    kz_mia["node"] = "secretariat"
    kz_node = next(n for n in newer["nodes"] if n["code"] == "kz")
    newer["bodies"] = [b if b["node"] != "kz" else {**b, "node": "secretariat"} for b in newer["bodies"]]
    kz_node["withdrawn_at"] = "2026-11-23T09:00:00.000000+00:00"
    today = D(2026, 11, 23)
    protocol = selectors.protocol()
    assert "KZ-MIA" in {b.code for b in selectors.designated_bodies(instrument=protocol, on=today)}
    newer["designations"].append(
        {
            "instrument": protocol.code,
            "party": "KZ",
            "kind": "withdrawn",
            "body": "KZ-MIA",
            "replaces": None,
            "effective_on": "2030-01-01",
            "reference": "note 1/2030",
            "filed_at": "2026-11-23T09:00:00.000000+00:00",
        }
    )
    counts = directory.apply_snapshot(newer, version=2)
    assert counts["bodies_updated"] == sum(1 for b in doc["bodies"] if b["node"] == "kz")
    assert counts["nodes_updated"] == 1
    assert counts["designations_inserted"] == 1
    body = Body.objects.get(code="KZ-MIA")
    assert body.name_en == "Ministry of Internal Affairs of Kazakhstan"
    assert selectors.node_of(body).code == "secretariat"
    assert selectors.get_node("kz") is None  # withdrawn: no longer trusted
    assert Node.objects.get(code="kz").withdrawn_at is not None
    assert "KZ-MIA" in {b.code for b in selectors.designated_bodies(instrument=protocol, on=D(2029, 12, 31))}
    assert "KZ-MIA" not in {b.code for b in selectors.designated_bodies(instrument=protocol, on=D(2030, 1, 1))}


def test_a_notice_filed_twice_with_the_same_content_is_mirrored_twice(source):
    """Designated, withdrawn and designated again on one date: two identical notices, both kept (P4.2)."""
    doc, _answers = source
    notice = {
        "instrument": selectors.PROTOCOL_CODE,
        "party": "KG",
        "kind": "designated",
        "body": "KG-MIA",
        "replaces": None,
        "effective_on": "2031-01-01",
        "reference": "",
        "filed_at": "2026-11-23T09:00:00.000000+00:00",
    }
    doc = {**doc, "designations": [*doc["designations"], {**notice, "kind": "withdrawn"}, notice]}
    directory.apply_snapshot(doc, version=1)
    assert DesignationNotice.objects.filter(body__code="KG-MIA", effective_on=D(2031, 1, 1)).count() == 2
    assert set(directory.apply_snapshot(doc, version=2).values()) == {0}


def _bad(doc, change):
    bad = copy.deepcopy(doc)
    change(bad)
    return bad


def _body(doc, code):
    return next(b for b in doc["bodies"] if b["code"] == code)


def _last_instrument_event(doc):
    return doc["instruments"][-1]["events"][-1]


MALFORMED = {
    "a section missing": (lambda d: d.pop("nodes"), "no nodes"),
    "an unknown section": (lambda d: d.update(extra=[]), "does not know: extra"),
    "a section that is not a list": (lambda d: d.update(parties={}), "parties: not a list"),
    "another version inside": (lambda d: d.update(version=7), "version"),
    "a body of an unknown Party": (lambda d: _body(d, "KZ-MIA").update(party="XX"), r"bodies\[\d+\]\.party: 'XX'"),
    "a body served by an unknown node": (lambda d: _body(d, "KZ-MIA").update(node="zz"), "is not a node"),
    "a body with an unknown field": (lambda d: _body(d, "KZ-MIA").update(colour="red"), "unknown fields colour"),
    "a body kind that does not exist": (lambda d: _body(d, "KZ-MIA").update(kind="army"), "kind"),
    "a Party listed twice": (lambda d: d["parties"].append(d["parties"][0]), "more than once"),
    "a date that is not a date": (lambda d: d["instruments"][0].update(adopted_on="2014-13-45"), "adopted_on"),
    "a withdrawal date on a signature": (
        lambda d: d["instruments"][0]["events"][0].update(kind="signed", effective_on="2020-01-01"),
        "only a withdrawal",
    ),
    "an amendment of nothing": (lambda d: d["instruments"][0].update(kind="amendment"), "amends"),
    "a designation of another Party's body": (
        lambda d: d["designations"][-1].update(body="RU-MIA" if d["designations"][-1]["party"] != "RU" else "KZ-MIA"),
        "is not a body of",
    ),
    "a filing time not in UTC": (
        lambda d: d["designations"][-1].update(filed_at="2026-11-23T12:00:00+03:00"),
        "RFC 3339 time in UTC",
    ),
    "a true where a number is due": (lambda d: d["nodes"][0].update(protocol_version=True), "protocol_version"),
    # These pass the reader and fail only at the model's own checks, once rows were written: all roll back.
    "an over-long reference on the last notice": (
        lambda d: d["designations"][-1].update(reference="x" * 201),
        "designations.*reference",
    ),
    "a Party's time zone that does not exist": (
        lambda d: d["parties"][-1].update(time_zone="Mars/Olympus"),
        "time_zone",
    ),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_directory_is_refused_and_nothing_is_applied(source, name):
    doc, _answers = source
    change, message = MALFORMED[name]
    before = (_counts(), AuditEntry.objects.count())
    with pytest.raises(ValueError, match=message):
        directory.apply_snapshot(_bad(doc, change), version=1)
    assert (_counts(), AuditEntry.objects.count()) == before


@pytest.mark.parametrize("value", [None, [], "directory", 1])
@pytest.mark.django_db
def test_what_is_not_an_object_is_refused(value):
    with pytest.raises(ValueError, match="not a JSON object"):
        directory.apply_snapshot(value, version=1)


@pytest.mark.rule("P16.1")
def test_a_directory_contradicting_a_record_held_is_refused_whole(source):
    doc, _answers = source
    directory.apply_snapshot(doc, version=1)
    before = (_counts(), AuditEntry.objects.count())
    changed = _bad(doc, lambda d: d["instruments"][0]["events"][0].update(on="2015-01-01"))
    changed["parties"][0]["names"]["en"] = "Renamed"  # applied first, so the roll-back is seen
    with pytest.raises(ValueError, match="differs from the one held here"):
        directory.apply_snapshot(changed, version=2)
    assert (_counts(), AuditEntry.objects.count()) == before
    assert Party.objects.get(code=doc["parties"][0]["code"]).name_en != "Renamed"


@pytest.mark.django_db
def test_a_notice_filed_here_and_not_yet_in_the_directory_is_kept(clock):
    protocol = in_force(InstrumentFactory(), PartyFactory(kazakhstan=True))
    body = BodyFactory(kazakh=True)
    doc = directory.snapshot()
    services.file_designation(
        actor=None, instrument=protocol, party=body.party, kind="designated", body=body, effective_on=D(2020, 1, 1)
    )
    assert set(directory.apply_snapshot(doc, version=1).values()) == {0}
    assert DesignationNotice.objects.count() == 1


# --- the Secretariat's services for nodes ------------------------------------------------------------------


def test_the_secretariat_registers_a_node_and_registering_it_again_changes_nothing(secretariat, clock):
    node = services.register_node(
        actor=secretariat, code="kz", name="Kazakhstan", base_url="https://kz.example/", **_jwks("kz")
    )
    assert node.base_url == "https://kz.example"
    assert node.registered_at == node.updated_at == clock.now()
    assert selectors.get_node("kz") == node
    assert _audit("registry:node:registered") == 1
    same = {"signing_jwk": node.signing_jwk, "encryption_jwk": node.encryption_jwk}
    services.register_node(actor=secretariat, code="kz", name="Kazakhstan", base_url="https://kz.example", **same)
    assert (_audit("registry:node:updated"), Node.objects.count()) == (0, 1)
    clock.advance(dt.timedelta(days=1))
    rotated = services.register_node(
        actor=secretariat, code="kz", name="Kazakhstan", base_url="https://kz.example", **_jwks("kz")
    )
    assert rotated.updated_at == clock.now()
    entry = AuditEntry.objects.get(action="registry:node:updated")
    assert entry.data["changed"] == ["encryption_jwk", "signing_jwk"]
    assert entry.data["signing_kid"] == rotated.signing_jwk["kid"]


@pytest.mark.parametrize("user", ["kz_registrar", "kz_head", "kz_auditor"])
def test_only_the_secretariat_manages_nodes(request, user, kz_body, clock):
    actor = request.getfixturevalue(user)
    with pytest.raises(PermissionDenied):
        services.register_node(actor=actor, code="kz", name="KZ", base_url="https://kz.example", **_jwks("kz"))
    node = services.register_node(actor=None, code="kz", name="KZ", base_url="https://kz.example", **_jwks("kz"))
    with pytest.raises(PermissionDenied):
        services.assign_body_node(actor=actor, body=kz_body, node=node)
    with pytest.raises(PermissionDenied):
        services.withdraw_node(actor=actor, node=node)
    kz_body.refresh_from_db()
    assert kz_body.node is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "KZ node"}, "code"),
        ({"base_url": "ftp://kz.example"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"signing_jwk": "not a key"}, "signing_jwk"),
        ({"name": ""}, "name"),
    ],
)
def test_a_node_with_a_bad_field_is_refused(secretariat, clock, changes, field):
    values = {"code": "kz", "name": "Kazakhstan", "base_url": "https://kz.example", **_jwks("kz"), **changes}
    with pytest.raises(InvalidInput) as error:
        services.register_node(actor=secretariat, **values)
    assert field in error.value.errors
    assert Node.objects.count() == 0


def test_a_body_is_assigned_to_a_node_and_the_node_withdrawn_once_it_serves_none(secretariat, kz_body, clock):
    kz = services.register_node(actor=secretariat, code="kz", name="KZ", base_url="https://kz.example", **_jwks("kz"))
    other = services.register_node(
        actor=secretariat, code="kz2", name="KZ 2", base_url="https://b.example", **_jwks("kz2")
    )
    assert selectors.node_of(kz_body) is None
    services.assign_body_node(actor=secretariat, body=kz_body, node=kz)
    services.assign_body_node(actor=secretariat, body=kz_body, node=kz)  # again: nothing new
    kz_body.refresh_from_db()
    assert selectors.node_of(kz_body) == kz
    entries = AuditEntry.objects.filter(action="registry:body:node_assigned")
    assert [(e.data["node"], e.data["previous"]) for e in entries] == [("kz", None)]
    with pytest.raises(InvalidInput) as error:
        services.withdraw_node(actor=secretariat, node=kz)
    assert list(error.value.errors) == ["node"]
    services.assign_body_node(actor=secretariat, body=kz_body, node=other)
    services.withdraw_node(actor=secretariat, node=kz)
    assert selectors.get_node("kz") is None
    assert list(selectors.nodes()) == [other]
    assert set(selectors.nodes(include_withdrawn=True)) == {kz, other}
    with pytest.raises(InvalidInput):
        services.assign_body_node(actor=secretariat, body=kz_body, node=kz)
    again = services.register_node(
        actor=secretariat, code="kz", name="KZ", base_url="https://kz.example", **_jwks("kz")
    )
    assert again.withdrawn_at is None  # registered again: reinstated
    assert _audit("registry:node:withdrawn") == 1


@pytest.mark.django_db
def test_the_latest_directory_is_the_highest_version(clock):
    from cybercoop.registry.models import DirectoryCopy

    assert selectors.latest_directory() is None
    for version in (2, 1):
        DirectoryCopy.objects.create(
            version=version, issued_at=clock.now(), token="t", sha256="0" * 64, received_at=clock.now()
        )
    assert selectors.latest_directory().version == 2


def test_depositary_records_held_match_by_instrument_party_and_kind(source):
    """A node that recorded a signature itself (as the demo nodes do) takes a directory saying the same."""
    doc, _answers = source
    instrument = doc["instruments"][0]
    first = next(e for e in instrument["events"] if e["kind"] == "signed")
    for party in doc["parties"]:
        PartyFactory(code=party["code"], kind=party["kind"], time_zone=party["time_zone"])
    held = InstrumentFactory(code=instrument["code"], adopted_on=D.fromisoformat(instrument["adopted_on"]))
    event = record(held, Party.objects.get(code=first["party"]), first["kind"], D.fromisoformat(first["on"]))
    assert event.reference == first["reference"] == ""
    counts = directory.apply_snapshot(doc, version=1)
    assert counts["events_inserted"] == sum(len(i["events"]) for i in doc["instruments"]) - 1
