"""The registry API: answers from the records, refusals field by field with nothing stored, who may do what."""

import datetime as dt
import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cybercoop.accounts import services as accounts
from cybercoop.audit.models import AuditEntry
from cybercoop.registry import obligations
from cybercoop.registry.models import (
    Acknowledgement,
    Body,
    DesignationNotice,
    Instrument,
    InstrumentEvent,
    PartyProfile,
)
from tests.registry.factories import BodyFactory, InstrumentFactory, PartyFactory, in_force, record

D = dt.date
API = "/api/v1/registry"
PROTOCOL = "csto-2014-information-sphere"
PDF = b"%PDF-1.7\n% a tiny test document\n%%EOF\n"


@pytest.fixture
def protocol(db):
    return InstrumentFactory()


class Caller:
    """The test client speaking as one user, with that user's API token."""

    def __init__(self, client, user):
        _token, raw = accounts.issue_api_token(user=user, name="tests", scope="act")
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def get(self, path, params=None):
        return self.client.get(API + path, params or {}, **self.headers)

    def post(self, path, data=None):
        return self.client.post(API + path, json.dumps(data or {}), "application/json", **self.headers)

    def put(self, path, data):
        return self.client.put(API + path, json.dumps(data), "application/json", **self.headers)


@pytest.fixture
def as_user(client):
    return lambda user: Caller(client, user)


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def _stored():
    """What a refused request must leave unchanged (issuing the test's API tokens is audited too: not counted)."""
    return (
        Instrument.objects.count(),
        InstrumentEvent.objects.count(),
        DesignationNotice.objects.count(),
        Acknowledgement.objects.count(),
        PartyProfile.objects.count(),
        _registry_audit_entries(),
    )


def _registry_audit_entries():
    return AuditEntry.objects.filter(action__startswith="registry:").count()


