"""The documents services the workflows call: an official document rendered and signed by the head with a fresh
code, checked against the trust anchors the directory publishes for the sending Party, and the check kept."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from cybercoop.core.errors import InvalidInput
from cybercoop.documents import pki, services
from cybercoop.documents.render import REQUIRED_SECTIONS, DocumentData, DocumentKind, Section, heading_for, pdf_text
from cybercoop.registry import directory
from cybercoop.registry import services as registry_services
from tests.documents.signers import *  # noqa: F403 - fixtures
from tests.documents.signers import make_ca, wrong_code
from tests.documents.test_render import SECTION_TEXT


def _request(kz_body, ru_body, head) -> DocumentData:
    return DocumentData(
        kind=DocumentKind.REQUEST,
        number="KZ-MIA-2026-00001",
        date=dt.date(2026, 11, 23),
        sender=heading_for(kz_body),
        addressee=heading_for(ru_body),
        title="О предоставлении сведений о владельце сервера",
        sections=[Section.of(key, SECTION_TEXT[key]) for key in REQUIRED_SECTIONS[DocumentKind.REQUEST]],
        legal_basis="Протокол о взаимодействии государств — членов ОДКБ в информационной сфере",
        signatory_name=head.full_name,
        signatory_position="Руководитель",
    )


@pytest.mark.rule("P6.5")
def test_a_party_authority_is_published_with_its_profile_in_the_directory(kz_body, sign_kz_ca):
    [row] = [p for p in directory.snapshot()["parties"] if p["code"] == kz_body.party.code]
    assert row["profile"]["signing_authorities"] == [sign_kz_ca.certificate_pem]
    assert pki.trusted_certificates(kz_body.party) == [sign_kz_ca.certificate_pem]


def test_an_authority_known_only_from_the_directory_is_trusted_too(ru_body):
    foreign = make_ca("ФСБ России УЦ", country="RU").pem
    assert registry_services.add_signing_authority(party=ru_body.party, certificate_pem=foreign)
    assert not registry_services.add_signing_authority(party=ru_body.party, certificate_pem=foreign)  # once
    assert pki.trusted_certificates(ru_body.party) == [foreign]


@pytest.mark.rule("P6.5")
@pytest.mark.rule("P6.3")
def test_a_signed_request_verifies_for_its_body_and_the_check_is_kept(
    clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator
):
    code = sign_authenticator(kz_head).code()
    assert services.signing_enabled_for(kz_head, kz_body)
    signed = services.sign_document(data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=code)
    assert signed.sha256 == hashlib.sha256(signed.pdf).hexdigest()
    assert signed.filename.endswith("KZ-MIA-2026-00001.pdf")
    assert "KZ-MIA-2026-00001" in pdf_text(signed.pdf)

    verification = services.verify_received(pdf=signed.pdf, sending_body=kz_body)
    assert verification.valid, verification.reasons
    assert (verification.signer_name, verification.signer_position, verification.body_code) == (
        kz_head.full_name,
        "head",
        kz_body.code,
    )
    # The same document said to come from another body of the same Party is not its body's.
    other = type(kz_body).objects.create(party=kz_body.party, code="KZ-GP", name_ru="Генеральная прокуратура")
    assert not services.verify_received(pdf=signed.pdf, sending_body=other).valid


def test_a_wrong_code_signs_nothing(clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator):
    right = sign_authenticator(kz_head).code()
    with pytest.raises(InvalidInput):
        services.sign_document(
            data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=wrong_code(right)
        )


def test_a_tampered_document_is_recorded_invalid_with_its_reason(
    clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator
):
    from cybercoop.exchange.models import Attachment

    code = sign_authenticator(kz_head).code()
    signed = services.sign_document(data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=code)
    tampered = signed.pdf.replace(b"KZ-MIA-2026-00001", b"KZ-MIA-2026-00009", 1)
    assert tampered != signed.pdf
    attachment = Attachment.objects.create(
        name=signed.filename,
        media_type="application/pdf",
        size_bytes=len(tampered),
        sha256="0" * 64,
        uploaded_at=clock.now(),
    )
    check = services.record_check(
        attachment=attachment, verification=services.verify_received(pdf=tampered, sending_body=kz_body)
    )
    assert not check.valid
    assert check.reasons
    assert services.checks_for([attachment.id])[attachment.id] == check


@pytest.mark.rule("P6.3")
def test_a_signed_document_is_archived_with_its_kind_name_number_body_and_signer(
    clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator, settings, tmp_path
):
    from cybercoop.audit import archive
    from cybercoop.audit.models import AuditEntry

    settings.MEDIA_ROOT = tmp_path
    code = sign_authenticator(kz_head).code()
    signed = services.sign_document(data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=code)
    record = archive.find(sha256=hashlib.sha256(signed.pdf).hexdigest())
    assert record is not None
    assert record.sha256 == signed.sha256
    assert (record.kind, record.name, record.reference, record.body_code, record.archived_by) == (
        "request",
        signed.filename,
        "KZ-MIA-2026-00001",
        kz_body.code,
        kz_head,
    )
    assert archive.read(record) == signed.pdf  # the signed bytes, not the unsigned rendering
    assert services.verify_received(pdf=archive.read(record), sending_body=kz_body).valid
    entry = AuditEntry.objects.get(action="audit:document:archived")
    assert entry.data["sha256"] == signed.sha256
    assert "KZ-MIA-2026-00001" not in str(entry.data)


def test_a_signature_in_an_act_that_rolls_back_leaves_no_archived_document(
    clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator, settings, tmp_path
):
    from django.db import transaction

    from cybercoop.audit.models import ArchivedDocument

    settings.MEDIA_ROOT = tmp_path
    code = sign_authenticator(kz_head).code()

    class SendingFailed(Exception):
        pass

    def sign_then_fail() -> None:
        with transaction.atomic():
            services.sign_document(data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=code)
            raise SendingFailed

    with pytest.raises(SendingFailed):
        sign_then_fail()
    assert not ArchivedDocument.objects.exists()


def test_a_wrong_code_archives_nothing(
    clock, kz_body, ru_body, kz_head, sign_kz_head_credential, sign_authenticator, settings, tmp_path
):
    from cybercoop.audit.models import ArchivedDocument

    settings.MEDIA_ROOT = tmp_path
    right = sign_authenticator(kz_head).code()
    with pytest.raises(InvalidInput):
        services.sign_document(
            data=_request(kz_body, ru_body, kz_head), actor=kz_head, body=kz_body, code=wrong_code(right)
        )
    assert not ArchivedDocument.objects.exists()
    assert not (tmp_path / "archive").exists()


def test_an_unsigned_letter_is_archived_once_by_its_content(clock, kz_body, ru_body, kz_officer, settings, tmp_path):
    from cybercoop.audit import archive
    from cybercoop.documents.render import render

    settings.MEDIA_ROOT = tmp_path
    data = _request(kz_body, ru_body, kz_officer)
    pdf = render(data).pdf
    record = services.archive_document(pdf=pdf, data=data, body=kz_body, actor=kz_officer, target=kz_officer)
    again = services.archive_document(pdf=render(data).pdf, data=data, body=kz_body, actor=kz_officer)
    assert again.pk == record.pk  # the same data renders the same bytes
    assert (record.kind, record.name, record.reference, record.body_code) == (
        "request",
        services.filename(data),
        data.number,
        kz_body.code,
    )
    assert (record.object_type, record.object_id) == ("accounts.user", str(kz_officer.pk))
    assert archive.read(record) == pdf
