"""The registry at a browser: the public status page, and a designation filed by the Secretariat and
acknowledged by another Party (P4.2, P4.3)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_sign_in import _sign_in

pytestmark = pytest.mark.browser


@pytest.mark.rule("R6", "P16.1", "P16.2", "P18")
def test_the_public_page_shows_the_protocols_status_per_party_without_sign_in(page: Page, node):
    page.goto(node.url + "/public/")
    table = page.get_by_test_id("public-status-csto-2014-information-sphere")
    expect(table.locator('tr[data-party="KZ"]')).to_contain_text("20.05.2016")
    expect(table.locator('tr[data-party="KG"]')).to_contain_text("01.03.2017")  # a later joiner
    expect(table.locator('tr[data-party="TJ"] .status-signed')).to_be_visible()  # signed, not notified
    expect(table.locator('tr[data-party="AM"] .status-withdrawal_pending')).to_be_visible()
    expect(page.get_by_test_id("public-bodies")).to_contain_text("Комитет национальной безопасности")


@pytest.mark.rule("P4.2", "P4.3")
def test_the_secretariat_files_a_designation_and_another_party_acknowledges_it(page: Page, node, browser):
    _sign_in(page, node.url, "csto.secretariat")
    page.goto(node.url + "/registry/designations/")
    page.get_by_label("Сторона", exact=True).select_option(label="Республика Таджикистан")
    page.get_by_label("Уведомление", exact=True).select_option("designated")
    page.get_by_label("Уполномоченный компетентный орган").select_option(
        label="Министерство внутренних дел Республики Таджикистан (TJ-MIA)"
    )
    page.get_by_label("Вступает в силу", exact=True).fill("2026-11-23")
    page.get_by_role("button", name="Подать и объявить").click()
    expect(page.get_by_role("status")).to_contain_text("объявлено всем Сторонам")
    expect(page.get_by_test_id("history")).to_contain_text("Министерство внутренних дел Республики Таджикистан")

    russia = browser.new_context(locale="ru-RU")
    registrar = russia.new_page()
    _sign_in(registrar, node.url, "ru.registrar")
    registrar.goto(node.url + "/registry/announcements/")
    row = registrar.get_by_test_id("inbox").locator("tr", has_text="Министерство внутренних дел Республики Таджикистан")
    row.get_by_role("button", name="Подтвердить").click()
    expect(
        registrar.get_by_test_id("inbox").locator("tr", has_text="Министерство внутренних дел Республики Таджикистан")
    ).to_contain_text("подтверждено")
    russia.close()

    page.goto(node.url + "/registry/announcements/")
    notice = page.locator("[data-testid^=notice-]", has_text="Министерство внутренних дел Республики Таджикистан").first
    expect(notice.locator("li", has_text="Российская Федерация")).to_contain_text("подтверждено")
    expect(notice.locator("li", has_text="Республика Казахстан")).to_contain_text("не подтверждено")
