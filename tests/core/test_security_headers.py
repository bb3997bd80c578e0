"""The security headers on every page (issue 7): every URL pattern of the URL conf answers, whatever its status, with
the Content-Security-Policy, X-Content-Type-Options, Referrer-Policy, X-Frame-Options, Cross-Origin-Opener-Policy
and Permissions-Policy headers; and, with the production settings (HTTPS), HSTS and secure cookies, and a clean
`manage.py check --deploy`."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

import cybercoop
from cybercoop.settings import env_choice
from tests.accounts.factories import PASSWORD
from tests.accounts.second_factor import Authenticator

REPOSITORY = Path(__file__).resolve().parents[2]
# Swagger UI (the API's interactive docs) sets inline styles: `cybercoop.api` relaxes style-src for it alone
# (django-ninja decorates the schema it loads with the same decorator).
INLINE_STYLES_ALLOWED = {"/api/v1/docs", "/api/v1/openapi.json"}

_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_DUMMY = {"int": "1", "uuid": "00000000-0000-4000-8000-000000000001", "slug": "x", "str": "x", "path": "x"}


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def every_url() -> list[str]:
    """Each URL pattern of the URL conf, its parameters filled with dummy values (`1`, a UUID, `x`)."""
    urls = {
        "/" + _CONVERTER.sub(lambda m: _DUMMY.get(m.group("converter") or "str", "x"), route)
        for route in _routes(get_resolver().url_patterns)
    }
    return sorted(urls)


def assert_security_headers(response, url: str) -> None:
    where = f"{url} ({response.status_code})"
    policy = response.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives.get("default-src") == ["'self'"], where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert "'unsafe-inline'" not in directives.get("script-src", ["'self'"]), where
    if url not in INLINE_STYLES_ALLOWED:
        assert "'unsafe-inline'" not in policy, where
    assert response.get("X-Content-Type-Options") == "nosniff", where
    assert response.get("Referrer-Policy") == "same-origin", where
    assert response.get("X-Frame-Options") == "DENY", where
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", where
    permissions = response.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions, where
    assert "Strict-Transport-Security" not in response, where  # over plain HTTP, never


def test_the_url_conf_is_enumerated_whole():
    urls = every_url()
    assert len(urls) > 80
    for expected in ("/", "/accounts/sign-in/code/", "/cases/00000000-0000-4000-8000-000000000001/", "/public/"):
        assert expected in urls


def _visit_all(client: Client) -> dict[str, int]:
    statuses = {}
    for url in every_url():
        response = client.get(url)
        assert_security_headers(response, url)
        statuses[url] = response.status_code
    return statuses


def test_every_page_carries_the_security_headers_for_a_visitor(db):
    statuses = _visit_all(Client())
    assert statuses["/accounts/sign-in/"] == 200
    assert statuses["/"] == 302  # redirects carry them too
    assert statuses["/api/v1/me"] == 401


def test_every_page_carries_the_security_headers_for_a_signed_in_user(kz_officer):
    client = Client()
    client.force_login(kz_officer)
    statuses = _visit_all(client)
    assert statuses["/"] == 200
    assert statuses["/cases/00000000-0000-4000-8000-000000000001/"] == 404


def test_every_page_carries_the_security_headers_during_the_second_step(kz_head):
    Authenticator(kz_head)
    client = Client()
    client.post("/accounts/sign-in/", {"username": "kz.head", "password": PASSWORD})
    statuses = _visit_all(client)
    assert statuses["/accounts/sign-in/code/"] == 200


def test_refusals_made_before_any_view_carry_them_too(kz_officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(kz_officer)
    refused = client.post("/accounts/language/", {"language": "kk"})  # no CSRF token
    assert refused.status_code == 403
    assert_security_headers(refused, "/accounts/language/")
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404
    assert_security_headers(missing, "/no/such/page/")


# --- the production settings: HTTPS -------------------------------------------------------------------------------


def production_environment(tmp_path: Path) -> dict[str, str]:
    """What a production node runs with (README, "Configuration"): HTTPS on, a secret key, its host names; an own
    data folder and SQLite database; the code under test."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CYBERCOOP_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    source = Path(cybercoop.__file__).resolve().parents[1]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(source), str(REPOSITORY)]),
            "CYBERCOOP_DATA_DIR": str(tmp_path),
            "CYBERCOOP_HTTPS": "true",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "cybercoop.mvd.example,testserver",
        }
    )
    return env


def test_manage_check_deploy_is_clean_with_the_production_settings(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cybercoop", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_environment(tmp_path),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


# Run in a node process with the production settings: a real sign-in over HTTPS, and a request over plain HTTP.
_PROBE = """
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from tests.accounts.factories import PASSWORD, UserFactory
from tests.registry.factories import BodyFactory
UserFactory(username="kz.officer", body=BodyFactory(kazakh=True), role="officer")
client = Client()
page = client.get("/accounts/sign-in/", secure=True)
signed_in = client.post("/accounts/sign-in/", {"username": "kz.officer", "password": PASSWORD}, secure=True)
plain = Client().get("/accounts/sign-in/?next=/registry/")
cookies = {
    name: {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]), "samesite": morsel["samesite"]}
    for name, morsel in {**page.cookies, **signed_in.cookies}.items()
}
print(json.dumps({
    "status": [page.status_code, signed_in.status_code, plain.status_code],
    "hsts": page.get("Strict-Transport-Security"),
    "hsts_on_redirect": signed_in.get("Strict-Transport-Security"),
    "plain_location": plain.get("Location"),
    "cookies": cookies,
}))
"""


def test_with_https_every_answer_has_hsts_and_the_cookies_are_secure(tmp_path):
    env = production_environment(tmp_path)
    # No collectstatic here: the pages are rendered with plain static storage (the manifest is a deploy step).
    env["CYBERCOOP_STATIC_STORAGE"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    env["DJANGO_SETTINGS_MODULE"] = "cybercoop.settings"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["status"] == [200, 302, 301]
    assert probe["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert probe["hsts_on_redirect"] == probe["hsts"]
    assert probe["plain_location"] == "https://testserver/accounts/sign-in/?next=/registry/"
    cookies = probe["cookies"]
    assert {"csrftoken", "sessionid", "cybercoop_language"} <= set(cookies)
    for name, flags in cookies.items():
        assert flags["secure"], name
        assert flags["httponly"], name
        assert flags["samesite"] == "Lax", name


@pytest.mark.parametrize(("given", "expected"), [(None, "signers"), ("", "signers"), ("all", "all"), (" ALL ", "all")])
def test_the_second_factor_setting_takes_its_two_words(monkeypatch, given, expected):
    if given is None:
        monkeypatch.delenv("CYBERCOOP_SECOND_FACTOR", raising=False)
    else:
        monkeypatch.setenv("CYBERCOOP_SECOND_FACTOR", given)
    assert env_choice("CYBERCOOP_SECOND_FACTOR", "signers", ("signers", "all")) == expected


def test_an_unknown_second_factor_setting_stops_the_node(monkeypatch):
    monkeypatch.setenv("CYBERCOOP_SECOND_FACTOR", "nobody")
    with pytest.raises(ImproperlyConfigured, match="must be one of signers, all, not 'nobody'"):
        env_choice("CYBERCOOP_SECOND_FACTOR", "signers", ("signers", "all"))
