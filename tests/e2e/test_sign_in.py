"""A person at a browser: sign in (with the code of an authenticator for heads and deputies, enrolled at the first
sign-in), see who they are, switch language, find it kept; with the keyboard."""

from __future__ import annotations

import base64
import http.cookiejar
import re
import time
import urllib.parse
import urllib.request

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from cybercoop.demo import data, signers
from tests.nodes import DEMO_PASSWORD

pytestmark = pytest.mark.browser

CODE_STEP = "/accounts/sign-in/code/"
ENROL_STEP = "/accounts/sign-in/enrol/"
STEP_SECONDS = 30  # django-otp's TOTP defaults, as the enrolment page creates the device


class Authenticator:
    """A user's authenticator app: its key, and codes of time steps not yet used."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.last_step = -1

    def _next_step(self) -> int:
        # django-otp accepts a time step either side of its own, and each step once.
        return max(int(time.time()) // STEP_SECONDS, self.last_step + 1)

    def _code_at(self, step: int) -> str:
        totp = TOTP(self.key, step=STEP_SECONDS, t0=0, digits=6)
        totp.time = step * STEP_SECONDS + 1
        return f"{totp.token():06d}"

    def code(self) -> str:
        """The code of the current time step, or of a later one if that is spent (waiting until the node accepts
        it, one step ahead at most); spends it."""
        while self._next_step() > int(time.time()) // STEP_SECONDS + 1:
            time.sleep(0.5)
        self.last_step = self._next_step()
        return self._code_at(self.last_step)

    def wrong_code(self) -> str:
        """A code the device does not accept now (spends nothing)."""
        right = self._code_at(self._next_step())
        return f"{(int(right) + 1) % 1_000_000:06d}"


# The authenticators enrolled by these tests, by node URL and user name.
AUTHENTICATORS: dict[tuple[str, str], Authenticator] = {}


def authenticator(base: str, username: str) -> Authenticator:
    """The authenticator of `username` on the node at `base`: the one enrolled at their first sign-in here, else the
    demo's device with a fixed secret (`seed_demo --signers`, `cybercoop demo totp USER`)."""
    return AUTHENTICATORS.setdefault((base, username), Authenticator(signers.totp_key(username)))


def _second_step(page: Page, base: str, username: str) -> None:
    """The sign-in's second step, if the node asks for one: enrol an authenticator (the first sign-in of a head or a
    deputy), or give its code. By test ids and field names: the step speaks the user's language."""
    page.wait_for_load_state()
    if ENROL_STEP in page.url:
        page.get_by_test_id("second-factor-start").click()
        secret = page.get_by_test_id("second-factor-secret").inner_text().strip()
        app = AUTHENTICATORS[(base, username)] = Authenticator(base64.b32decode(secret))
        page.locator("input[name=code]").fill(app.code())
        page.get_by_test_id("second-factor-confirm").click()
    elif CODE_STEP in page.url:
        page.locator("input[name=code]").fill(authenticator(base, username).code())
        page.get_by_test_id("second-factor-submit").click()
    page.wait_for_load_state()


def _sign_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/accounts/sign-in/")
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    _second_step(page, base, username)


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


def test_sign_in_works_with_the_keyboard_alone(page: Page, node, browser):
    # A first sign-in elsewhere enrols the deputy's authenticator; this one gives its code.
    context = browser.new_context(locale="en-US")
    _sign_in(context.new_page(), node.url, "kz.deputy")
    context.close()
    page.goto(node.url + "/accounts/sign-in/")
    expect(page.get_by_label("Имя пользователя")).to_be_focused()  # the form is ready to type into
    page.keyboard.type("kz.deputy")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Пароль")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(CODE_STEP))
    expect(page.get_by_label("Код из приложения")).to_be_focused()  # so is the second step
    page.keyboard.type(authenticator(node.url, "kz.deputy").code())
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
    # The page fetches the schema, which the server builds on first use: slow on a loaded machine (CI once took
    # more than Playwright's default 5 s), so the title is waited for longer.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CyberCoop API", timeout=60_000)
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
    for username, _body, role, *_rest in data.USERS:
        status, final_url = _http_sign_in(node.url, username)
        if role in signers.SIGNER_ROLES:
            # Heads and deputies go on to their authenticator: its code, or its enrolment at the first sign-in.
            assert status == 200, username
            assert final_url in (node.url + CODE_STEP, node.url + ENROL_STEP), username
        else:
            assert (status, final_url) == (200, node.url + "/"), username


@pytest.mark.rule("P6.5")
def test_a_head_enrols_an_authenticator_at_the_first_sign_in_and_gives_its_code_at_the_next(page: Page, node, browser):
    page.goto(node.url + "/accounts/sign-in/")
    page.get_by_label("Имя пользователя").fill("am.head")
    page.get_by_label("Пароль").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(ENROL_STEP))
    page.goto(node.url + "/cases/incoming/")  # nothing else opens before the enrolment
    expect(page).to_have_url(re.compile(ENROL_STEP))
    expect(page.get_by_test_id("second-factor-status")).to_have_text("Аутентификатор не подключён.")
    _second_step(page, node.url, "am.head")
    expect(page.get_by_test_id("role")).to_have_text("Руководитель органа")

    other = browser.new_context(locale="en-US").new_page()
    other.goto(node.url + "/accounts/sign-in/")
    other.get_by_label("Имя пользователя").fill("am.head")
    other.get_by_label("Пароль").fill(DEMO_PASSWORD)
    other.get_by_role("button", name="Войти").click()
    expect(other).to_have_url(re.compile(CODE_STEP))
    app = authenticator(node.url, "am.head")
    other.get_by_label("Код из приложения").fill(app.wrong_code())
    other.get_by_test_id("second-factor-submit").click()
    expect(other.get_by_role("alert")).to_contain_text("Неверный код.")
    expect(other).to_have_url(re.compile(CODE_STEP))
    time.sleep(1.5)  # django-otp's back-off after one wrong code: one second
    other.get_by_label("Код из приложения").fill(app.code())
    other.get_by_test_id("second-factor-submit").click()
    expect(other.get_by_test_id("role")).to_have_text("Руководитель органа")
    other.context.close()


def test_audit_verify_on_the_node_after_all_this(node):
    result = node.run("audit", "verify", "--language", "en")
    assert result.returncode == 0
    assert "Audit chain intact" in result.stdout
