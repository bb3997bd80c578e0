"""A person at a browser: sign in, see who they are, switch language, find it kept; with the keyboard."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from cybercoop.demo import data
from tests.nodes import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _sign_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/accounts/sign-in/")
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()


@pytest.mark.rule("P13")
def test_the_sign_in_page_opens_in_russian_for_an_english_browser(page: Page, node):
    page.goto(node.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name="Вход в CyberCoop")).to_be_visible()


def test_an_officer_signs_in_and_sees_body_party_and_role(page: Page, node):
    _sign_in(page, node.url, "kz.officer")
    expect(page.get_by_test_id("body")).to_have_text("Министерство внутренних дел Республики Казахстан")
    expect(page.get_by_test_id("party")).to_have_text("Республика Казахстан")
    expect(page.get_by_test_id("role")).to_have_text("Сотрудник")
    expect(page.get_by_test_id("who")).to_contain_text("Ахметов Ерлан Серикович")


def test_the_language_switch_is_kept_for_the_next_session(page: Page, node, browser):
    _sign_in(page, node.url, "ru.head")
    page.get_by_label("Язык").select_option("kk")
    page.get_by_role("button", name="Изменить").click()
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.get_by_test_id("role")).to_have_text("Орган басшысы")
    page.get_by_role("button", name="Шығу").click()
    # A fresh browser, no cookies: Russian until signing in, then the user's Kazakh.
    context = browser.new_context(locale="en-US")
    other = context.new_page()
    _sign_in(other, node.url, "ru.head")
    expect(other.locator("html")).to_have_attribute("lang", "kk")
    page.goto(node.url + "/")
    context.close()


def test_english_works_too(page: Page, node):
    _sign_in(page, node.url, "kz.auditor")
    page.get_by_label("Язык").select_option("en")
    page.get_by_role("button", name="Изменить").click()
    expect(page.get_by_test_id("role")).to_have_text("Auditor")
    page.get_by_role("link", name="Audit log").first.click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    expect(page.get_by_test_id("audit-table")).to_contain_text("kz.auditor")


def test_sign_in_works_with_the_keyboard_alone(page: Page, node):
    page.goto(node.url + "/accounts/sign-in/")
    expect(page.get_by_label("Имя пользователя")).to_be_focused()  # the form is ready to type into
    page.keyboard.type("kz.deputy")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Пароль")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("role")).to_have_text("Заместитель руководителя")
    # On every page the first Tab offers to skip the header and go straight to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Перейти к основному содержанию")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_wrong_password_shows_a_clear_message_and_the_field_keeps_focusable_errors(page: Page, node):
    _sign_in(page, node.url, "by.officer", "definitely wrong")
    expect(page.get_by_role("alert")).to_contain_text("Неверное имя пользователя или пароль")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/"))


def test_the_api_docs_render_under_the_content_security_policy(page: Page, node):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(node.url + "/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CyberCoop API")
    assert not [e for e in errors if "Content Security Policy" in e]


def test_the_layout_fits_a_phone_screen(page: Page, node):
    page.set_viewport_size({"width": 375, "height": 740})
    _sign_in(page, node.url, "tj.officer")
    expect(page.get_by_test_id("body")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False


def _http_sign_in(base: str, username: str) -> tuple[int, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/accounts/sign-in/")
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({"username": username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": csrf})
    request = urllib.request.Request(base + "/accounts/sign-in/", data=body.encode(), headers={"Referer": base + "/"})
    with opener.open(request) as answer:
        return answer.status, answer.geturl()


def test_every_seeded_user_can_sign_in(node):
    for username, *_rest in data.USERS:
        status, final_url = _http_sign_in(node.url, username)
        assert (status, final_url) == (200, node.url + "/"), username


def test_audit_verify_on_the_node_after_all_this(node):
    result = node.run("audit", "verify", "--language", "en")
    assert result.returncode == 0
    assert "Audit chain intact" in result.stdout
