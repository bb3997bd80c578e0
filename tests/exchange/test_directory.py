"""The Secretariat's signed directory: its key, publishing, pinning, accepting (and refusing), the endpoint
that serves it, and fetching it over real HTTP from a live server.

A node and the Secretariat share this test database, so directories are published on a "Secretariat" whose
registry is then rolled back (`_published`): the database is then a node that has seen none of them."""

import datetime as dt
import json
import socket
import stat

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from joserfc.jwk import OKPKey

from cybercoop.audit.models import AuditEntry
from cybercoop.core import periodic
from cybercoop.core.append_only import sqlite_triggers
from cybercoop.core.errors import InvalidInput
from cybercoop.exchange.federation import directory as federation
from cybercoop.exchange.federation import directory_views, envelope, keys
from cybercoop.exchange.federation.keys import InvalidKey
from cybercoop.registry import selectors, services
from cybercoop.registry.directory import snapshot
from cybercoop.registry.models import Body, DirectoryCopy, Node, Party
from tests.registry.factories import BodyFactory, InstrumentFactory, PartyFactory, in_force

D = dt.date
NODE_KEYS = {code: keys.generate(code) for code in ("kz", "ru", "ru2")}


@pytest.fixture(autouse=True)
def _key_files(settings, tmp_path):
    """Both sides' key files in the test's own folder; no directory URL unless a test sets one."""
    settings.DIRECTORY_SIGNING_KEY_FILE = tmp_path / "secretariat" / "node" / "directory-key.json"
    settings.DIRECTORY_KEY_FILE = tmp_path / "node" / "directory-key.pub.json"
    settings.DIRECTORY_URL = ""


def _audit(action):
    return AuditEntry.objects.filter(action=action).count()


def _register(code, name):
    return federation.register_peer(
        actor=None,
        code=code,
        name=name,
        base_url=f"https://{code}.example",
        public_jwks=keys.public_jwks(NODE_KEYS[code]),
    )


def _first_registry():
    """Kazakhstan and Russia, the Protocol in force between them (on two notifications, for two Parties), and a
    body each, designated and served by its Party's node."""
    protocol = in_force(
        InstrumentFactory(notifications_required=2), PartyFactory(kazakhstan=True), PartyFactory(russia=True)
    )
    for body, node in (
        (BodyFactory(kazakh=True), _register("kz", "Kazakhstan")),
        (BodyFactory(russian=True), _register("ru", "Russia")),
    ):
        services.assign_body_node(actor=None, body=body, node=node)
        services.file_designation(
            actor=None, instrument=protocol, party=body.party, kind="designated", body=body, effective_on=D(2016, 6, 1)
        )


def _second_registry():
    """Russia moves its body to a new node and withdraws the old one, and withdraws the body's designation."""
    ru_mia = selectors.get_body(code="RU-MIA")
    services.assign_body_node(actor=None, body=ru_mia, node=_register("ru2", "Russia (new)"))
    services.withdraw_node(actor=None, node=Node.objects.get(code="ru"))
    services.file_designation(
        actor=None,
        instrument=selectors.protocol(),
        party=ru_mia.party,
        kind="withdrawn",
        body=ru_mia,
        effective_on=D(2027, 1, 1),
    )


def _published(*steps):
    """The tokens a Secretariat publishes after each step, with its registry and copies rolled back after."""
    tokens = []
    with transaction.atomic():
        for step in steps:
            step()
            tokens.append(federation.publish().token)
        transaction.set_rollback(True)
    assert not DirectoryCopy.objects.exists()
    assert not Party.objects.exists()
    return tokens


def _doc(token):
    return envelope.verify_document(token, federation.pinned_key(), typ=federation.DIRECTORY_TYP)


def _sign(doc, key=None):
    return envelope.sign_document(doc, key or federation.ensure_signing_key(), typ=federation.DIRECTORY_TYP)


