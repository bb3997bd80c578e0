"""The cases API: the workflow on both sides through HTTP, who may see and do what, and refusals that name the
field or the rule and change nothing."""

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cybercoop.accounts import services as accounts
from cybercoop.assistance import services
from cybercoop.assistance.models import Case
from cybercoop.audit.models import AuditEntry
from cybercoop.exchange.models import Attachment, Message
from tests.accounts.factories import UserFactory
from tests.assistance.factories import REQUEST_FIELDS, designate, draft, sent
from tests.registry.factories import BodyFactory

API = "/api/v1/cases"
UTC = dt.UTC
PDF = b"%PDF-1.7\n% a test document\n%%EOF\n"
ZIP = b"PK\x03\x04 connection logs"


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

    def patch(self, path, data):
        return self.client.patch(API + path, json.dumps(data), "application/json", **self.headers)

    def upload(self, path, fields=None, files=()):
        """A multipart POST: form fields, and files sent as `attachments`."""
        data = {**(fields or {}), "attachments": [SimpleUploadedFile(name, content) for name, content in files]}
        return self.client.post(API + path, data, **self.headers)

    def raw(self, path, body, content_type):
        return self.client.post(API + path, body, content_type, **self.headers)


@pytest.fixture
def as_user(client):
    return lambda user: Caller(client, user)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def _clock(case_json, kind):
    return next(c for c in case_json["clocks"] if c["kind"] == kind)


def _unchanged():
    """What a refused action must leave as it was (issuing the test's API tokens is audited too: not counted)."""
    return (
        list(Case.objects.order_by("id").values_list("id", "state", "updated_at")),
        Message.objects.count(),
        AuditEntry.objects.filter(action__startswith="assistance:").exclude(action="assistance:case:viewed").count(),
        AuditEntry.objects.filter(action__startswith="exchange:").count(),
    )


