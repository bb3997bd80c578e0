"""The requested body's replies as signed Russian letters (P7.6, P7.8, P9.2, P13): a refusal (in full or in part),
a postponement, conditions and the results go with a letter signed by the head or a deputy who holds a
certificate of their Party's CA, with a fresh TOTP code; the letter is checked where it arrives, poppler's pdfsig
agrees, and conditions whose letter failed are not answered."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop.assistance import services
from cybercoop.assistance.rules import Kind
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.documents import pki, render
from cybercoop.documents import services as documents
from cybercoop.exchange.models import Message
from tests.assistance.test_api import Caller
from tests.assistance.test_signed_requests import awaiting_approval, content, flip_a_signed_byte, state_of_the_world
from tests.documents.signers import *  # noqa: F403 - fixtures: the node's documents key per test
from tests.documents.signers import Authenticator, pdfsig, wrong_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def ru_ca(ru_body):
    return pki.create_party_ca(ru_body.party)


@pytest.fixture
def ru_signer(ru_head, ru_ca):
    """The Russian head with a certificate of the Russian CA and an authenticator app."""
    pki.issue_signer(ru_head)
    return Authenticator(ru_head)


@pytest.fixture
def in_execution(protocol, kz_officer, kz_head, ru_body, ru_officer):
    """A request from the Kazakh body, registered by the Russian body (its execution term running)."""
    case = services.approve_and_send(actor=kz_head, case=awaiting_approval(kz_officer, ru_body, protocol))
    return services.register_receipt(actor=ru_officer, case=case)


def last_message(case, kind):
    return Message.objects.filter(conversation=case.id, kind=kind).order_by("-position").first()


def letter_of(message):
    """The signed letter a message names, its bytes, and its text as pdftotext reads it (on one line)."""
    first = message.attachments.order_by("position").first()
    assert message.body["document"]["sha256"] == first.sha256
    pdf = content(first)
    return first, pdf, " ".join(render.pdf_text(pdf).split())


@pytest.mark.rule("P9.2")
@pytest.mark.rule("P6.5")
def test_a_partial_refusal_goes_as_a_letter_signed_by_the_head(
    in_execution, ru_head, ru_body, kz_body, ru_ca, ru_signer, tmp_path
):
    case = services.refuse(
        actor=ru_head,
        case=in_execution,
        reasons="Исполнение противоречит законодательству запрашиваемой Стороны.",
        partial=True,
        refused_part="Допрос свидетеля Қасымова",
        code=ru_signer.code(),
    )

    message = last_message(case, Kind.REFUSAL)
    attachment, pdf, text = letter_of(message)
    assert message.body["document"]["kind"] == render.DocumentKind.PARTIAL_REFUSAL
    assert attachment.name.startswith("Уведомление о частичном отказе")
    assert "Допрос свидетеля Қасымова" in text  # Kazakh letters in a Russian letter
    assert "противоречит законодательству" in text
    assert f"{case.outgoing_number} от" in text  # the request it answers
    assert f"{case.incoming_number}/1" in text  # the letter's own number
    assert ru_head.full_name in text
    assert kz_body.name_ru in text
    assert ru_body.name_ru in text

    report = pdfsig(pdf, trusting=[ru_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert report.valid, report.text
    assert f"Common Name: {ru_head.full_name}" in report.text
    check = documents.checks_for([attachment.id])[attachment.id]
    assert (check.valid, check.signer_name, check.body_code) == (True, ru_head.full_name, ru_body.code)


@pytest.mark.rule("P7.6")
def test_a_postponement_and_conditions_go_as_signed_letters_numbered_in_turn(in_execution, ru_head, ru_signer):
    until = clock.now().date() + dt.timedelta(days=40)
    case = services.postpone(
        actor=ru_head, case=in_execution, reason="Идёт следствие по делу.", until=until, code=ru_signer.code()
    )
    _attachment, _pdf, text = letter_of(last_message(case, Kind.POSTPONEMENT))
    assert f"{until:%d.%m.%Y}" in text
    assert "Идёт следствие по делу." in text
    assert f"{case.incoming_number}/1" in text

    case = services.propose_conditions(
        actor=ru_head,
        case=case,
        conditions=["Только для следствия", "Не передавать третьим лицам"],
        reason="Сведения конфиденциальны.",
        code=ru_signer.code(),
    )
    message = last_message(case, Kind.CONDITIONS)
    _attachment, _pdf, text = letter_of(message)
    assert "1. Только для следствия" in text
    assert "2. Не передавать третьим лицам" in text
    assert f"{case.incoming_number}/2" in text
    assert message.body["conditions"] == ["Только для следствия", "Не передавать третьим лицам"]


@pytest.mark.rule("P7.8")
def test_the_results_letter_lists_the_files_that_go_with_it(in_execution, ru_head, ru_signer):
    files = [SimpleUploadedFile("протокол осмотра.txt", b"protocol", content_type="text/plain")]
    case = services.send_results(
        actor=ru_head,
        case=in_execution,
        summary="Установлен владелец IP-адреса 203.0.113.7.",
        uploads=files,
        costs_amount="1500,00",
        costs_currency="rub",
        code=ru_signer.code(),
    )
    message = last_message(case, Kind.RESULTS)
    _attachment, _pdf, text = letter_of(message)
    assert "203.0.113.7" in text
    assert "1500.00 RUB" in text
    assert "протокол осмотра.txt" in text
    assert [a.name for a in message.attachments.order_by("position")][1] == "протокол осмотра.txt"
    assert case.state == "executed"


def test_an_officer_sends_the_results_unsigned_as_before(in_execution, ru_officer, ru_signer):
    case = services.send_results(actor=ru_officer, case=in_execution, summary="Сведения получены.")
    message = last_message(case, Kind.RESULTS)
    assert "document" not in message.body
    assert not message.attachments.exists()


@pytest.mark.rule("P9.2")
def test_a_wrong_or_missing_code_refuses_the_refusal_and_changes_nothing(in_execution, ru_head, ru_signer):
    before = state_of_the_world(in_execution)
    for code in (wrong_code(ru_signer.code()), None):
        with pytest.raises(InvalidInput) as error:
            services.refuse(actor=ru_head, case=in_execution, reasons="Противоречит закону.", partial=False, code=code)
        assert list(error.value.errors) == ["code"]
        assert state_of_the_world(in_execution) == before


@pytest.mark.rule("P9.2")
@override_settings(SIGNING_REQUIRED=True)
def test_where_signatures_are_required_a_head_without_a_certificate_cannot_refuse(in_execution, ru_head, ru_ca):
    authenticator = Authenticator(ru_head)
    before = state_of_the_world(in_execution)
    with pytest.raises(InvalidInput) as error:
        services.refuse(
            actor=ru_head, case=in_execution, reasons="Противоречит закону.", partial=False, code=authenticator.code()
        )
    assert list(error.value.errors) == ["code"]
    assert state_of_the_world(in_execution) == before


@pytest.mark.rule("P7.7")
def test_conditions_whose_letter_failed_verification_are_not_answered(
    in_execution, ru_head, ru_body, kz_officer, ru_signer
):
    case = services.propose_conditions(
        actor=ru_head,
        case=in_execution,
        conditions=["Только для следствия"],
        reason="Тайна следствия.",
        code=ru_signer.code(),
    )
    attachment, pdf, _text = letter_of(last_message(case, Kind.CONDITIONS))
    # What the receiving node records when the letter it got had been changed on its way.
    failed = documents.verify_received(pdf=flip_a_signed_byte(pdf), sending_body=ru_body)
    assert not failed.valid
    documents.record_check(attachment=attachment, verification=failed)

    with pytest.raises(RuleViolation) as error:
        services.reply_to_conditions(actor=kz_officer, case=case, accepted=True)
    assert error.value.rule_id == "P7.7"
    case.refresh_from_db()
    assert case.state == "awaiting_conditions_reply"


def test_the_refusal_form_asks_a_signer_for_the_code(in_execution, ru_head, ru_deputy, ru_signer, client):
    client.force_login(ru_head)
    page = client.get(f"/cases/{in_execution.pk}/").content.decode()
    assert 'id="refuse-code"' in page
    assert 'id="results-code"' in page
    client.force_login(ru_deputy)  # no certificate, signatures not required here
    assert 'id="refuse-code"' not in client.get(f"/cases/{in_execution.pk}/").content.decode()


@pytest.mark.rule("P9.2")
def test_the_screen_refuses_with_the_code_and_shows_the_letter(in_execution, ru_head, ru_signer, client):
    client.force_login(ru_head)
    r = client.post(
        f"/cases/{in_execution.pk}/refuse/",
        {"partial": "no", "reasons": "Противоречит закону.", "code": wrong_code(ru_signer.code())},
    )
    assert r.status_code == 422
    assert last_message(in_execution, Kind.REFUSAL) is None

    # A wrong code is throttled (django-otp): the next one is taken once its delay has passed.
    TOTPDevice.objects.filter(user=ru_head).update(throttling_failure_timestamp=None)
    r = client.post(
        f"/cases/{in_execution.pk}/refuse/",
        {"partial": "no", "reasons": "Противоречит закону.", "code": ru_signer.code()},
    )
    assert r.status_code == 302, r.content
    attachment, _pdf, text = letter_of(last_message(in_execution, Kind.REFUSAL))
    assert "Уведомление об отказе" in text
    page = client.get(f"/cases/{in_execution.pk}/").content.decode()
    assert f"/cases/{in_execution.pk}/attachments/{attachment.pk}/" in page
    assert 'data-testid="signature" data-valid="true"' in page


@pytest.mark.rule("P7.8")
def test_the_api_sends_signed_results_and_shows_the_check(in_execution, ru_head, ru_signer, client):
    head = Caller(client, ru_head)
    r = head.upload(f"/{in_execution.id}/results", fields={"summary": "Сведения получены.", "code": ru_signer.code()})
    assert r.status_code == 200, r.content
    messages = head.get(f"/{in_execution.id}/messages").json()
    (letter,) = next(m for m in messages if m["kind"].endswith("results"))["attachments"]
    assert letter["signature"]["valid"] is True
    assert letter["signature"]["body_code"] == "RU-MIA"
    download = client.get(letter["url"], **head.headers)
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == letter["sha256"]