@pytest.fixture
def tokens(db, clock):
    """Directory versions 1 and 2, and this node with the Secretariat's key pinned and nothing accepted."""
    published = _published(_first_registry, _second_registry)
    federation.pin(federation.public_key_jwk())
    return published


def _refused(token, reason):
    with pytest.raises(federation.DirectoryRefused) as caught:
        federation.accept(token)
    assert caught.value.reason == reason, caught.value.message
    return caught.value


# --- the Secretariat's key -------------------------------------------------------------------------------


def test_the_directory_key_is_created_once_readable_only_by_this_user(settings):
    assert not federation.is_secretariat()
    key = federation.ensure_signing_key()
    path = settings.DIRECTORY_SIGNING_KEY_FILE
    assert federation.is_secretariat()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert federation.ensure_signing_key().kid == key.kid
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    public = federation.public_key_jwk()
    assert "d" not in public
    assert public["kid"] == key.kid
    assert keys.import_signing_key(public).kid == key.kid


@pytest.mark.parametrize("content", ["not json", '{"format": "another/1", "key": {}}', "[]"])
def test_a_directory_key_file_of_another_kind_is_refused(settings, content):
    path = settings.DIRECTORY_SIGNING_KEY_FILE
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(InvalidKey):
        federation.ensure_signing_key()


# --- pinning ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "jwk",
    [
        dict(keys.generate_signing_key().as_dict(private=True)),
        dict(OKPKey.generate_key("X25519").as_dict(private=False)),
        {**keys.generate_signing_key().as_dict(private=False), "kid": "another"},
        {"kty": "oct", "k": "c2VjcmV0"},
        "not a key",
    ],
    ids=["private", "x25519", "wrong-kid", "symmetric", "string"],
)
@pytest.mark.django_db
def test_only_a_public_ed25519_key_is_pinned(settings, jwk):
    with pytest.raises(InvalidKey):
        federation.pin(jwk)
    assert not settings.DIRECTORY_KEY_FILE.exists()
    assert _audit("registry:directory:key_pinned") == 0


@pytest.mark.django_db
def test_pinning_another_key_is_recorded_with_both_key_ids(secretariat):
    with pytest.raises(federation.NoPinnedKey, match="no directory key is pinned"):
        federation.pinned_key()
    first = keys.generate_signing_key()
    second = keys.generate_signing_key()
    federation.pin(first.as_dict(private=False))
    federation.pin(second.as_dict(private=False), actor=secretariat)
    assert federation.pinned_key().kid == second.kid
    entries = AuditEntry.objects.filter(action="registry:directory:key_pinned").order_by("seq")
    assert [(e.data["kid"], e.data["previous_kid"]) for e in entries] == [(first.kid, None), (second.kid, first.kid)]
    assert entries.last().actor == secretariat


# --- publishing ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_publish_makes_a_new_version_only_when_the_registry_changed(clock):
    first = federation.publish()
    assert (first.version, first.applied_at) == (1, None)
    assert federation.publish() == first
    clock.advance(dt.timedelta(hours=1))
    PartyFactory(kazakhstan=True)
    second = federation.publish()
    assert second.version == 2
    assert federation.latest() == second
    federation.pin(federation.public_key_jwk())
    doc = _doc(second.token)
    assert doc == {"version": 2, "issued_at": "2026-11-23T10:00:00.000000+00:00", **snapshot()}
    assert second.sha256 == federation.content_digest(doc)
    assert _audit("registry:directory:published") == 2


@pytest.mark.django_db
def test_the_directory_is_not_a_document_of_another_kind(clock):
    federation.pin(federation.public_key_jwk())
    other_kind = envelope.sign_document({"version": 1, **snapshot()}, federation.ensure_signing_key())
    _refused(other_kind, federation.BAD_SIGNATURE)


# --- accepting --------------------------------------------------------------------------------------------