def test_the_openapi_schema_has_every_registry_operation(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    expected = {
        "/parties": {"get"},
        "/bodies": {"get", "post"},
        "/instruments": {"get", "post"},
        "/instruments/{code}": {"get"},
        "/instruments/{code}/in-force": {"get"},
        "/instruments/{code}/events": {"post"},
        "/instruments/{code}/original": {"post"},
        "/instruments/{code}/certified-copies": {"post"},
        "/instruments/{code}/obligations": {"get"},
        "/designations": {"get", "post"},
        "/designations/history": {"get"},
        "/announcements": {"get"},
        "/announcements/{announcement_id}/acknowledge": {"post"},
        "/announcements/pending": {"get"},
        "/parties/{code}/profile": {"get", "put"},
    }
    for path, methods in expected.items():
        assert set(paths["/api/v1/registry" + path]) == methods, path
        for method in methods:
            assert {"403", "422"} <= set(paths["/api/v1/registry" + path][method]["responses"])


def test_the_registry_needs_a_token(client, protocol):
    r = client.get(f"{API}/instruments/{PROTOCOL}")
    assert r.status_code == 401
    assert r.json()["errors"] == []


# --- instruments and the in-force question (P16.1, P16.2) ------------------------------------------------


@pytest.mark.rule("P16.2")
def test_the_in_force_question_is_answered_from_the_records(
    as_user, kz_officer, protocol, kz_body, ru_body, outsider_body, clock
):
    kz, ru, am, kg = kz_body.party, ru_body.party, outsider_body.party, PartyFactory(code="KG")
    in_force(protocol, kz, ru, PartyFactory(code="BY"), kg, on=D(2016, 5, 20))
    in_force(protocol, am, on=D(2018, 1, 10))  # a later Party: in force for it from its own notification
    record(protocol, kg, "withdrawal_notified", D(2020, 1, 1), effective_on=D(2020, 7, 1))  # P18
    api = as_user(kz_officer)

    def answer(party_b, on):
        r = api.get(f"/instruments/{PROTOCOL}/in-force", {"party_a": "KZ", "party_b": party_b, "on": on})
        assert r.status_code == 200, r.content
        return r.json()["in_force"]

    assert not answer("RU", "2016-05-19")
    assert answer("RU", "2016-05-20")
    assert not answer("AM", "2018-01-09")
    assert answer("AM", "2018-01-10")
    assert answer("KG", "2020-06-30")
    assert not answer("KG", "2020-07-01")
    r = api.get(f"/instruments/{PROTOCOL}/in-force", {"party_a": "kz", "party_b": "ru"})
    assert r.json() == {"instrument": PROTOCOL, "party_a": "KZ", "party_b": "RU", "on": "2026-11-23", "in_force": True}

    listed = {i["code"]: i for i in api.get("/instruments").json()}
    assert listed[PROTOCOL]["entry_into_force"] == "2016-05-20"
    assert listed[PROTOCOL]["amends"] is None
    assert listed[PROTOCOL]["original_sha256"] is None
    assert listed[PROTOCOL]["parameters"] == {
        "execution_term_days": 30,
        "forward_term_days": 3,
        "urgent_confirmation_hours": 72,
        "notifications_required": 4,
        "withdrawal_notice_months": 6,
    }
    detail = api.get(f"/instruments/{PROTOCOL}", {"on": "2017-01-01"}).json()
    assert detail["on"] == "2017-01-01"
    rows = {row["party"]: row for row in detail["parties"]}
    assert rows["KZ"]["status"] == "in_force"
    assert rows["KZ"]["in_force_since"] == "2016-05-20"
    assert rows["AM"]["status"] == "signed"  # it notifies only in 2018
    assert detail["certified_copies"] == []


def test_an_unknown_instrument_is_a_json_404(as_user, kz_officer, protocol):
    api = as_user(kz_officer)
    for r in (
        api.get("/instruments/no-such-treaty"),
        api.get("/instruments/no-such-treaty/in-force", {"party_a": "KZ", "party_b": "RU"}),
        api.get("/instruments/no-such-treaty/obligations", {"party": "KZ"}),
    ):
        assert r.status_code == 404
        assert r.json()["detail"]
        assert r.json()["errors"] == []


def test_codes_and_ids_in_paths_are_checked_before_any_query(as_user, kz_officer, protocol):
    api = as_user(kz_officer)
    for path in (
        "/instruments/a%00b",
        "/instruments/" + "x" * 65,
        "/parties/KZ%00/profile",
        "/parties/TOOLONGCODE/profile",
    ):
        r = api.get(path)
        assert r.status_code == 422, path
        assert _fields(r) == {"code"}
    for ack_id in ("0", str(2**63), "-1"):
        r = api.post(f"/announcements/{ack_id}/acknowledge")
        assert r.status_code == 422
        assert _fields(r) == {"announcement_id"}


def test_unknown_party_codes_are_refused_with_a_field_error_and_nothing_is_stored(
    as_user, kz_officer, secretariat, protocol, kz_body, clock
):
    r = as_user(kz_officer).get(f"/instruments/{PROTOCOL}/in-force", {"party_a": "XX", "party_b": "YY"})
    assert r.status_code == 422
    assert _fields(r) == {"party_a", "party_b"}
    assert all(e["message"] for e in r.json()["errors"])
    r = as_user(kz_officer).get(f"/instruments/{PROTOCOL}/in-force", {"party_a": "KZ", "party_b": "ZZ"})
    assert _fields(r) == {"party_b"}

    before = _stored()
    api = as_user(secretariat)
    r = api.post(f"/instruments/{PROTOCOL}/events", {"party": "XX", "kind": "signed", "on": "2015-01-01"})
    assert r.status_code == 422
    assert _fields(r) == {"party"}
    r = api.post("/designations", {"party": "XX", "kind": "designated", "body": "KZ-MIA", "effective_on": "2016-06-01"})
    assert r.status_code == 422
    assert _fields(r) == {"party"}
    r = api.post(
        "/designations", {"party": "KZ", "kind": "designated", "body": "KZ-NONE", "effective_on": "2016-06-01"}
    )
    assert _fields(r) == {"body"}
    r = api.post(
        "/designations",
        {"instrument": "nope", "party": "KZ", "kind": "designated", "body": "KZ-MIA", "effective_on": "2016-06-01"},
    )
    assert _fields(r) == {"instrument"}
    assert _stored() == before


def test_the_secretariat_registers_instruments_and_amendments(as_user, secretariat, protocol, clock):
    api = as_user(secretariat)
    r = api.post(
        "/instruments",
        {
            "code": "kz-ru-2020",
            "kind": "bilateral",
            "name_ru": "Соглашение",
            "adopted_on": "2020-03-01",
            "notifications_required": 2,
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["parameters"]["notifications_required"] == 2
    assert r.json()["parameters"]["execution_term_days"] == 30
    assert r.json()["entry_into_force"] is None
    before = _stored()
    r = api.post(
        "/instruments",
        {
            "code": "amend-1",
            "kind": "amendment",
            "name_ru": "Изменения",
            "adopted_on": "2021-01-01",
            "amends": "no-such-treaty",
        },
    )
    assert r.status_code == 422
    assert _fields(r) == {"amends"}
    r = api.post(
        "/instruments", {"code": "amend-1", "kind": "amendment", "name_ru": "Изменения", "adopted_on": "2021-01-01"}
    )
    assert r.status_code == 422
    assert _fields(r) == {"amends"}  # the service: an amendment names what it amends (P15)
    r = api.post("/instruments", {"code": "bad", "kind": "treaty", "name_ru": "x" * 301, "adopted_on": "2021-01-01"})
    assert _fields(r) == {"kind", "name_ru"}
    assert _stored() == before
    r = api.post(
        "/instruments",
        {
            "code": "amend-1",
            "kind": "amendment",
            "name_ru": "Изменения",
            "adopted_on": "2021-01-01",
            "amends": PROTOCOL,
        },
    )
    assert r.status_code == 201
    assert r.json()["amends"] == PROTOCOL


def test_an_officer_cannot_register_instruments_or_record_events(
    as_user, kz_officer, kz_registrar, protocol, kz_body, clock
):
    before = _stored()
    for user in (kz_officer, kz_registrar):
        api = as_user(user)
        r = api.post("/instruments", {"code": "x-1", "kind": "bilateral", "name_ru": "X", "adopted_on": "2020-01-01"})
        assert r.status_code == 403
        r = api.post(f"/instruments/{PROTOCOL}/events", {"party": "KZ", "kind": "signed", "on": "2015-01-01"})
        assert r.status_code == 403
        assert r.json()["detail"]
    assert _stored() == before


@pytest.mark.rule("P18")
def test_a_withdrawal_earlier_than_six_months_is_refused_naming_effective_on(
    as_user, secretariat, kz_officer, protocol, kz_body, ru_body, clock
):
    in_force(protocol, kz_body.party, ru_body.party, PartyFactory(code="BY"), PartyFactory(code="KG"))
    api = as_user(secretariat)
    before = _stored()
    withdrawal = {"party": "KZ", "kind": "withdrawal_notified", "on": "2026-09-01", "effective_on": "2027-02-28"}
    r = api.post(f"/instruments/{PROTOCOL}/events", withdrawal)
    assert r.status_code == 422
    assert _fields(r) == {"effective_on"}
    assert "2027-03-01" in r.json()["errors"][0]["message"]
    assert _stored() == before

    r = api.post(
        f"/instruments/{PROTOCOL}/events", {**withdrawal, "effective_on": "2027-03-01", "reference": "Note 17"}
    )
    assert r.status_code == 201, r.content
    assert r.json()["effective_on"] == "2027-03-01"
    assert r.json()["recorded_by"] == "csto.secretariat"
    officer = as_user(kz_officer)
    rows = {row["party"]: row for row in officer.get(f"/instruments/{PROTOCOL}").json()["parties"]}
    assert rows["KZ"]["status"] == "withdrawal_pending"
    assert rows["KZ"]["withdrawal_effective_on"] == "2027-03-01"
    query = {"party_a": "KZ", "party_b": "RU"}
    assert officer.get(f"/instruments/{PROTOCOL}/in-force", {**query, "on": "2027-02-28"}).json()["in_force"]
    assert not officer.get(f"/instruments/{PROTOCOL}/in-force", {**query, "on": "2027-03-01"}).json()["in_force"]


@pytest.mark.rule("P18")
def test_open_obligations_are_shown_to_the_party_and_the_secretariat_only(
    as_user, monkeypatch, kz_officer, ru_officer, secretariat, protocol, kz_body
):
    def open_cases(instrument, party):
        return [obligations.Obligation(label=f"Case 1 of {party.code} under {instrument.code}", url="/cases/1")]

    monkeypatch.setattr(obligations, "_sources", [open_cases])
    expected = [{"label": f"Case 1 of KZ under {PROTOCOL}", "url": "/cases/1"}]
    for user in (kz_officer, secretariat):
        r = as_user(user).get(f"/instruments/{PROTOCOL}/obligations", {"party": "KZ"})
        assert r.status_code == 200
        assert r.json() == expected
    r = as_user(ru_officer).get(f"/instruments/{PROTOCOL}/obligations", {"party": "KZ"})
    assert r.status_code == 403
    assert "Case 1" not in r.content.decode()
    r = as_user(kz_officer).get(f"/instruments/{PROTOCOL}/obligations", {"party": "XX"})
    assert _fields(r) == {"party"}


def test_malformed_dates_are_refused_naming_the_field(as_user, kz_officer, kz_registrar, secretariat, protocol, clock):
    officer = as_user(kz_officer)
    r = officer.get(f"/instruments/{PROTOCOL}", {"on": "2026-02-30"})
    assert r.status_code == 422
    assert _fields(r) == {"on"}
    r = officer.get(f"/instruments/{PROTOCOL}/in-force", {"party_a": "KZ", "party_b": "RU", "on": "23.11.2026"})
    assert _fields(r) == {"on"}
    r = officer.get("/designations", {"on": "yesterday"})
    assert _fields(r) == {"on"}
    before = _stored()
    r = as_user(secretariat).post(
        f"/instruments/{PROTOCOL}/events", {"party": "KZ", "kind": "signed", "on": "2015-1-1"}
    )
    assert r.status_code == 422
    assert _fields(r) == {"on"}
    r = as_user(secretariat).post(
        "/instruments", {"code": "x-2", "kind": "bilateral", "name_ru": "X", "adopted_on": "01.01.2020"}
    )
    assert _fields(r) == {"adopted_on"}
    r = as_user(kz_registrar).post(
        "/designations", {"party": "KZ", "kind": "designated", "body": "KZ-MIA", "effective_on": "soon"}
    )
    assert r.status_code == 422
    assert _fields(r) == {"effective_on"}
    assert _stored() == before


@pytest.mark.rule("P19")
def test_the_original_is_stored_once_and_certified_copies_are_recorded_with_their_hash(
    as_user, client, secretariat, kz_officer, protocol, kz_body, clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    record(protocol, kz_body.party, "signed", D(2014, 12, 23))
    api = as_user(secretariat)

    def upload(path, content, **fields):
        pdf = SimpleUploadedFile("document.pdf", content, content_type="application/pdf")
        return client.post(API + path, {**fields, "file": pdf}, **api.headers)

    before = _stored()
    r = upload(f"/instruments/{PROTOCOL}/original", b"MZ\x90\x00")
    assert r.status_code == 422
    assert _fields(r) == {"file"}
    officer = Caller(client, kz_officer)
    r = client.post(
        f"{API}/instruments/{PROTOCOL}/original", {"file": SimpleUploadedFile("o.pdf", PDF)}, **officer.headers
    )
    assert r.status_code == 403
    assert _stored() == before

    r = upload(f"/instruments/{PROTOCOL}/original", PDF)
    assert r.status_code == 201, r.content
    assert r.json()["original_sha256"] == hashlib.sha256(PDF).hexdigest()
    r = upload(f"/instruments/{PROTOCOL}/original", PDF + b" ")
    assert r.status_code == 422
    assert _fields(r) == {"file"}

    r = upload(f"/instruments/{PROTOCOL}/certified-copies", PDF + b"copy", party="XX", sent_on="2015-01-10")
    assert _fields(r) == {"party"}
    r = upload(f"/instruments/{PROTOCOL}/certified-copies", PDF + b"copy", party="KZ", sent_on="10.01.2015")
    assert r.status_code == 422
    assert [field.rpartition(".")[2] for field in _fields(r)] == ["sent_on"]
    r = upload(f"/instruments/{PROTOCOL}/certified-copies", PDF + b"copy", party="KZ", sent_on="2015-01-10")
    assert r.status_code == 201, r.content
    assert r.json()["sha256"] == hashlib.sha256(PDF + b"copy").hexdigest()
    copies = officer.get(f"/instruments/{PROTOCOL}").json()["certified_copies"]
    assert [(c["party"], c["sent_on"]) for c in copies] == [("KZ", "2015-01-10")]


# --- competent bodies, designations and their announcement (P4.2, P4.3) ----------------------------------


@pytest.mark.rule("R7")
def test_a_registrar_registers_bodies_of_its_own_party_only(as_user, kz_registrar, kz_officer, kz_body, ru_body):
    api = as_user(kz_registrar)
    body = {"party": "KZ", "code": "KZ-NSC", "kind": "security_service", "name_ru": "КНБ"}
    before = (Body.objects.count(), _registry_audit_entries())
    assert api.post("/bodies", {**body, "party": "RU", "code": "RU-FSB"}).status_code == 403
    assert as_user(kz_officer).post("/bodies", body).status_code == 403
    assert _fields(api.post("/bodies", {**body, "party": "XX"})) == {"party"}
    assert _fields(api.post("/bodies", {**body, "kind": "army", "time_zone": "Mars/Olympus"})) == {"kind"}
    assert _fields(api.post("/bodies", {**body, "time_zone": "Mars/Olympus"})) == {"time_zone"}
    assert (Body.objects.count(), _registry_audit_entries()) == before
    r = api.post("/bodies", body)
    assert r.status_code == 201, r.content
    assert r.json()["time_zone"] == "Asia/Almaty"
    assert {b["code"] for b in api.get("/bodies", {"party": "KZ"}).json()} == {"KZ-MIA", "KZ-NSC"}


@pytest.mark.rule("P4.2")
def test_a_registrar_of_party_a_cannot_file_a_designation_for_party_b(as_user, kz_registrar, protocol, ru_body, clock):
    before = _stored()
    r = as_user(kz_registrar).post(
        "/designations", {"party": "RU", "kind": "designated", "body": "RU-MIA", "effective_on": "2016-06-01"}
    )
    assert r.status_code == 403
    assert r.json()["errors"] == []
    assert _stored() == before
    assert not DesignationNotice.objects.exists()
    assert not Acknowledgement.objects.exists()


@pytest.mark.rule("P4.2", "P4.3")
def test_a_filed_designation_reaches_every_other_partys_inbox_and_only_that_party_acknowledges_it(
    as_user, kz_registrar, ru_registrar, ru_head, ru_officer, outsider, secretariat, protocol, kz_body, ru_body, clock
):
    r = as_user(kz_registrar).post(
        "/designations",
        {"party": "KZ", "kind": "designated", "body": "KZ-MIA", "effective_on": "2016-06-01", "reference": "Note 5"},
    )
    assert r.status_code == 201, r.content
    notice = r.json()
    assert notice["filed_by"] == "kz.registrar"
    assert notice["instrument"] == PROTOCOL
    assert [(a["party"], a["acknowledged_at"]) for a in notice["acknowledgements"]] == [("AM", None), ("RU", None)]

    assert [a["notice"]["id"] for a in as_user(ru_officer).get("/announcements").json()] == [notice["id"]]
    assert [a["notice"]["id"] for a in as_user(outsider).get("/announcements").json()] == [notice["id"]]
    assert as_user(kz_registrar).get("/announcements").json() == []
    ru_announcement = as_user(ru_head).get("/announcements").json()[0]

    # Another Party's announcement is not found (nothing leaks); an officer may not acknowledge.
    r = as_user(kz_registrar).post(f"/announcements/{ru_announcement['id']}/acknowledge")
    assert r.status_code == 404
    assert as_user(outsider).post(f"/announcements/{ru_announcement['id']}/acknowledge").status_code == 404
    assert as_user(ru_officer).post(f"/announcements/{ru_announcement['id']}/acknowledge").status_code == 403
    assert not Acknowledgement.objects.filter(acknowledged_at__isnull=False).exists()

    clock.advance(dt.timedelta(hours=5))
    r = as_user(ru_head).post(f"/announcements/{ru_announcement['id']}/acknowledge")
    assert r.status_code == 200
    assert r.json()["acknowledged_by"] == "ru.head"
    assert r.json()["acknowledged_at"].startswith("2026-11-23T14:00")

    clock.advance(dt.timedelta(days=2))
    pending = as_user(secretariat).get("/announcements/pending").json()
    assert [(p["party"], p["notice"]["id"]) for p in pending] == [("AM", notice["id"])]
    assert pending[0]["seconds_outstanding"] == 53 * 3600
    assert pending[0]["days_outstanding"] == 2
    assert [p["party"] for p in as_user(kz_registrar).get("/announcements/pending").json()] == ["AM"]
    assert as_user(ru_registrar).get("/announcements/pending").json() == []  # not Russia's notices
    assert as_user(ru_officer).get("/announcements/pending").status_code == 403

    officer = as_user(ru_officer)
    assert [b["code"] for b in officer.get("/designations", {"party": "KZ", "on": "2016-06-01"}).json()] == ["KZ-MIA"]
    assert officer.get("/designations", {"party": "KZ", "on": "2016-05-31"}).json() == []
    history = officer.get("/designations/history", {"instrument": PROTOCOL}).json()
    assert [(n["kind"], n["party"], n["body"], n["filed_by"]) for n in history] == [
        ("designated", "KZ", "KZ-MIA", "kz.registrar")
    ]


@pytest.mark.rule("P4.2")
def test_a_change_of_body_names_the_body_it_replaces(as_user, kz_registrar, protocol, kz_body, clock):
    api = as_user(kz_registrar)
    BodyFactory(party=kz_body.party, code="KZ-NSC", kind="security_service")
    assert (
        api.post(
            "/designations", {"party": "KZ", "kind": "designated", "body": "KZ-MIA", "effective_on": "2016-06-01"}
        ).status_code
        == 201
    )
    before = _stored()
    change = {"party": "KZ", "kind": "changed", "body": "KZ-NSC", "effective_on": "2020-01-01"}
    r = api.post("/designations", {**change, "replaces": "KZ-NONE"})
    assert _fields(r) == {"replaces"}
    r = api.post("/designations", change)
    assert r.status_code == 422
    assert _fields(r) == {"replaces"}
    assert _stored() == before
    r = api.post("/designations", {**change, "replaces": "KZ-MIA"})
    assert r.status_code == 201
    assert r.json()["replaces"] == "KZ-MIA"
    assert [b["code"] for b in api.get("/designations", {"party": "KZ"}).json()] == ["KZ-NSC"]


# --- Party profiles -----------------------------------------------------------------------------------

PROFILE = {
    "accepted_languages": ["kk", "en"],
    "signature_required": True,
    "dual_criminality_required": True,
    "evidence_use_limits": "Only for the case named in the request.",
    "working_days": [1, 2, 3, 4, 5],
    "office_opens_at": "09:00",
    "office_closes_at": "18:30",
    "contact_name": "Дежурная часть",
    "contact_phone": "+7 717 271 00 00",
    "contact_email": "duty@mvd.example",
}


def test_the_profile_is_read_by_everyone_and_kept_by_that_partys_registrar(
    as_user, kz_registrar, ru_registrar, ru_officer, kz_body, clock
):
    r = as_user(ru_officer).get("/parties/KZ/profile")
    assert r.status_code == 200
    assert r.json()["office_opens_at"] == "09:00"
    assert r.json()["updated_by"] is None
    assert as_user(ru_officer).get("/parties/XX/profile").status_code == 404

    r = as_user(kz_registrar).put("/parties/KZ/profile", PROFILE)
    assert r.status_code == 200, r.content
    saved = r.json()
    assert saved["accepted_languages"] == ["en", "kk"]
    assert saved["office_closes_at"] == "18:30"
    assert saved["updated_by"] == "kz.registrar"
    assert as_user(ru_officer).get("/parties/KZ/profile").json() == saved

    before = (PartyProfile.objects.get().accepted_languages, _registry_audit_entries())
    assert as_user(ru_registrar).put("/parties/KZ/profile", PROFILE).status_code == 403
    assert as_user(ru_officer).put("/parties/RU/profile", PROFILE).status_code == 403
    assert as_user(kz_registrar).put("/parties/XX/profile", PROFILE).status_code == 404
    assert (PartyProfile.objects.get().accepted_languages, _registry_audit_entries()) == before


def test_profile_fields_are_refused_one_by_one_and_nothing_changes(as_user, kz_registrar, kz_body, clock):
    api = as_user(kz_registrar)
    assert api.put("/parties/KZ/profile", PROFILE).status_code == 200
    before = (PartyProfile.objects.get().accepted_languages, _registry_audit_entries())

    r = api.put("/parties/KZ/profile", {**PROFILE, "office_opens_at": "25:00", "office_closes_at": "9am"})
    assert r.status_code == 422
    assert _fields(r) == {"office_opens_at", "office_closes_at"}
    r = api.put(
        "/parties/KZ/profile",
        {
            **PROFILE,
            "accepted_languages": ["fr"],
            "working_days": [0],
            "office_opens_at": "19:00",
            "contact_email": "x",
        },
    )
    assert r.status_code == 422
    assert _fields(r) == {"accepted_languages", "working_days", "office_closes_at", "contact_email"}
    missing = {k: v for k, v in PROFILE.items() if k != "contact_phone"}
    r = api.put("/parties/KZ/profile", {**missing, "contact_name": "x" * 201})
    assert _fields(r) == {"contact_phone", "contact_name"}
    r = api.put("/parties/KZ/profile", {**PROFILE, "evidence_use_limits": "a\x00b"})
    assert _fields(r) == {"evidence_use_limits"}
    assert (PartyProfile.objects.get().accepted_languages, _registry_audit_entries()) == before


def test_lists_do_not_query_row_by_row(as_user, secretariat, kz_registrar, protocol, kz_body, ru_body, clock):
    api, kz = as_user(secretariat), as_user(kz_registrar)
    lists = [
        (api, "/instruments"),
        (api, f"/instruments/{PROTOCOL}"),
        (api, "/designations"),
        (api, "/designations/history"),
        (api, "/announcements/pending"),
        (kz, "/announcements"),
        (kz, "/announcements/pending"),
    ]

    def query_counts():
        counts = []
        for caller, path in lists:
            with CaptureQueriesContext(connection) as queries:
                assert caller.get(path).status_code == 200
            counts.append(len(queries))
        return counts

    def designate(party_code):
        body = f"{party_code}-MIA"
        r = api.post(
            "/designations", {"party": party_code, "kind": "designated", "body": body, "effective_on": "2016-06-01"}
        )
        assert r.status_code == 201, r.content

    def amend(code):
        amendment = {"code": code, "kind": "amendment", "name_ru": "Изменения", "adopted_on": "2021-01-01"}
        assert api.post("/instruments", {**amendment, "amends": PROTOCOL}).status_code == 201

    designate("RU")
    amend("amend-1")
    few = query_counts()
    for code in ("BY", "KG", "TJ"):
        BodyFactory(party=PartyFactory(code=code), code=f"{code}-MIA")
    for code in ("KZ", "BY", "KG", "TJ"):
        designate(code)
    in_force(protocol, kz_body.party, ru_body.party, PartyFactory(code="BY"), PartyFactory(code="KG"))
    amend("amend-2")
    amend("amend-3")
    assert query_counts() == few
