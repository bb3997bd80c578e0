"""Signed official documents at the browser: a head enrols an authenticator, approves a request with its code, and
the signed Russian PDF downloads from the case page valid for poppler too; the requested body's officer sees the
verification on the case page (P6.3, P6.5, P13)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from playwright.sync_api import Browser, expect

from tests.documents.signers import _tool, make_ca, pdfsig
from tests.e2e.test_requests import _act, _as, _draft, _state
from tests.e2e.test_sign_in import _sign_in, authenticator

pytestmark = pytest.mark.browser

# Kyrgyzstan's people, whom no other browser test uses: its head becomes a signer on the shared node, while the
# other heads there still approve without a code.
OFFICER = "kg.officer"
HEAD = "kg.head"
HEAD_NAME = "Абдыкадыров Нурбек Темирович"
BODY_NAME = "Министерство внутренних дел Кыргызской Республики"
# The case page's verification line (P6.5), in Russian: the product's language for a user who has chosen none.
VERIFIED = f"Подпись действительна: подписал(а) {HEAD_NAME}, руководитель органа «{BODY_NAME}»"


@pytest.fixture(scope="module")
def kyrgyz_authority(node) -> str:
    """Kyrgyzstan's certificate authority on the node (its PEM) and a signing certificate of it for its head."""
    authority = node.run("documents", "ca", "KG").stdout
    node.run("documents", "issue", HEAD)
    return authority


def _pdftotext(path) -> str:
    """The PDF's text as poppler's `pdftotext` reads it."""
    command = [_tool("pdftotext"), "-enc", "UTF-8", str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.rule("P6.3", "P6.5", "P13")
def test_a_head_signs_with_a_code_and_the_pdf_downloads_signed_and_verified(
    node, browser: Browser, kyrgyz_authority: str, tmp_path
):
    officer = _as(browser, node, OFFICER)
    url = _draft(officer, node, "Фишинговые рассылки от имени банка bank-kg.example")
    _act(officer, "submit")
    _state(officer, "awaiting_approval")

    head = _as(browser, node, HEAD)  # enrols the head's authenticator at this first sign-in (issue 7)
    app = authenticator(node.url, HEAD)
    head.goto(url)
    approve = head.get_by_test_id("action-approve")
    approve.locator("summary").click()
    expect(approve.get_by_label("Код подтверждения (TOTP)")).to_be_visible()  # P6.5: a signer gives a code

    # A wrong code signs nothing and sends nothing: the form says why and the request waits.
    approve.locator("[name=code]").fill(app.wrong_code())
    approve.locator("button[type=submit]").click()
    _state(head, "awaiting_approval")
    expect(head.get_by_test_id("action-approve")).to_contain_text("Неверный код.")
    expect(head.get_by_test_id("outgoing-number")).to_have_text("—")

    time.sleep(1.5)  # django-otp's throttle after one wrong code: one second
    approve = head.get_by_test_id("action-approve")  # the page came back with the panel open on its error
    expect(approve).to_have_attribute("open", "")
    approve.locator("[name=code]").fill(app.code())
    approve.locator("button[type=submit]").click()
    _state(head, "sent")
    number = head.get_by_test_id("outgoing-number").inner_text().strip()
    assert re.fullmatch(r"KG-MIA-\d{4}-\d+", number), number

    # The case page shows the signed document, checked, with its download link.
    request = head.locator('[data-testid=message][data-kind="assistance.request"]')
    signature = request.get_by_test_id("signature")
    expect(signature).to_have_attribute("data-valid", "true")
    expect(signature).to_have_text(VERIFIED)
    link = request.locator("ul.attachments > li", has=head.get_by_test_id("signature")).get_by_test_id("attachment")
    with head.expect_download() as started:
        link.click()
    download = started.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    pdf = saved.read_bytes()
    assert pdf.startswith(b"%PDF-")

    # poppler, trusting Kyrgyzstan's authority only: a valid signature over the whole document, by the head.
    report = pdfsig(pdf, trusting=[kyrgyz_authority], folder=tmp_path / "pdfsig")
    assert report.valid, report.text
    assert f"Signer Certificate Common Name: {HEAD_NAME}" in report.text, report.text
    # Another Party's trust alone does not make it valid.
    foreign = pdfsig(pdf, trusting=[make_ca("Foreign authority").pem], folder=tmp_path / "foreign")
    assert not foreign.certificate_trusted, foreign.text

    text = " ".join(_pdftotext(saved).split())  # one line: the layout may wrap a name
    assert number in text
    assert "Запрос" in text  # P13: the document is in Russian whatever the user's language
    assert "bank-kg.example" in text
    assert HEAD_NAME in text  # the signatory, beside the signature

    # The requested body's officer, in an English-speaking browser, sees the check in the product's Russian.
    russia = browser.new_context(locale="en-US").new_page()
    _sign_in(russia, node.url, "ru.officer")
    russia.goto(node.url + "/cases/incoming/")
    row = russia.get_by_test_id("case-row").filter(has_text=number)
    expect(row).to_have_count(1)
    row.get_by_role("link").first.click()
    expect(russia).to_have_url(url)
    received = russia.locator('[data-testid=message][data-kind="assistance.request"]').get_by_test_id("signature")
    expect(received).to_have_attribute("data-valid", "true")
    expect(received).to_have_text(VERIFIED)
    # P6.5: a request whose document verified can be registered.
    _act(russia, "receipt")
    _state(russia, "in_execution")