@pytest.mark.rule("P4.2")
def test_a_node_accepts_newer_directories_and_mirrors_them(tokens):
    held = federation.accept(tokens[0])
    assert (held.version, held.token) == (1, tokens[0])
    assert held.applied_at is not None
    assert selectors.node_of(Body.objects.get(code="KZ-MIA")).code == "kz"
    assert selectors.get_node("ru") is not None
    assert federation.accept(tokens[0]) is None  # the version held: nothing to do
    assert federation.accept(tokens[1]).version == 2
    assert selectors.get_node("ru") is None  # withdrawn in version 2: no longer trusted
    assert selectors.node_of(Body.objects.get(code="RU-MIA")).code == "ru2"
    protocol = selectors.protocol()
    designated = {b.code for b in selectors.designated_bodies(instrument=protocol, on=D(2027, 1, 1))}
    assert designated == {"KZ-MIA"}
    assert selectors.in_force_between(
        instrument=protocol,
        party_a=selectors.get_party(code="KZ"),
        party_b=selectors.get_party(code="RU"),
        on=D(2026, 11, 23),
    )
    applied = AuditEntry.objects.filter(action="registry:directory:applied").order_by("seq")
    assert [e.data["version"] for e in applied] == [1, 2]


def test_an_older_directory_is_refused_audited_once_and_the_newer_one_stays(tokens):
    federation.accept(tokens[1])
    refusal = _refused(tokens[0], federation.OLDER)
    assert refusal.version == 1
    _refused(tokens[0], federation.OLDER)  # fetched again: logged again, audited once
    assert federation.latest().version == 2
    entry = AuditEntry.objects.get(action="registry:directory:refused")
    assert entry.data == {
        "reason": federation.OLDER,
        "message": "version 1 is older than version 2",
        "version": 1,
        "held_version": 2,
    }


def test_a_directory_whose_signature_fails_is_refused_and_nothing_is_stored(tokens):
    header, payload, signature = tokens[0].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    _refused(tampered, federation.BAD_SIGNATURE)
    _refused("not a token at all", federation.BAD_SIGNATURE)
    assert not DirectoryCopy.objects.exists()
    assert not Party.objects.exists()
    assert _audit("registry:directory:refused") == 2


def test_a_directory_signed_by_another_key_is_refused_and_the_last_good_one_stays(tokens):
    federation.accept(tokens[0])
    forged = _sign(_doc(tokens[1]), keys.generate_signing_key())
    _refused(forged, federation.BAD_SIGNATURE)
    assert federation.latest().version == 1
    assert selectors.get_node("ru") is not None


def test_another_content_under_the_version_held_is_refused(tokens):
    federation.accept(tokens[0])
    doc = _doc(tokens[0])
    doc["parties"][0]["names"]["en"] = "Renamed"
    _refused(_sign(doc), federation.CONFLICT)
    assert Party.objects.get(code=doc["parties"][0]["code"]).name_en != "Renamed"


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["bodies"][0].update(party="XX"),
        lambda doc: doc.pop("issued_at"),
        lambda doc: doc.update(issued_at="2026-11-23T12:00:00+03:00"),
        lambda doc: doc.update(version="3"),
        lambda doc: doc.update(version=0),
        lambda doc: doc["nodes"][0].update(signing_jwk=dict(NODE_KEYS["kz"].signing.as_dict(private=True))),
        lambda doc: doc["nodes"][0].update(encryption_jwk=doc["nodes"][0]["signing_jwk"]),
        lambda doc: doc["nodes"][0].update(code="somebody-else"),
    ],
    ids=[
        "unknown-party",
        "no-time",
        "not-utc",
        "text-version",
        "version-0",
        "private-key",
        "swapped-key",
        "renamed-node",
    ],
)
def test_a_signed_but_malformed_directory_is_refused_whole(tokens, change):
    doc = _doc(tokens[0])
    change(doc)
    _refused(_sign(doc), federation.MALFORMED)
    assert not DirectoryCopy.objects.exists()
    assert not Party.objects.exists()


