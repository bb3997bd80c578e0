"""The API: token authentication, JSON errors field by field in the caller's language."""

import json

import pytest

from cybercoop.accounts import services
from cybercoop.audit.models import AuditEntry


@pytest.fixture
def kz_token(kz_officer):
    _token, raw = services.issue_api_token(user=kz_officer, name="tests", scope="act")
    return raw


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_me_answers_who_the_token_belongs_to(client, kz_token):
    r = client.get("/api/v1/me", **_auth(kz_token))
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "kz.officer"
    assert body["role"] == "officer"
    assert body["role_label"] == "Сотрудник"
    assert body["body"]["code"] == "KZ-MIA"
    assert body["body"]["party"]["code"] == "KZ"
    assert body["time_zone"] == "Asia/Almaty"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nonsense", "Bearer cc_AAAAAAAA_" + "x" * 43, "Basic a2F6OnB3"],
)
def test_a_missing_or_bad_token_gets_401_in_json(client, db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    r = client.get("/api/v1/me", **extra)
    assert r.status_code == 401
    body = r.json()
    assert "Authorization: Bearer" in body["detail"]
    assert body["errors"] == []
    assert body["request_id"] == r["X-Request-ID"]
    assert AuditEntry.objects.count() == 0


def test_the_401_follows_accept_language(client, db):
    r = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="kk")
    assert r.status_code == 401
    assert r["Content-Language"] == "kk"
    assert r.json()["detail"] != client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="en").json()["detail"]


def test_changing_language_answers_in_the_new_language(client, kz_officer, kz_token):
    r = client.put("/api/v1/me/language", json.dumps({"language": "en"}), "application/json", **_auth(kz_token))
    assert r.status_code == 200
    assert r.json()["role_label"] == "Officer"
    kz_officer.refresh_from_db()
    assert kz_officer.language == "en"


def test_an_unknown_language_gets_a_field_error_in_the_callers_language(client, kz_officer, kz_token):
    r = client.put("/api/v1/me/language", json.dumps({"language": "xx"}), "application/json", **_auth(kz_token))
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["field"] == "language"
    assert "ru, kk" in body["errors"][0]["message"]
    assert body["detail"] == "Некоторые поля заполнены неверно."
    kz_officer.refresh_from_db()
    assert kz_officer.language == "ru"


def test_a_missing_field_is_named(client, kz_token):
    r = client.put("/api/v1/me/language", json.dumps({}), "application/json", **_auth(kz_token))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "language", "message": "Обязательное поле."}]


def test_malformed_json_gets_a_clear_400(client, kz_officer, kz_token):
    r = client.put("/api/v1/me/language", "{language: kk", "application/json", **_auth(kz_token))
    assert r.status_code == 400
    assert r.json()["detail"] == "Тело запроса не является корректным JSON."
    kz_officer.refresh_from_db()
    assert kz_officer.language == "ru"


def test_tokens_are_issued_listed_and_revoked_through_the_api(client, kz_officer, kz_token):
    r = client.post(
        "/api/v1/me/tokens", json.dumps({"name": "ci", "valid_days": 30}), "application/json", **_auth(kz_token)
    )
    assert r.status_code == 201
    issued = r.json()
    assert issued["token"].startswith("cc_")
    assert client.get("/api/v1/me", **_auth(issued["token"])).status_code == 200
    listed = client.get("/api/v1/me/tokens", **_auth(kz_token)).json()
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert all("token" not in t for t in listed)
    r = client.post(f"/api/v1/me/tokens/{issued['id']}/revoke", **_auth(kz_token))
    assert r.status_code == 200
    assert client.get("/api/v1/me", **_auth(issued["token"])).status_code == 401


def test_bad_token_fields_are_reported_one_by_one(client, kz_token):
    r = client.post(
        "/api/v1/me/tokens", json.dumps({"name": "", "valid_days": 0}), "application/json", **_auth(kz_token)
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"name", "valid_days"}


def test_another_users_token_is_not_found(client, kz_token, ru_officer):
    token, _raw = services.issue_api_token(user=ru_officer, name="theirs")
    r = client.post(f"/api/v1/me/tokens/{token.pk}/revoke", **_auth(kz_token))
    assert r.status_code == 404
    assert "theirs" not in r.content.decode()


def test_the_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "CyberCoop API"
    assert "/api/v1/me" in schema["paths"]
    assert "422" in schema["paths"]["/api/v1/me/language"]["put"]["responses"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.content.decode()
    assert "cdn" not in docs.content.decode().lower()


def test_the_openapi_schema_is_built_once_per_process_whatever_the_language(client, db, monkeypatch):
    import ninja.main

    from cybercoop.api import api

    built = []
    monkeypatch.setattr(ninja.main, "get_schema", lambda **kw: built.append(kw) or {"built": len(built)})
    api.__dict__.pop("_schemas", None)  # whatever earlier tests built
    answers = [client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE=lang).json() for lang in ("ru", "kk", "en")]
    assert answers == [{"built": 1}] * 3
    api.__dict__.pop("_schemas")  # the next caller builds the real one again
    assert len(built) == 1


def test_session_sign_in_also_works_for_the_api(client, kz_officer):
    client.force_login(kz_officer)
    assert client.get("/api/v1/me").json()["username"] == "kz.officer"


def test_nul_characters_get_a_field_error_not_a_crash(client, kz_auditor):
    _token, raw = services.issue_api_token(user=kz_auditor, name="x", scope="act")
    r = client.get("/api/v1/audit/entries", {"actor": "a\x00b"}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "actor"
    r = client.post(
        "/api/v1/me/tokens",
        json.dumps({"name": "bad\u0000name"}),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