def test_the_openapi_schema_lists_every_case_operation_with_its_errors(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    expected = {
        "": {"post"},
        "/incoming": {"get"},
        "/outgoing": {"get"},
        "/{case_id}": {"get", "patch"},
        "/{case_id}/messages": {"get"},
        "/{case_id}/attachments/{attachment_id}": {"get"},
        **{
            f"/{{case_id}}/{action}": {"post"}
            for action in (
                "submit",
                "return",
                "discard",
                "approve",
                "send-urgent",
                "confirm-urgent",
                "receipt",
                "forward",
                "delay",
                "information-request",
                "information",
                "postpone",
                "conditions",
                "conditions-reply",
                "participation-request",
                "participation",
                "refusal",
                "results",
            )
        },
    }
    for path, methods in expected.items():
        assert set(paths[API + path]) == methods, path
        for method in methods:
            assert {"403", "404", "409", "422"} <= set(paths[API + path][method]["responses"]), path
    multipart = paths[API + "/{case_id}/results"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"summary", "attachments"} <= set(multipart["schema"]["properties"])


def test_the_cases_api_needs_a_token(client, db):
    r = client.get(f"{API}/incoming")
    assert r.status_code == 401
    assert r.json()["errors"] == []


@pytest.mark.rule("P6.5", "P7.2", "P7.5", "P7.8")
def test_a_request_runs_from_draft_to_results_through_the_api_on_both_sides(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, media, clock
):
    officer, head, requested = as_user(kz_officer), as_user(kz_head), as_user(ru_officer)

    r = officer.post("", {**REQUEST_FIELDS, "requested_body": "RU-MIA", "other_information": ""})
    assert r.status_code == 201, r.content
    case = r.json()
    case_id = case["id"]
    assert (case["state"], case["side"], case["instrument"]) == ("draft", "requesting", protocol.code)
    assert (case["requesting_body"], case["requesting_party"]) == ("KZ-MIA", "KZ")
    assert (case["requested_body"], case["requested_party"], case["handling_body"]) == ("RU-MIA", "RU", "RU-MIA")
    assert case["allowed_actions"] == ["edit", "submit", "discard"]
    assert case["purposes"] == [REQUEST_FIELDS["purpose"]]

    # Only the fields sent change.
    r = officer.patch(f"/{case_id}", {"other_information": "Контактное лицо: Ахметов Е. С."})
    assert r.status_code == 200, r.content
    assert r.json()["other_information"] == "Контактное лицо: Ахметов Е. С."
    assert r.json()["substance"] == REQUEST_FIELDS["substance"]

    r = officer.post(f"/{case_id}/submit")
    assert (r.status_code, r.json()["state"]) == (200, "awaiting_approval")
    assert r.json()["allowed_actions"] == ["discard"]
    assert head.get(f"/{case_id}").json()["allowed_actions"] == ["return", "approve", "discard"]

    r = head.upload(f"/{case_id}/approve", files=[("request.pdf", PDF)])
    assert r.status_code == 200, r.content
    case = r.json()
    assert (case["state"], case["approved_by"], case["outgoing_number"]) == ("sent", "kz.head", "KZ-MIA-2026-00001")

    # The requested body finds it in its inbox; the requesting body's inbox stays empty.
    r = requested.get("/incoming")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [case_id]
    assert r.json()["count"] == 1
    assert officer.get("/incoming").json()["count"] == 0
    assert requested.get(f"/{case_id}").json()["allowed_actions"] == ["receipt"]

    clock.set(dt.datetime(2026, 11, 24, 7, 0, tzinfo=UTC))  # 10:00 in Moscow
    r = requested.post(f"/{case_id}/receipt")
    assert r.status_code == 200, r.content
    case = r.json()
    assert (case["state"], case["incoming_number"], case["side"]) == (
        "in_execution",
        "RU-MIA-2026-I-00001",
        "requested",
    )
    execution = _clock(case, "execution")
    assert (execution["rule_id"], execution["term"], execution["unit"]) == ("P7.2", 30, "days")
    assert (execution["zone"], execution["acting_body"], execution["status"]) == ("Europe/Moscow", "RU-MIA", "running")
    assert execution["due_at"] == "2026-12-24T21:00:00Z"  # 24:00 in Moscow on 24 December
    assert case["next_due"] == {
        "kind": "execution",
        "kind_label": case["next_due"]["kind_label"],
        "due_at": "2026-12-24T21:00:00Z",
        "overdue": False,
    }
    assert {"forward", "delay", "information-request", "results"} <= set(case["allowed_actions"])
    assert "refusal" not in case["allowed_actions"]  # P9.2: the head or a deputy signs a refusal

    r = requested.upload(f"/{case_id}/information-request", {"questions": "Уточните номера карт потерпевших."})
    assert (r.status_code, r.json()["state"]) == (200, "awaiting_information"), r.content
    assert officer.get(f"/{case_id}").json()["allowed_actions"] == ["information", "participation-request", "marking"]

    r = officer.upload(f"/{case_id}/information", {"answer": "Список карт прилагается."}, [("cards.txt", b"4400 ...")])
    assert (r.status_code, r.json()["state"]) == (200, "in_execution"), r.content

    clock.advance(dt.timedelta(days=10))
    r = requested.upload(
        f"/{case_id}/results",
        {
            "summary": "Владелец сервера установлен; журналы прилагаются.",
            "costs_amount": "1500",
            "costs_currency": "rub",
        },
        [("logs.zip", ZIP)],
    )
    assert r.status_code == 200, r.content
    case = r.json()
    assert (case["state"], case["next_due"], case["allowed_actions"]) == ("executed", None, [])
    assert _clock(case, "execution")["status"] == "met"
    assert all(c["status"] != "running" for c in case["clocks"])

    # Both sides see the same case and the same timeline.
    assert officer.get(f"/{case_id}").json()["state"] == "executed"
    timeline = officer.get(f"/{case_id}/messages")
    assert timeline.status_code == 200
    messages = timeline.json()
    assert messages == requested.get(f"/{case_id}/messages").json()
    assert [(m["kind"], m["sender_body"], m["recipient_body"]) for m in messages] == [
        ("assistance.request", "KZ-MIA", "RU-MIA"),
        ("assistance.receipt", "RU-MIA", "KZ-MIA"),
        ("assistance.info_request", "RU-MIA", "KZ-MIA"),
        ("assistance.info_reply", "KZ-MIA", "RU-MIA"),
        ("assistance.results", "RU-MIA", "KZ-MIA"),
    ]
    assert [m["seq"] for m in messages] == [1, 1, 2, 2, 3]
    assert messages[0]["sender"] == "kz.head"
    assert messages[-1]["body"]["costs"] == {"amount": "1500.00", "currency": "RUB", "note": ""}
    assert messages[-1]["marking"] == "official"
    assert messages[-1]["purposes"] == [REQUEST_FIELDS["purpose"]]
    (logs,) = messages[-1]["attachments"]
    assert (logs["name"], logs["media_type"], logs["size_bytes"]) == ("logs.zip", "application/zip", len(ZIP))

    # The download URL works for both sides, as an attachment the browser may not sniff.
    for caller in (officer, requested):
        r = caller.client.get(logs["url"], **caller.headers)
        assert r.status_code == 200
        assert b"".join(r.streaming_content) == ZIP
        assert r["X-Content-Type-Options"] == "nosniff"
        assert r["Content-Type"] == "application/zip"
        assert r["Content-Disposition"].startswith("attachment")
    # Every read of the case is recorded (P10.1), without its content.
    assert AuditEntry.objects.filter(action="assistance:case:viewed").exists()


@pytest.mark.rule("P6.4")
def test_an_urgent_request_goes_at_once_and_the_heads_confirmation_closes_its_clock(
    as_user, protocol, kz_officer, kz_head, ru_body, media, clock
):
    officer, head = as_user(kz_officer), as_user(kz_head)
    case_id = officer.post("", {**REQUEST_FIELDS, "requested_body": "RU-MIA", "urgent": True}).json()["id"]
    assert "send-urgent" in officer.get(f"/{case_id}").json()["allowed_actions"]

    r = officer.upload(f"/{case_id}/send-urgent", files=[("screenshot.png", b"\x89PNG\r\n\x1a\n....")])
    assert r.status_code == 200, r.content
    case = r.json()
    assert (case["state"], case["urgent"], case["approved_by"]) == ("sent", True, None)
    confirmation = _clock(case, "urgent_confirmation")
    assert (confirmation["rule_id"], confirmation["term"], confirmation["unit"]) == ("P6.4", 72, "hours")
    assert confirmation["due_at"] == "2026-11-26T09:00:00Z"  # 72 hours from transmission
    assert "confirm-urgent" not in case["allowed_actions"]  # the officer may not sign it
    assert "confirm-urgent" in head.get(f"/{case_id}").json()["allowed_actions"]

    clock.advance(dt.timedelta(hours=73))
    case = officer.get(f"/{case_id}").json()
    assert _clock(case, "urgent_confirmation")["overdue"] is True
    assert case["next_due"]["overdue"] is True
    assert [c["id"] for c in officer.get("/outgoing", {"overdue": "true"}).json()["items"]] == [case_id]

    r = officer.post(f"/{case_id}/confirm-urgent")
    assert r.status_code == 403
    r = head.post(f"/{case_id}/confirm-urgent")
    assert r.status_code == 200, r.content
    case = r.json()
    assert _clock(case, "urgent_confirmation")["status"] == "met"
    assert case["urgent_confirmed_at"] == "2026-11-26T10:00:00Z"
    assert case["approved_by"] == "kz.head"
    assert officer.get("/outgoing", {"overdue": "true"}).json()["count"] == 0


@pytest.mark.rule("P9.2")
def test_a_refusal_without_reasons_is_refused_naming_the_field(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_head, ru_body, media, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    as_user(ru_officer).post(f"/{case.id}/receipt")
    head = as_user(ru_head)
    before = _unchanged()
    r = head.upload(f"/{case.id}/refusal", {"reasons": "   ", "partial": "false"})
    assert r.status_code == 422
    assert _fields(r) == {"reasons"}
    r = head.upload(f"/{case.id}/refusal", {"partial": "false"})
    assert r.status_code == 422
    assert _fields(r) == {"reasons"}
    r = head.upload(f"/{case.id}/refusal", {"reasons": "Тайна связи", "partial": "true"})
    assert _fields(r) == {"refused_part"}
    # P9.2: signed by the head or a deputy; an officer may not refuse.
    r = as_user(ru_officer).upload(f"/{case.id}/refusal", {"reasons": "Противоречит законодательству"})
    assert r.status_code == 403
    assert _unchanged() == before

    r = head.upload(f"/{case.id}/refusal", {"reasons": "Противоречит ст. 23 Конституции РФ"}, [("note.pdf", PDF)])
    assert r.status_code == 200, r.content
    assert (r.json()["state"], r.json()["closed_at"]) == ("refused", "2026-11-23T09:00:00Z")


@pytest.mark.rule("P6.5")
def test_an_officer_may_not_approve_a_request(as_user, protocol, kz_officer, kz_deputy, ru_body, media, clock):
    case = draft(kz_officer, ru_body, protocol)
    officer = as_user(kz_officer)
    officer.post(f"/{case.id}/submit")
    before = _unchanged()
    r = officer.upload(f"/{case.id}/approve", files=[("request.pdf", PDF)])
    assert r.status_code == 403
    assert r.json()["rule"] is None
    r = officer.post(f"/{case.id}/return", {"comment": "Уточните период"})
    assert r.status_code == 403
    assert _unchanged() == before
    assert not Attachment.objects.exists()

    r = as_user(kz_deputy).post(f"/{case.id}/return", {"comment": "Уточните период"})
    assert (r.status_code, r.json()["state"], r.json()["return_comment"]) == (200, "draft", "Уточните период")
    # The deputy may approve with no body at all: attachments are optional.
    r = as_user(kz_deputy).post(f"/{case.id}/approve")
    assert (r.status_code, r.json()["state"], r.json()["approved_by"]) == (200, "sent", "kz.deputy")


def test_an_action_the_state_forbids_is_a_409_naming_its_rule_and_changes_nothing(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, media, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    before = _unchanged()
    r = as_user(ru_officer).upload(f"/{case.id}/results", {"summary": "Результаты"}, [("logs.zip", ZIP)])
    assert r.status_code == 409
    assert r.json()["rule"] == "P7.8"
    assert r.json()["detail"]
    r = as_user(kz_officer).patch(f"/{case.id}", {"subject": "Другая тема"})
    assert (r.status_code, r.json()["rule"]) == (409, "P6.2")
    r = as_user(kz_officer).post(f"/{case.id}/receipt")  # the requesting body does not register receipt
    assert (r.status_code, r.json()["rule"]) == (409, "P7.2")
    assert _unchanged() == before


def test_an_outsider_finds_no_case_message_or_attachment(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, outsider, kz_auditor, media, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    as_user(ru_officer).post(f"/{case.id}/receipt")
    r = as_user(ru_officer).upload(f"/{case.id}/information-request", {"questions": "Какие карты?"}, [("q.pdf", PDF)])
    assert r.status_code == 200, r.content
    attachment = Attachment.objects.get()
    stranger = as_user(outsider)
    for r in (
        stranger.get(f"/{case.id}"),
        stranger.get(f"/{case.id}/messages"),
        stranger.get(f"/{case.id}/attachments/{attachment.id}"),
        stranger.post(f"/{case.id}/receipt"),
        stranger.patch(f"/{case.id}", {"subject": "x"}),
        stranger.upload(f"/{case.id}/information", {"answer": "x"}),
    ):
        assert r.status_code == 404
        assert r.json()["errors"] == []
    assert stranger.get("/incoming").json()["count"] == 0
    assert stranger.get("/outgoing").json()["count"] == 0
    # An attachment of another case is not found through this one.
    other = sent(kz_officer, kz_head, ru_body, protocol)
    r = as_user(kz_officer).get(f"/{other.id}/attachments/{attachment.id}")
    assert r.status_code == 404
    # The requested body never sees the requesting body's drafts.
    drafted = draft(kz_officer, ru_body, protocol)
    assert as_user(ru_officer).get(f"/{drafted.id}").status_code == 404
    # A role without casework is refused outright, whatever the case.
    assert as_user(kz_auditor).get(f"/{case.id}").status_code == 403
    assert as_user(kz_auditor).get("/outgoing").status_code == 403


def test_unknown_codes_are_refused_naming_the_field_and_nothing_is_stored(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    officer = as_user(kz_officer)
    before = _unchanged()
    r = officer.post("", {**REQUEST_FIELDS, "requested_body": "RU-NONE", "instrument": "no-such-treaty"})
    assert r.status_code == 422
    assert _fields(r) == {"requested_body", "instrument"}
    assert all(e["message"] for e in r.json()["errors"])
    r = officer.post("", {**REQUEST_FIELDS, "requested_body": "KZ-MIA"})  # a body of one's own Party
    assert _fields(r) == {"requested_body"}
    r = officer.post("", {**REQUEST_FIELDS, "requested_body": "RU-MIA", "scope": "gossip", "execution_term_days": 400})
    assert _fields(r) == {"scope", "execution_term_days"}
    assert _unchanged() == before

    case = sent(kz_officer, kz_head, ru_body, protocol)
    as_user(ru_officer).post(f"/{case.id}/receipt")
    before = _unchanged()
    r = as_user(ru_officer).post(f"/{case.id}/forward", {"to_body": "RU-NONE", "reason": "Не по компетенции"})
    assert (r.status_code, _fields(r)) == (422, {"to_body"})
    r = as_user(ru_officer).post(f"/{case.id}/forward", {"to_body": "KZ-MIA", "reason": "Не по компетенции"})
    assert (r.status_code, _fields(r)) == (422, {"to_body"})
    assert _unchanged() == before


def test_malformed_input_is_refused_with_a_4xx_never_a_500(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, media, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    officer, requested = as_user(kz_officer), as_user(ru_officer)
    before = _unchanged()

    r = officer.raw("", b'{"requested_body": "RU-MIA",', "application/json")
    assert r.status_code == 400
    assert officer.raw("", b"[1, 2]", "application/json").status_code == 422
    r = officer.post("", {**REQUEST_FIELDS, "requested_body": "RU-MIA", "purposes": ["ok", "bad\x00"]})
    assert (r.status_code, _fields(r)) == (422, {"purposes"})
    r = officer.raw("", json.dumps({"requested_body": "RU-MIA", "subject": "\ud800"}).encode(), "application/json")
    assert (r.status_code, _fields(r)) == (422, {"subject"})
    r = officer.post("", {"requested_body": "RU-MIA", "subject": "x" * 301, "purposes": ["p"] * 21})
    assert (r.status_code, _fields(r)) == (422, {"subject", "purposes"})

    # A local time without its offset from UTC is ambiguous: refused, naming the field.
    r = requested.post(f"/{case.id}/receipt", {"received_at": "2026-11-23T10:00:00"})
    assert (r.status_code, _fields(r)) == (422, {"received_at"})
    r = requested.post(f"/{case.id}/receipt", {"received_at": "23.11.2026"})
    assert (r.status_code, _fields(r)) == (422, {"received_at"})
    r = requested.post(f"/{case.id}/receipt", {"received_at": "2026-11-23T13:00:00+03:00"})
    assert (r.status_code, _fields(r)) == (422, {"received_at"})  # in the future of the frozen clock
    r = requested.post(f"/{case.id}/postpone", {"reason": "Идёт расследование", "until": "1 февраля"})
    assert (r.status_code, _fields(r)) == (422, {"until"})

    for path in ("/not-a-uuid", "/not-a-uuid/messages"):
        r = officer.get(path)
        assert (r.status_code, _fields(r)) == (422, {"case_id"}), path
    r = officer.get(f"/{case.id}/attachments/x")
    assert (r.status_code, _fields(r)) == (422, {"attachment_id"})
    for params in ({"offset": str(10**20)}, {"limit": "0"}, {"state": "lost"}, {"party": "K\x00Z"}):
        assert officer.get("/outgoing", params).status_code == 422, params

    # Broken multipart bodies are a 400, not a server error.
    path = f"/{case.id}/information-request"
    assert requested.raw(path, b"--x\r\nnonsense", "multipart/form-data").status_code == 400
    assert requested.raw(path, b"garbage", "multipart/form-data; boundary=x").status_code in (400, 422)
    # Files: at most 20, and only the accepted types, checked by content.
    assert _unchanged() == before
    received = services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    before = _unchanged()
    path = f"/{received.id}/information-request"
    r = requested.upload(path, {"questions": "?"}, [(f"f{i}.txt", b"text") for i in range(21)])
    assert (r.status_code, _fields(r)) == (422, {"attachments"})
    r = requested.upload(path, {"questions": "?"}, [("virus.exe", b"MZ\x90\x00\x03")])
    assert (r.status_code, _fields(r)) == (422, {"attachments"})
    assert _unchanged() == before


def test_the_lists_filter_and_page_without_querying_row_by_row(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    for index in range(3):
        sent(kz_officer, kz_head, ru_body, protocol, subject=f"Запрос {index}", urgent=index == 0)
    draft(kz_officer, ru_body, protocol, subject="Черновик")
    officer, requested = as_user(kz_officer), as_user(ru_officer)

    r = officer.get("/outgoing", {"limit": 2})
    assert (r.json()["count"], len(r.json()["items"])) == (4, 2)
    assert officer.get("/outgoing", {"state": "draft"}).json()["count"] == 1
    assert officer.get("/outgoing", {"urgent": "true"}).json()["count"] == 1
    assert officer.get("/outgoing", {"party": "ru"}).json()["count"] == 4
    assert officer.get("/outgoing", {"party": "AM"}).json()["count"] == 0
    assert [c["subject"] for c in requested.get("/incoming", {"q": "Запрос 2"}).json()["items"]] == ["Запрос 2"]
    item = requested.get("/incoming", {"q": "Запрос 1"}).json()["items"][0]
    assert (item["state"], item["handling_party"], item["requesting_party"]) == ("sent", "RU", "KZ")
    assert item["next_due"] is None

    def queries(caller, path):
        with CaptureQueriesContext(connection) as captured:
            assert caller.get(path).status_code == 200
        return len(captured)

    baseline = queries(requested, "/incoming")
    for _ in range(3):
        case = sent(kz_officer, kz_head, ru_body, protocol)
        as_user(ru_officer).post(f"/{case.id}/receipt")
    assert queries(requested, "/incoming") == baseline


@pytest.mark.rule("P7.3", "P7.6", "P7.7", "P8")
def test_delay_postponement_conditions_and_participation_through_the_api(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case_id = str(sent(kz_officer, kz_head, ru_body, protocol).id)
    officer, requested = as_user(kz_officer), as_user(ru_officer)
    requested.post(f"/{case_id}/receipt", {"received_at": "2026-11-23T12:00:00+03:00"})

    r = requested.post(f"/{case_id}/delay", {"reason": "Провайдер не ответил", "expected_on": "2027-01-15"})
    assert (r.status_code, r.json()["state"]) == (200, "in_execution"), r.content
    r = requested.post(f"/{case_id}/postpone", {"reason": "Идёт расследование", "until": "2027-02-01"})
    assert r.status_code == 200, r.content
    postponement = _clock(r.json(), "postponement")
    assert (postponement["rule_id"], postponement["until"], postponement["due_at"]) == (
        "P7.6",
        "2027-02-01",
        "2027-02-01T21:00:00Z",
    )
    assert _clock(r.json(), "execution")["status"] == "superseded"

    condition = "Использовать только в уголовном деле № 261500031000217"
    r = requested.post(f"/{case_id}/conditions", {"conditions": [condition], "reason": "ст. 12"})
    assert (r.status_code, r.json()["state"], r.json()["conditions_proposed"]) == (
        200,
        "awaiting_conditions_reply",
        [condition],
    )
    assert officer.get(f"/{case_id}").json()["allowed_actions"] == [
        "conditions-reply",
        "participation-request",
        "marking",
    ]
    r = officer.post(f"/{case_id}/conditions-reply", {"accepted": True})
    assert (r.status_code, r.json()["conditions_accepted"]) == (200, [condition])

    r = officer.post(
        f"/{case_id}/participation-request",
        {
            "representatives": [{"name": "Ахметов Ерлан Серикович", "position": "ст. оперуполномоченный"}],
            "starts_on": "2026-12-01",
            "ends_on": "2026-11-30",
        },
    )
    assert (r.status_code, _fields(r)) == (422, {"ends_on"})
    r = officer.post(
        f"/{case_id}/participation-request",
        {"representatives": [{"name": "Ахметов Ерлан Серикович"}], "starts_on": "2026-12-01", "ends_on": "2026-12-05"},
    )
    assert (r.status_code, r.json()["participation_pending"]) == (200, True)
    assert "participation" in requested.get(f"/{case_id}").json()["allowed_actions"]
    r = requested.post(f"/{case_id}/participation", {"agreed": False})
    assert (r.status_code, _fields(r)) == (422, {"reasons"})
    r = requested.post(f"/{case_id}/participation", {"agreed": False, "reasons": "Запрещено законом"})
    assert (r.status_code, r.json()["participation_pending"]) == (200, False)

    # P7.7: the accepted conditions go with every later message.
    last = officer.get(f"/{case_id}/messages").json()[-1]
    assert (last["kind"], last["conditions"]) == ("assistance.participation", [condition])


@pytest.mark.rule("P7.4")
def test_a_forwarded_case_moves_to_the_other_body_and_leaves_the_first(
    as_user, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    fsb = BodyFactory(party=ru_body.party, code="RU-FSB", time_zone="Europe/Moscow")
    designate(protocol, fsb)
    fsb_officer = UserFactory(username="ru.fsb", body=fsb, role="officer", receives_incoming=True)
    case_id = str(sent(kz_officer, kz_head, ru_body, protocol).id)
    requested = as_user(ru_officer)
    requested.post(f"/{case_id}/receipt")

    r = requested.post(f"/{case_id}/forward", {"to_body": "RU-FSB", "reason": "Относится к компетенции ФСБ России"})
    assert r.status_code == 200, r.content
    case = r.json()
    assert (case["handling_body"], case["side"], case["allowed_actions"]) == ("RU-FSB", None, [])
    assert _clock(case, "forward")["status"] == "met"
    assert _clock(case, "execution")["acting_body"] == "RU-FSB"
    # The forwarding body no longer sees it; the competent body does, and the requesting body was told.
    assert requested.get(f"/{case_id}").status_code == 404
    assert [c["id"] for c in as_user(fsb_officer).get("/incoming").json()["items"]] == [case_id]
    messages = as_user(kz_officer).get(f"/{case_id}/messages").json()
    assert (messages[-1]["kind"], messages[-1]["recipient_body"]) == ("assistance.forward", "KZ-MIA")


def test_a_draft_is_changed_field_by_field_and_can_be_discarded(as_user, protocol, kz_officer, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    officer = as_user(kz_officer)
    before = _unchanged()
    for change in ({"subject": None}, {"assistance_kinds": "procedural_actions"}, {"requested_body": "XX"}):
        r = officer.patch(f"/{case.id}", change)
        assert (r.status_code, _fields(r)) == (422, set(change)), change
    assert _unchanged() == before

    r = officer.patch(f"/{case.id}", {"execution_term_days": 15, "assistance_kinds": ["procedural_actions"]})
    assert r.status_code == 200, r.content
    assert (r.json()["execution_term_days"], r.json()["assistance_kinds"]) == (15, ["procedural_actions"])
    assert r.json()["subject"] == REQUEST_FIELDS["subject"]
    r = officer.patch(f"/{case.id}", {"execution_term_days": None})
    assert r.json()["execution_term_days"] is None

    r = officer.post(f"/{case.id}/discard")
    assert (r.status_code, r.json()["state"], r.json()["allowed_actions"]) == (200, "discarded", [])
    r = officer.post(f"/{case.id}/submit")
    assert (r.status_code, r.json()["rule"]) == (409, "P6.2")
