"""Requests for assistance at the browser: one request from draft to results across both bodies, another
to a partial refusal (P6.5, P7.2, P7.5, P7.8, P9.1, P9.2)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_sign_in import _sign_in

pytestmark = pytest.mark.browser

RU_MIA = "Министерство внутренних дел Российской Федерации — Российская Федерация"


def _as(browser: Browser, node, username: str) -> Page:
    """A fresh browser context signed in as `username`."""
    page = browser.new_context(locale="ru-RU").new_page()
    _sign_in(page, node.url, username)
    return page


def _act(page: Page, slug: str, fill: dict[str, str] | None = None, choose: str | None = None) -> None:
    """Open an action's panel on the case page, fill its fields and submit it."""
    panel = page.get_by_test_id(f"action-{slug}")
    panel.locator("summary").click()
    for field, value in (fill or {}).items():
        panel.locator(f"[name={field}]").fill(value)
    if choose:
        panel.locator(choose).check()
    panel.locator("button[type=submit]").click()


def _draft(page: Page, node, subject: str) -> str:
    page.goto(node.url + "/cases/new/")
    page.locator("#id_requested_body").select_option(label=RU_MIA)
    page.locator("#id_subject").fill(subject)
    page.locator("input[name=scope][value=it_crime]").check()
    page.locator("#id_purpose").fill("Установление лиц, причастных к преступлению, и обеспечение доказательств.")
    page.locator("#id_grounds").fill("Уголовное дело № 261500031000999, возбуждено 10.11.2026.")
    page.locator("#id_substance").fill("Хищение средств граждан через поддельный интернет-магазин shop-kz.example.")
    page.locator("input[name=assistance_kinds][value=operational_search]").check()
    page.locator("#id_assistance_sought").fill(
        "Установить владельца домена shop-kz.example и истребовать журналы подключений за ноябрь 2026 г."
    )
    page.locator("#id_identifiers").fill("домен shop-kz.example; IP 198.51.100.23")
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("case-state")).to_have_attribute("data-state", "draft")
    return page.url


def _state(page: Page, state: str) -> None:
    expect(page.get_by_test_id("case-state")).to_have_attribute("data-state", state)


@pytest.mark.rule("P6.5", "P7.2", "P7.5", "P7.8")
def test_a_request_from_draft_to_results_across_both_bodies(node, browser: Browser):
    officer = _as(browser, node, "kz.officer")
    url = _draft(officer, node, "Поддельный интернет-магазин shop-kz.example")
    expect(officer.get_by_test_id("action-approve")).to_have_count(0)  # P6.5: not the officer's to approve
    _act(officer, "submit")
    _state(officer, "awaiting_approval")

    head = _as(browser, node, "kz.head")
    head.goto(url)
    expect(head.get_by_test_id("preflight")).to_be_visible()
    _act(head, "approve")
    _state(head, "sent")
    number = head.get_by_test_id("outgoing-number").inner_text()

    russia = _as(browser, node, "ru.officer")
    russia.goto(node.url + "/cases/incoming/")
    row = russia.get_by_test_id("case-row").filter(has_text=number)
    expect(row).to_have_count(1)
    row.get_by_role("link").first.click()
    expect(russia).to_have_url(url)
    _act(russia, "receipt")
    _state(russia, "in_execution")
    execution = russia.locator('[data-testid=clock][data-kind="execution"]')
    expect(execution).to_have_attribute("data-rule", "P7.2")
    expect(execution.get_by_test_id("clock-explanation")).to_contain_text("30 дней")
    _act(russia, "info-request", {"questions": "Сообщите даты и суммы платежей потерпевших."})
    _state(russia, "awaiting_information")

    officer.goto(url)
    _act(officer, "info-reply", {"answer": "Сведения о платежах прилагаются к ответу."})
    _state(officer, "in_execution")

    russia.goto(url)
    _act(russia, "results", {"summary": "Владелец домена установлен; журналы подключений прилагаются."})
    _state(russia, "executed")
    expect(russia.get_by_test_id("no-actions")).to_be_visible()

    officer.goto(url)
    _state(officer, "executed")
    kinds = officer.get_by_test_id("message").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert kinds == [
        "assistance.request",
        "assistance.receipt",
        "assistance.info_request",
        "assistance.info_reply",
        "assistance.results",
    ]
    expect(officer.locator('[data-testid=clock][data-kind="execution"]')).to_have_attribute("data-status", "met")


@pytest.mark.rule("P9.1", "P9.2")
def test_a_request_partly_refused_by_the_head_then_executed(node, browser: Browser):
    officer = _as(browser, node, "kz.officer")
    url = _draft(officer, node, "Доступ к переписке в мессенджере")
    head = _as(browser, node, "kz.head")
    head.goto(url)
    _act(head, "approve")

    russia = _as(browser, node, "ru.officer")
    russia.goto(url)
    _act(russia, "receipt")
    expect(russia.get_by_test_id("action-refuse")).to_have_count(0)  # P9.2: the head's or a deputy's act

    ru_head = _as(browser, node, "ru.head")
    ru_head.goto(url)
    _act(
        ru_head,
        "refuse",
        {"reasons": "Содержание переписки выдаётся только по решению суда.", "refused_part": "Содержание переписки"},
        choose="input[name=partial][value=yes]",
    )
    _state(ru_head, "in_execution")
    expect(ru_head.get_by_test_id("partly-refused")).to_be_visible()
    _act(ru_head, "results", {"summary": "Сведения о владельце учётной записи прилагаются."})

    officer.goto(url)
    _state(officer, "executed")
    expect(officer.get_by_test_id("partly-refused")).to_be_visible()
    refusal = officer.locator('[data-testid=message][data-kind="assistance.refusal"]')
    expect(refusal).to_contain_text("только по решению суда")
