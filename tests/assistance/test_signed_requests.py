"""Requests signed as they are approved, and verified where they arrive (P6.3, P6.4, P6.5): the head's certificate
from the Party's CA and a fresh TOTP code make the request's first attachment a signed Russian PDF; pyHanko (on
receipt) and poppler's pdfsig (independently) agree on it; a document that fails is flagged and the case does not
go on from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import translation
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop.assistance import services, views
from cybercoop.assistance.models import Case
from cybercoop.assistance.rules import Kind
from cybercoop.audit.models import AuditEntry
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.demo import signers
from cybercoop.documents import pki, render
from cybercoop.documents import services as documents
from cybercoop.exchange import at_rest
from cybercoop.exchange import rules as exchange_rules
from cybercoop.exchange import services as exchange
from cybercoop.exchange.models import Attachment, Message
from tests.assistance.factories import REQUEST_FIELDS, draft
from tests.assistance.test_api import Caller
from tests.documents.signers import *  # noqa: F403 - fixtures: the node's documents key per test
from tests.documents.signers import Authenticator, pdfsig, wrong_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def kz_ca(kz_body):
    return pki.create_party_ca(kz_body.party)


@pytest.fixture
def kz_signer(kz_head, kz_ca):
    """The Kazakh head with a certificate of the Kazakh CA and an authenticator app."""
    pki.issue_signer(kz_head)
    return Authenticator(kz_head)


def awaiting_approval(officer, requested_body, protocol, **overrides):
    case = draft(officer, requested_body, protocol, **overrides)
    return services.submit_for_approval(actor=officer, case=case)


def content(attachment) -> bytes:
    return at_rest.open(attachment)  # stored encrypted at rest


def request_message(case):
    return Message.objects.get(conversation=case.id, kind=Kind.REQUEST)


def state_of_the_world(case):
    """What a refused approval must leave as it was."""
    case.refresh_from_db()
    return (
        case.state,
        case.outgoing_number,
        case.approved_by_id,
        Message.objects.count(),
        Attachment.objects.count(),
        AuditEntry.objects.filter(action="documents:document:signed").count(),
    )


def flip_a_signed_byte(signed: bytes) -> bytes:
    """Change one byte inside the signed range (in a page's content stream, so the file still parses)."""
    position = signed.index(b"stream", signed.index(b"/Type /Page")) + 20
    return signed[:position] + bytes([signed[position] ^ 0x01]) + signed[position + 1 :]


def receive_from_another_node(*, sender_body, recipient_body, instrument, pdf: bytes | None, urgent=False):
    """A request as the federation inbox hands it over: the sender's ids and numbering, transport "federation",
    and (if given) `pdf` as its first attachment, named in the body as its signed document."""
    conversation = uuid.uuid4()
    body = {
        **{k: v for k, v in REQUEST_FIELDS.items() if k != "marking"},
        "outgoing_number": f"{sender_body.code}-2026-00042",
        "requesting_body": sender_body.code,
        "requested_body": recipient_body.code,
        "urgent": urgent,
        "execution_term_days": 30,
        "offence": "",
        "dual_criminality_confirmed": False,
        "annex_language": "",
        "signatory": {"name": "Ахметов Ерлан", "position": "Начальник", "role": "head"},
    }
    attachments = []
    if pdf is not None:
        attachment = Attachment(
            id=uuid.uuid4(),
            name="Запрос о содействии.pdf",
            media_type="application/pdf",
            size_bytes=len(pdf),
            sha256=hashlib.sha256(pdf).hexdigest(),
            uploaded_at=clock.now(),
        )
        attachment.file.save(f"{uuid.uuid4().hex}.bin", ContentFile(pdf), save=False)
        attachments.append(attachment)
        body["document"] = {"kind": "request", "sha256": attachment.sha256, "name": attachment.name}
    message = Message(
        id=uuid.uuid4(),
        conversation=conversation,
        kind=Kind.REQUEST,
        sender_body=sender_body,
        recipient_body=recipient_body,
        seq=1,
        prev_hash="",
        created_at=clock.now(),
        instrument=instrument.code,
        marking="official",
        purposes=[REQUEST_FIELDS["purpose"][:300]],
        conditions=[],
        body=body,
    )
    message.hash = exchange_rules.message_digest(message.hashed_fields(attachments=[a.manifest() for a in attachments]))
    exchange.receive(message=message, attachments=attachments)
    return Case.objects.get(pk=conversation)


# --- approving with a code: the request goes signed ------------------------------------------------------------


@pytest.mark.rule("P6.5")
@pytest.mark.rule("P6.3")
def test_the_head_approves_with_a_code_and_the_request_goes_as_a_signed_pdf(
    protocol, kz_officer, kz_head, kz_body, ru_body, ru_officer, kz_ca, kz_signer, client, tmp_path
):
    case = awaiting_approval(kz_officer, ru_body, protocol, annex_language="kk")

    case = services.approve_and_send(actor=kz_head, case=case, code=kz_signer.code())

    assert case.outgoing_number == "KZ-MIA-2026-00001"
    message = request_message(case)
    first = message.attachments.order_by("position").first()
    assert (first.position, first.media_type) == (0, "application/pdf")
    assert first.name == "Запрос о содействии KZ-MIA-2026-00001.pdf"
    assert message.body["document"]["sha256"] == first.sha256
    pdf = content(first)
    assert hashlib.sha256(pdf).hexdigest() == first.sha256
    text = " ".join(render.pdf_text(pdf).split())
    assert REQUEST_FIELDS["subject"] in text
    assert "KZ-MIA-2026-00001" in text
    assert kz_head.full_name in text
    assert protocol.name_ru in text
    assert ru_body.name_ru in text

    # poppler's pdfsig, an independent implementation, trusting the Kazakh CA only.
    report = pdfsig(pdf, trusting=[kz_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert report.valid, report.text
    assert f"Common Name: {kz_head.full_name}" in report.text

    # Checked where it was applied (one node here: the local transport), valid, and shown on the case page.
    check = documents.checks_for([first.id])[first.id]
    assert check.valid, check.reasons
    assert (check.signer_name, check.signer_position, check.body_code) == (kz_head.full_name, "head", "KZ-MIA")
    client.force_login(ru_officer)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    (signature,) = re.findall(r'<span class="signature[^"]*" data-testid="signature" data-valid="(\w+)">([^<]*)<', page)
    assert signature[0] == "true"
    shown = html.unescape(signature[1])
    assert kz_head.full_name in shown
    with translation.override("ru"):
        assert shown == views.signature_text(check)  # "Подпись действительна: подписал(а) …, руководитель …"
    assert f"/cases/{case.pk}/attachments/{first.pk}/" in page
    download = client.get(f"/cases/{case.pk}/attachments/{first.pk}/")
    assert b"".join(download.streaming_content) == pdf

    # The requested body goes on from a verified request.
    services.register_receipt(actor=ru_officer, case=case)


@pytest.mark.rule("P6.5")
def test_a_deputy_signs_and_is_shown_as_deputy(protocol, kz_officer, kz_deputy, ru_body, kz_ca):
    pki.issue_signer(kz_deputy)
    case = awaiting_approval(kz_officer, ru_body, protocol)
    case = services.approve_and_send(actor=kz_deputy, case=case, code=Authenticator(kz_deputy).code())
    first = request_message(case).attachments.first()
    check = documents.checks_for([first.id])[first.id]
    assert (check.valid, check.signer_position) == (True, "deputy")
    with translation.override("ru"):
        assert "заместитель" in views.signature_text(check).lower() or "deputy" in views.signature_text(check)


@pytest.mark.rule("P6.5")
def test_the_approve_form_asks_a_signer_for_the_code(
    protocol, kz_officer, kz_head, kz_deputy, ru_body, kz_signer, client
):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    client.force_login(kz_head)
    assert 'name="code"' in client.get(f"/cases/{case.pk}/").content.decode()
    client.force_login(kz_deputy)  # no certificate, signatures not required: nothing to sign with
    assert 'name="code"' not in client.get(f"/cases/{case.pk}/").content.decode()


# --- refused: a wrong, spent or missing code, no certificate --------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_wrong_code_is_refused_on_the_code_field_and_nothing_changes(
    protocol, kz_officer, kz_head, ru_body, kz_signer, client
):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    before = state_of_the_world(case)

    with pytest.raises(InvalidInput) as error:
        services.approve_and_send(actor=kz_head, case=case, code=wrong_code(kz_signer.code()))
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(case) == before

    # The same through the screen: 422, the error on the code field, nothing sent.
    client.force_login(kz_head)
    r = client.post(f"/cases/{case.pk}/approve/", {"code": wrong_code(kz_signer.code())})
    assert r.status_code == 422
    form = r.context["panels"][[p["action"].slug for p in r.context["panels"]].index("approve")]["form"]
    assert list(form.errors) == ["code"]
    assert state_of_the_world(case) == before


@pytest.mark.rule("P6.5")
def test_wrong_codes_at_approval_count_towards_throttling_though_the_approval_rolls_back(
    protocol, kz_officer, kz_head, ru_body, kz_signer
):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    with pytest.raises(InvalidInput):
        services.approve_and_send(actor=kz_head, case=case, code=wrong_code(kz_signer.code()))
    # The failure was kept although the approval was rolled back: guessing is throttled.
    assert TOTPDevice.objects.get(user=kz_head).throttling_failure_count == 1
    with pytest.raises(InvalidInput) as error:
        services.approve_and_send(actor=kz_head, case=case, code=kz_signer.code())  # right, but too soon
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(case)[0] == "awaiting_approval"


@pytest.mark.rule("P6.5")
def test_a_code_already_used_does_not_sign_a_second_request(protocol, kz_officer, kz_head, ru_body, kz_signer):
    first = awaiting_approval(kz_officer, ru_body, protocol)
    second = awaiting_approval(kz_officer, ru_body, protocol, subject="Второй запрос")
    code = kz_signer.code()
    services.approve_and_send(actor=kz_head, case=first, code=code)
    before = state_of_the_world(second)

    with pytest.raises(InvalidInput) as error:
        services.approve_and_send(actor=kz_head, case=second, code=code)
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(second) == before


@pytest.mark.rule("P6.5")
def test_a_signer_who_gives_no_code_is_asked_for_it(protocol, kz_officer, kz_head, ru_body, kz_signer):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    before = state_of_the_world(case)
    with pytest.raises(InvalidInput) as error:
        services.approve_and_send(actor=kz_head, case=case)
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(case) == before


@pytest.mark.rule("P6.5")
@override_settings(SIGNING_REQUIRED=True)
def test_where_signatures_are_required_an_approver_without_a_certificate_is_refused(
    protocol, kz_officer, kz_head, ru_body, kz_ca
):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    authenticator = Authenticator(kz_head)
    before = state_of_the_world(case)
    with pytest.raises(InvalidInput) as error:
        services.approve_and_send(actor=kz_head, case=case, code=authenticator.code())
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(case) == before


def test_without_a_certificate_or_the_setting_the_request_goes_unsigned_as_before(
    protocol, kz_officer, kz_head, ru_body, ru_officer
):
    case = services.approve_and_send(actor=kz_head, case=awaiting_approval(kz_officer, ru_body, protocol))
    message = request_message(case)
    assert "document" not in message.body
    assert not message.attachments.exists()
    services.register_receipt(actor=ru_officer, case=case)


# --- on receipt: a document that fails is flagged, and the case does not go on from it -------------------------


@pytest.mark.rule("P6.5")
def test_a_document_changed_on_its_way_is_flagged_and_its_receipt_refused(
    protocol, kz_officer, kz_head, kz_body, ru_body, ru_officer, kz_signer, client
):
    sent = services.approve_and_send(
        actor=kz_head, case=awaiting_approval(kz_officer, ru_body, protocol), code=kz_signer.code()
    )
    signed = content(request_message(sent).attachments.first())

    case = receive_from_another_node(
        sender_body=kz_body, recipient_body=ru_body, instrument=protocol, pdf=flip_a_signed_byte(signed)
    )

    message = request_message(case)
    assert message.transport == "federation"
    attachment = message.attachments.first()
    check = documents.checks_for([attachment.id])[attachment.id]
    assert not check.valid
    assert any("changed after it was signed" in reason or "изменён" in reason for reason in check.reasons), (
        check.reasons
    )
    with pytest.raises(RuleViolation) as refused:
        services.register_receipt(actor=ru_officer, case=case)
    assert refused.value.rule_id == "P6.5"
    case.refresh_from_db()
    assert (case.state, case.incoming_number) == ("sent", "")

    client.force_login(ru_officer)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-testid="signature" data-valid="false"' in page
    r = client.post(f"/cases/{case.pk}/receipt/", {})
    assert r.status_code == 409
    assert 'data-rule="P6.5"' in r.content.decode()


@pytest.mark.rule("P6.5")
def test_a_document_signed_for_another_partys_body_is_flagged(
    protocol, kz_officer, kz_head, ru_body, ru_officer, outsider_body, kz_signer
):
    """The Kazakh head's signature, arriving as if from the Armenian body: not its Party's CA, not its body."""
    sent = services.approve_and_send(
        actor=kz_head, case=awaiting_approval(kz_officer, ru_body, protocol), code=kz_signer.code()
    )
    signed = content(request_message(sent).attachments.first())
    case = receive_from_another_node(sender_body=outsider_body, recipient_body=ru_body, instrument=protocol, pdf=signed)
    attachment = request_message(case).attachments.first()
    assert not documents.checks_for([attachment.id])[attachment.id].valid
    with pytest.raises(RuleViolation):
        services.register_receipt(actor=ru_officer, case=case)


@pytest.mark.rule("P6.5")
def test_an_unsigned_request_is_not_registered_where_signatures_are_required(
    protocol, kz_body, ru_body, ru_officer, settings
):
    case = receive_from_another_node(sender_body=kz_body, recipient_body=ru_body, instrument=protocol, pdf=None)
    settings.SIGNING_REQUIRED = True
    with pytest.raises(RuleViolation) as refused:
        services.register_receipt(actor=ru_officer, case=case)
    assert refused.value.rule_id == "P6.5"

    settings.SIGNING_REQUIRED = False  # the default: the receipt goes ahead as before
    case = services.register_receipt(actor=ru_officer, case=case)
    assert case.incoming_number


@pytest.mark.rule("P6.4")
def test_an_urgent_request_goes_unsigned_and_its_written_confirmation_is_signed(
    protocol, kz_officer, kz_head, ru_body, ru_officer, kz_signer, settings
):
    settings.SIGNING_REQUIRED = True
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    case = services.send_urgent(actor=kz_officer, case=case)
    assert not request_message(case).attachments.exists()
    case = services.register_receipt(actor=ru_officer, case=case)  # P6.4: it goes ahead before its confirmation

    case = services.confirm_urgent(actor=kz_head, case=case, code=kz_signer.code())

    confirmation = Message.objects.get(conversation=case.id, kind=Kind.URGENT_CONFIRMATION)
    first = confirmation.attachments.first()
    assert first.name.startswith("Письменное подтверждение") or first.name.endswith(f"{case.outgoing_number}.pdf")
    assert confirmation.body["document"]["kind"] == "urgent_confirmation"
    assert documents.checks_for([first.id])[first.id].valid
    assert case.outgoing_number in " ".join(render.pdf_text(content(first)).split())


# --- the API -------------------------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_the_api_approves_with_a_code_and_shows_the_check(protocol, kz_officer, kz_head, ru_body, kz_signer, client):
    case = awaiting_approval(kz_officer, ru_body, protocol)
    head = Caller(client, kz_head)

    r = head.upload(f"/{case.id}/approve", fields={"code": wrong_code(kz_signer.code())})
    assert r.status_code == 422, r.content
    assert {e["field"] for e in r.json()["errors"]} == {"code"}
    assert r.json()["errors"][0]["message"]

    # A wrong code is throttled (django-otp): the next one is taken once its delay has passed.
    TOTPDevice.objects.filter(user=kz_head).update(throttling_failure_timestamp=None)
    r = head.upload(f"/{case.id}/approve", fields={"code": kz_signer.code()}, files=[("notes.txt", b"plain notes")])
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "sent"

    (message,) = head.get(f"/{case.id}/messages").json()
    signed, notes = message["attachments"]
    assert (signed["media_type"], notes["name"]) == ("application/pdf", "notes.txt")
    assert signed["signature"]["valid"] is True
    assert signed["signature"]["signer_position"] == "head"
    assert signed["signature"]["body_code"] == "KZ-MIA"
    assert notes["signature"] is None
    download = client.get(signed["url"], **head.headers)
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == signed["sha256"]


def test_signing_times_are_within_a_minute_of_approval(protocol, kz_officer, kz_head, ru_body, kz_signer):
    case = services.approve_and_send(
        actor=kz_head, case=awaiting_approval(kz_officer, ru_body, protocol), code=kz_signer.code()
    )
    first = request_message(case).attachments.first()
    check = documents.checks_for([first.id])[first.id]
    assert abs(check.signed_at - case.approved_at) < dt.timedelta(minutes=1)


# --- the demo's signers ----------------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_demo_head_signs_with_the_code_demo_totp_prints(protocol, kz_officer, kz_head, ru_body, tmp_path):
    signers.prepare([kz_head.username, kz_officer.username], folder=tmp_path / "authorities")
    signers.prepare([kz_head.username], folder=tmp_path / "authorities")  # again: nothing new

    assert pki.credential_in_use(kz_officer) is None
    assert (tmp_path / "authorities" / "KZ.pem").read_text() == pki.authorities_of(kz_head.body.party)[
        0
    ].certificate_pem
    assert len(pki.authorities_of(kz_head.body.party)) == 1
    case = awaiting_approval(kz_officer, ru_body, protocol)
    case = services.approve_and_send(actor=kz_head, case=case, code=signers.current_code(kz_head.username))
    first = request_message(case).attachments.first()
    assert documents.checks_for([first.id])[first.id].valid