@pytest.mark.django_db
def test_accepting_without_a_pinned_key_is_a_clear_error():
    with pytest.raises(federation.NoPinnedKey, match="pin the Secretariat's public directory key"):
        federation.accept("a.b.c")


# --- refreshing ------------------------------------------------------------------------------------------


def _serving(token):
    """A fetch that answers `token`, unless the node already holds it (then 304, as the endpoint does)."""

    def fetch(url, held_etag):
        assert url == "https://secretariat.example/federation/v1/directory"
        held = federation.latest()
        return None if held is not None and held_etag == federation.etag(held) and held.token == token else token

    return fetch


def _unreachable(url, held_etag):
    raise federation.FetchFailed(f"{url} could not be reached (ConnectionRefusedError)")


def test_refresh_reports_every_outcome_without_raising(tokens, settings):
    assert federation.refresh(fetch=_serving(tokens[0])).status == "not_configured"
    settings.DIRECTORY_URL = "https://secretariat.example/"
    assert federation.refresh(fetch=_serving(tokens[0])) == federation.RefreshResult("applied", 1)
    assert federation.refresh(fetch=_serving(tokens[0])) == federation.RefreshResult("unchanged", 1)
    result = federation.refresh(fetch=_unreachable)
    assert (result.status, result.version) == ("unreachable", 1)
    assert "ConnectionRefusedError" in result.reason
    forged = _sign(_doc(tokens[1]), keys.generate_signing_key())
    result = federation.refresh(fetch=_serving(forged))
    assert (result.status, result.version) == ("refused", 1)
    assert result.reason.startswith("bad signature: ")
    assert federation.refresh(fetch=_serving(tokens[1])) == federation.RefreshResult("applied", 2)
    settings.DIRECTORY_KEY_FILE.unlink()
    result = federation.refresh(fetch=_serving(tokens[0]))
    assert (result.status, result.version) == ("not_configured", 2)


def test_the_periodic_jobs_run_only_where_they_belong(tokens, settings):
    before = periodic.registered()
    federation.install()
    try:
        jobs = periodic.registered()
        assert jobs["exchange.refresh_directory"] is federation.refresh_job
        assert jobs["exchange.publish_directory"] is federation.publish_job
        federation.install()  # installing twice is harmless
    finally:
        for name in set(periodic.registered()) - set(before):
            periodic.unregister(name)
    # This node holds the Secretariat's key too (the tests made it): it publishes and never refreshes.
    settings.DIRECTORY_URL = "http://127.0.0.1:9/"
    assert federation.refresh_job() == 0
    assert federation.publish_job() == 1
    assert federation.publish_job() == 0
    settings.DIRECTORY_SIGNING_KEY_FILE.unlink()
    assert federation.publish_job() == 0
    settings.DIRECTORY_URL = ""
    assert federation.refresh_job() == 0


# --- registering a peer ------------------------------------------------------------------------------------


def test_a_peer_is_registered_from_its_published_keys(secretariat, clock):
    node = federation.register_peer(
        actor=secretariat,
        code="kz",
        name="Kazakhstan",
        base_url="https://kz.example",
        public_jwks=keys.public_jwks(NODE_KEYS["kz"]),
        software_version="0.1.0",
    )
    assert node.signing_jwk == dict(NODE_KEYS["kz"].signing.as_dict(private=False))
    assert keys.PublicKeys.from_jwks({"node_id": "kz", "keys": [node.signing_jwk, node.encryption_jwk]})


