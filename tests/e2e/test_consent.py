"""The issue's story at the browser (P10.2, P7.7): the Russian officer who received the Kazakh body's results tries to
use their file in another of his cases and is stopped; he asks consent; the Kazakh head grants it; the file is then
used in the other case, shown there with its purposes and conditions. On the demo's seeded node."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_requests import _as, _state

pytestmark = pytest.mark.browser

SOURCE = "Хищение криптовалюты через поддельный обменный сервис"
OTHER = "Вымогательство с использованием программы-шифровальщика"


def _open(page: Page, node, listing: str, subject: str) -> str:
    page.goto(f"{node.url}/cases/{listing}/")
    page.get_by_test_id("case-row").filter(has_text=subject).get_by_role("link").first.click()
    expect(page.get_by_test_id("case-state")).to_be_visible()
    return page.url


@pytest.mark.rule("P10.2", "P7.7")
def test_the_russian_officer_is_stopped_until_the_kazakh_body_consents(node, browser: Browser):
    officer = _as(browser, node, "ru.officer")
    other_url = _open(officer, node, "outgoing", OTHER)  # another request of his own body
    other_number = officer.get_by_test_id("outgoing-number").inner_text().strip()
    source_url = _open(officer, node, "outgoing", SOURCE)
    _state(officer, "executed")
    received = officer.get_by_test_id("received-file").first
    expect(received.get_by_test_id("file-conditions")).not_to_have_text("—")  # the accepted condition goes with it

    # Using the file in the other case: refused, with the reason (P10.2), and nothing is used.
    reuse = received.get_by_test_id("action-reuse")
    reuse.locator("summary").click()
    reuse.locator("input[name=target_case]").fill(other_number)
    reuse.locator("button[type=submit]").click()
    violation = officer.get_by_test_id("rule-violation")
    expect(violation).to_have_attribute("data-rule", "P10.2")
    expect(violation).to_contain_text("не давал(о) согласия")

    # He asks consent for that use in that case.
    officer.goto(source_url)
    ask = officer.get_by_test_id("received-file").first.get_by_test_id("action-consent-request")
    ask.locator("summary").click()
    ask.locator("select[name=use]").select_option("case")
    ask.locator("input[name=target]").fill(other_number)
    ask.locator("textarea[name=purpose]").fill("Доказательства по связанному делу о вымогательстве.")
    ask.locator("button[type=submit]").click()
    expect(officer.get_by_test_id("file-consent")).to_have_attribute("data-status", "pending")

    # The Kazakh head grants it, with a condition of its own.
    head = _as(browser, node, "kz.head")
    head.goto(source_url)
    reply = head.get_by_test_id("action-consent-reply")
    reply.locator("summary").click()
    reply.locator("input[name=granted][value=yes]").check()
    reply.locator("[name=conditions]").fill("Не передавать третьим лицам")
    reply.locator("button[type=submit]").click()
    expect(head.get_by_test_id("consent")).to_have_attribute("data-status", "granted")

    # Now the file is used in the other case, with its purposes and both conditions.
    officer.goto(source_url)
    reuse = officer.get_by_test_id("received-file").first.get_by_test_id("action-reuse")
    reuse.locator("summary").click()
    reuse.locator("input[name=target_case]").fill(other_number)
    reuse.locator("button[type=submit]").click()
    officer.goto(other_url)
    used = officer.get_by_test_id("reused")
    expect(used).to_have_count(1)
    expect(used.get_by_test_id("reused-conditions")).to_contain_text("Не передавать третьим лицам")