@pytest.mark.parametrize(
    "jwks",
    [
        {"node_id": "ru", "keys": keys.public_jwks(NODE_KEYS["ru"])["keys"]},
        {
            "node_id": "kz",
            "keys": [NODE_KEYS["kz"].signing.as_dict(private=True), keys.public_jwks(NODE_KEYS["kz"])["keys"][1]],
        },
        {"node_id": "kz", "keys": keys.public_jwks(NODE_KEYS["kz"])["keys"][:1]},
        "keys",
    ],
    ids=["another-node", "private", "one-key", "not-an-object"],
)
def test_a_peer_with_unusable_keys_is_refused(secretariat, clock, jwks):
    with pytest.raises(InvalidInput) as caught:
        federation.register_peer(
            actor=secretariat, code="kz", name="Kazakhstan", base_url="https://kz.example", public_jwks=jwks
        )
    assert list(caught.value.errors) == ["public_jwks"]
    assert not Node.objects.exists()


# --- the endpoint --------------------------------------------------------------------------------------------


def _get(**headers):
    return directory_views.directory(RequestFactory().get("/federation/v1/directory", headers=headers))


@pytest.mark.django_db
def test_the_endpoint_answers_404_before_anything_was_published():
    response = _get()
    assert response.status_code == 404
    assert json.loads(response.content) == {"detail": "Справочник ещё не опубликован."}  # Russian by default
    assert response["Cache-Control"] == "no-cache"


@pytest.mark.django_db
def test_the_endpoint_serves_the_signed_directory_and_304_to_a_node_holding_it(clock):
    copy = federation.publish()
    response = _get()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jose"
    assert response["Cache-Control"] == "no-cache"
    assert response.content.decode() == copy.token
    federation.pin(federation.public_key_jwk())
    assert _doc(response.content.decode()) == {
        "version": 1,
        "issued_at": copy.issued_at.isoformat(timespec="microseconds"),
        **snapshot(),
    }
    again = _get(if_none_match=response["ETag"])
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", response["ETag"])
    assert _get(if_none_match='"0.other"').status_code == 200
    post = directory_views.directory(RequestFactory().post("/federation/v1/directory"))
    assert post.status_code == 405


# --- over real HTTP ----------------------------------------------------------------------------------------


@pytest.fixture
def served(live_server, settings, clock):
    """A live server with the directory endpoint where a node mounts it (the test's own URLs).

    live_server makes the test transactional. Django then empties the tables with DELETE on SQLite, which
    the append-only triggers refuse; so they are emptied here first with the triggers lifted (PostgreSQL
    empties them with TRUNCATE, which the triggers do not cover)."""
    settings.ROOT_URLCONF = "tests.exchange.directory_urls"
    yield live_server
    if connection.vendor == "sqlite":
        # Rows that others still refer to (an announcement's notice) go too: the flush removes those next.
        with connection.constraint_checks_disabled(), connection.cursor() as cursor:
            cursor.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_no_delete'")
            for (table,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {table}_no_update")
                cursor.execute(f"DROP TRIGGER {table}_no_delete")
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a table name from sqlite_master
                for statement in sqlite_triggers(table):
                    cursor.execute(statement)


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_node_fetches_the_directory_over_http(served, settings):
    _first_registry()
    copy = federation.publish()
    federation.pin(federation.public_key_jwk())
    url = served.url + federation.PATH
    token = federation.http_fetch(url, None)
    assert token == copy.token
    assert _doc(token)["version"] == 1
    assert federation.http_fetch(url, federation.etag(copy)) is None  # 304: held already
    # This database is the Secretariat's too, so the node holds what is served: refresh finds it unchanged.
    settings.DIRECTORY_URL = served.url + "/"
    assert federation.refresh() == federation.RefreshResult("unchanged", 1)


def test_a_refresh_that_finds_no_directory_reports_it(served, settings):
    settings.DIRECTORY_URL = served.url
    federation.pin(keys.generate_signing_key().as_dict(private=False))
    result = federation.refresh()
    assert (result.status, result.version) == ("unreachable", None)
    assert "HTTP 404" in result.reason
    settings.DIRECTORY_URL = f"http://127.0.0.1:{_closed_port()}"
    result = federation.refresh()
    assert result.status == "unreachable"
    assert "could not be reached" in result.reason
