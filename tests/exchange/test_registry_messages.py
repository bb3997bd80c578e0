"""Registry messages between real nodes (P4.2, P4.3): three nodes — the Secretariat's, Kazakhstan's, Russia's —
each its own processes and database, joined by the signed directory. A Party's registrar acknowledges an
announcement and files a designation notice on the Party's own node, through its screens; the message reaches the
Secretariat's node, which records or files (and announces) it; the next directory brings the announcement to the
other Parties' nodes; a notice the Secretariat refuses comes back rejected, with the reason, in the receipt."""

from __future__ import annotations

import copy
import datetime as dt
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from cybercoop.audit.models import AuditEntry
from cybercoop.core import clock as clock_module
from cybercoop.core.errors import InvalidInput
from cybercoop.demo.runner import stop_processes
from cybercoop.exchange.models import Message, OutboxItem
from cybercoop.registry import directory as registry_directory
from cybercoop.registry import selectors as registry_selectors
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import Acknowledgement, DesignationNotice, Node
from tests.exchange.federation import seal, setup_registry, wire_message
from tests.nodes import DEMO_PASSWORD, _create_database, _drop_database, free_port, wait_until_serving
from tests.registry.factories import BodyFactory, PartyFactory

# The Secretariat files this notice itself while setting up, so that Kazakhstan and Russia have an announcement
# to acknowledge: Belarus withdraws its ministry's designation from mid-2027.
BELARUS_NOTICE = {"party": "BY", "kind": "withdrawn", "body": "BY-MIA", "effective_on": "2027-06-01"}
USERS = {"secretariat": "csto.secretariat", "kz": "kz.registrar", "ru": "ru.registrar"}


@dataclass
class RunningNode:
    """One node: its id, address, data folder, environment and server."""

    code: str
    url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cybercoop", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> str:
        return _wait(self, self.start(*args), args)

    def shell(self, code: str) -> str:
        return self.run("manage", "shell", "-v", "0", "-c", code)

    def serve(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        with (self.data_dir / "server.log").open("a") as log:  # the server keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_serving(self) -> None:
        assert self.process is not None
        wait_until_serving(self.url + "/federation/v1/node", self.process, self.data_dir / "server.log")


def _wait(node: RunningNode, process: subprocess.Popen[str], args: Sequence[str]) -> str:
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode != 0:
        raise AssertionError(f"{node.code}: cybercoop {' '.join(args)} failed:\n{stdout}\n{stderr}")
    return stdout


def _at_once(*calls: tuple[RunningNode, Sequence[str]]) -> list[str]:
    """Run commands on several nodes side by side (each node's own process), and wait for all of them."""
    started = [(node, node.start(*args), args) for node, args in calls]
    return [_wait(node, process, args) for node, process, args in started]


# --- set up inside each node's process (`manage shell`), the way an operator would with `cybercoop node …` ---------


def _create_user(username: str) -> None:
    from cybercoop.accounts import services as accounts
    from cybercoop.demo import data
    from cybercoop.registry import selectors

    _name, body, role, full_name, position = next(user for user in data.USERS if user[0] == username)
    accounts.create_user(
        actor=None,
        username=username,
        full_name=full_name,
        position=position,
        body=selectors.get_body(code=body),
        role=role,
        password=DEMO_PASSWORD,
    )


def set_up_secretariat() -> None:
    """The registry of the demo, the three nodes registered with their keys and bodies, the Secretariat's user,
    the notice of Belarus (announced to every other Party), and the first directory; prints the directory key."""
    import datetime as dt

    from cybercoop.demo.federation import bodies_by_node
    from cybercoop.demo.seed import seed
    from cybercoop.exchange.federation import directory
    from cybercoop.registry import selectors, services

    nodes = json.loads(os.environ["REGTEST_NODES"])
    seed(password=DEMO_PASSWORD, registry=True, users=False)
    for code, spec in nodes.items():
        directory.register_peer(actor=None, code=code, name=code, base_url=spec["url"], public_jwks=spec["jwks"])
    for code, bodies in bodies_by_node(set(nodes)).items():
        for body in bodies:
            services.assign_body_node(actor=None, body=selectors.get_body(code=body), node=selectors.get_node(code))
    _create_user(USERS["secretariat"])
    services.file_designation(
        actor=None,
        instrument=selectors.protocol(),
        party=selectors.get_party(code=BELARUS_NOTICE["party"]),
        kind=BELARUS_NOTICE["kind"],
        body=selectors.get_body(code=BELARUS_NOTICE["body"]),
        effective_on=dt.date.fromisoformat(BELARUS_NOTICE["effective_on"]),
    )
    directory.publish()
    print(json.dumps(directory.public_key_jwk()))


def set_up_party_node() -> None:
    """Pin the Secretariat's directory key, fetch the directory (this node's registry mirrors it), and the
    registrar's user."""
    from cybercoop.exchange.federation import directory

    directory.pin(json.loads(os.environ["REGTEST_DIRECTORY_KEY"]))
    result = directory.refresh()
    assert result.status == "applied", result
    _create_user(os.environ["REGTEST_USER"])


def audit_of_remote_acts() -> None:
    """On the Secretariat's node: the audit entries of what arrived from the Parties' nodes."""
    from cybercoop.audit.models import AuditEntry

    entries = AuditEntry.objects.filter(
        action__in=["registry:designation:acknowledged", "registry:designation:filed"], data__has_key="remote"
    ).order_by("pk")
    print(json.dumps([{"action": e.action, "actor": e.actor_id, **e.data} for e in entries]))


def _in_node(function: str) -> str:
    return f"from tests.exchange.test_registry_messages import {function}; {function}()"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningNode]]:
    root = tmp_path_factory.mktemp("registry-nodes")
    base_database = os.environ.get("DATABASE_URL", "")
    nodes = {code: RunningNode(code, f"http://127.0.0.1:{free_port()}", root / code) for code in USERS}
    for node in nodes.values():
        node.data_dir.mkdir()
        node.env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        node.env.update(
            {
                "CYBERCOOP_DATA_DIR": str(node.data_dir),
                "CYBERCOOP_NODE_ID": node.code,
                "CYBERCOOP_NODE_URL": node.url,
                "CYBERCOOP_DIRECTORY_URL": "" if node.code == "secretariat" else nodes["secretariat"].url,
                # The nodes serve pages: static files are named as they are, with no collected manifest.
                "DJANGO_SETTINGS_MODULE": "tests.exchange.peer_settings",
            }
        )
        if base_database:
            node.database, node.env["DATABASE_URL"] = _create_database(base_database)
    try:
        _at_once(*[(node, ["manage", "migrate", "--noinput", "-v", "0"]) for node in nodes.values()])
        jwks = _at_once(*[(node, ["node", "init", "--id", node.code]) for node in nodes.values()])
        secretariat = nodes["secretariat"]
        secretariat.env["REGTEST_NODES"] = json.dumps(
            {
                node.code: {"url": node.url, "jwks": json.loads(keys)}
                for node, keys in zip(nodes.values(), jwks, strict=True)
            }
        )
        directory_key = secretariat.shell(_in_node("set_up_secretariat")).strip().splitlines()[-1]
        secretariat.serve()
        secretariat.wait_until_serving()
        for code in ("kz", "ru"):
            nodes[code].env.update({"REGTEST_DIRECTORY_KEY": directory_key, "REGTEST_USER": USERS[code]})
        _at_once(
            *[
                (nodes[code], ["manage", "shell", "-v", "0", "-c", _in_node("set_up_party_node")])
                for code in ("kz", "ru")
            ]
        )
        for code in ("kz", "ru"):
            nodes[code].serve()
        for code in ("kz", "ru"):
            nodes[code].wait_until_serving()
        yield nodes
    finally:
        stop_processes([node.process for node in nodes.values() if node.process is not None])
        for node in nodes.values():
            if node.database:
                _drop_database(base_database, node.database)


class Browser:
    """A user signed in on a node's screens, over HTTP, with the session and CSRF cookies a browser keeps."""

    def __init__(self, node: RunningNode, username: str) -> None:
        self.base = node.url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.get("/accounts/sign-in/")
        page = self.post("/accounts/sign-in/", {"username": username, "password": DEMO_PASSWORD})
        assert 'name="password"' not in page, f"{username} could not sign in on {node.code}"

    def _open(self, path: str, data: dict[str, str] | None = None) -> str:
        body = None
        if data is not None:
            csrf = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": csrf}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + "/", "Accept-Language": "en"}
        )
        try:
            with self.opener.open(request, timeout=30) as answer:
                return str(answer.read().decode())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path}: HTTP {error.code}\n{error.read().decode()[:2000]}") from error

    def get(self, path: str) -> str:
        return self._open(path)

    def post(self, path: str, data: dict[str, str]) -> str:
        return self._open(path, data)

    def api(self, path: str) -> Any:
        return json.loads(self.get("/api/v1" + path))


def _option(page: str, select: str, label_part: str = "") -> str:
    """The value of the one option of the form's `select` whose label holds `label_part` (any, when empty)."""
    options = re.search(rf'<select name="{select}".*?</select>', page, re.S)
    assert options is not None, select
    found = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', options.group(0))
    values = [value for value, label in found if value and label_part in label]
    assert len(values) == 1, (select, label_part, found)
    return values[0]


def _file_designation(browser: Browser, *, body: str, kind: str, effective_on: str) -> str:
    """File a notice on the designations screen, as its registrar does; the page shown after it."""
    form = browser.get("/registry/designations/")
    return browser.post(
        "/registry/designations/",
        {
            "party": _option(form, "party"),  # a registrar files for its own Party only
            "kind": kind,
            "body": _option(form, "body", f"({body})"),
            "replaces": "",
            "effective_on": effective_on,
            "reference": "",
        },
    )


def _announcement_of(browser: Browser, notice: dict[str, str]) -> dict[str, Any]:
    """The announcement of `notice` in the signed-in user's Party's inbox (P4.3)."""
    rows = [
        row
        for row in browser.api("/registry/announcements")
        if {k: row["notice"][k] for k in ("party", "kind", "body")} == {k: notice[k] for k in ("party", "kind", "body")}
        and row["notice"]["effective_on"] == notice["effective_on"]
    ]
    assert len(rows) == 1, rows
    return rows[0]


def _not_acknowledged(secretariat: Browser, notice: dict[str, str]) -> set[str]:
    """The Parties the Secretariat's "not acknowledged" list names for `notice`."""
    return {
        row["party"]
        for row in secretariat.api("/registry/announcements/pending")
        if row["notice"]["body"] == notice["body"]
        and row["notice"]["kind"] == notice["kind"]
        and row["notice"]["effective_on"] == notice["effective_on"]
    }


def _acknowledge(browser: Browser, notice: dict[str, str]) -> None:
    """Acknowledge on the announcements screen, as the Party's registrar does."""
    announcement = _announcement_of(browser, notice)
    page = browser.get("/registry/announcements/")
    action = f"/registry/announcements/{announcement['id']}/acknowledge/"
    assert f'action="{action}"' in page  # the screen shows the announcement, with its button
    browser.post(action, {})
    assert _announcement_of(browser, notice)["acknowledged_at"] is not None


@pytest.mark.rule("P4.3")
def test_an_acknowledgement_made_on_the_partys_node_reaches_the_secretariat(nodes):
    kz, secretariat = nodes["kz"], nodes["secretariat"]
    at_secretariat = Browser(secretariat, USERS["secretariat"])
    assert "KZ" in _not_acknowledged(at_secretariat, BELARUS_NOTICE)
    _acknowledge(Browser(kz, USERS["kz"]), BELARUS_NOTICE)
    assert "KZ" in _not_acknowledged(at_secretariat, BELARUS_NOTICE)  # not before the Kazakh worker sends it
    kz.run("worker", "--once")
    left = _not_acknowledged(at_secretariat, BELARUS_NOTICE)
    assert "KZ" not in left
    assert "RU" in left  # only the Party that acknowledged
    audit = json.loads(secretariat.shell(_in_node("audit_of_remote_acts")))
    [entry] = [e for e in audit if e["party"] == "KZ" and e["action"] == "registry:designation:acknowledged"]
    assert entry["actor"] is None  # no user of this node: the Party's, named in the entry
    assert entry["remote"]["acknowledged_by"] == "Сейткали Дана Ерлановна"
    assert (entry["remote"]["node"], entry["remote"]["body"]) == ("kz", "KZ-MIA")


@pytest.mark.rule("P4.2", "P4.3")
def test_a_notice_filed_on_the_partys_node_is_filed_by_the_secretariat_and_announced_to_the_others(nodes):
    kz, ru, secretariat = nodes["kz"], nodes["ru"], nodes["secretariat"]
    notice = {"party": "KZ", "kind": "withdrawn", "body": "KZ-NSC", "effective_on": "2027-01-01"}
    at_kz = Browser(kz, USERS["kz"])
    page = _file_designation(at_kz, body="KZ-NSC", kind="withdrawn", effective_on=notice["effective_on"])
    assert "направлено в Секретариат" in page
    # No local copy: the Party's node holds the notice only once the directory brings it back, as filed.
    history = "/registry/designations/history?party=KZ"
    assert [n for n in at_kz.api(history) if n["body"] == "KZ-NSC" and n["kind"] == "withdrawn"] == []
    kz.run("worker", "--once")

    at_secretariat = Browser(secretariat, USERS["secretariat"])
    filed = [n for n in at_secretariat.api(history) if n["body"] == "KZ-NSC" and n["kind"] == "withdrawn"]
    assert [(n["effective_on"], n["filed_by"]) for n in filed] == [(notice["effective_on"], None)]
    assert _not_acknowledged(at_secretariat, notice) == {"AM", "BY", "KG", "RU", "TJ"}  # announced at once (P4.3)

    secretariat.run("node", "publish")
    _at_once((ru, ["node", "refresh"]), (kz, ["node", "refresh"]))
    assert [n["effective_on"] for n in at_kz.api(history) if n["body"] == "KZ-NSC" and n["kind"] == "withdrawn"] == [
        notice["effective_on"]
    ]
    at_ru = Browser(ru, USERS["ru"])
    assert _announcement_of(at_ru, notice)["acknowledged_at"] is None
    _acknowledge(at_ru, notice)
    ru.run("worker", "--once")
    assert _not_acknowledged(at_secretariat, notice) == {"AM", "BY", "KG", "TJ"}


@pytest.mark.rule("P4.2")
def test_a_notice_the_secretariat_refuses_comes_back_rejected_with_its_reason(nodes):
    kz, secretariat = nodes["kz"], nodes["secretariat"]
    at_kz = Browser(kz, USERS["kz"])
    # Both pass the checks on the Kazakh node, which holds neither yet; at the Secretariat's node the first is
    # filed, and the second withdraws a designation the first already withdrew.
    for effective_on in ("2027-03-01", "2027-04-01"):
        assert "направлено в Секретариат" in _file_designation(
            at_kz, body="KZ-PGO", kind="withdrawn", effective_on=effective_on
        )
    kz.run("worker", "--once")
    at_secretariat = Browser(secretariat, USERS["secretariat"])
    filed = [
        n["effective_on"]
        for n in at_secretariat.api("/registry/designations/history?party=KZ")
        if n["body"] == "KZ-PGO"
    ]
    assert "2027-03-01" in filed
    assert "2027-04-01" not in filed
    # The Kazakh registrar sees the refusal and its reason among the node's outgoing envelopes.
    rejected = at_kz.get("/deliveries/outgoing/?state=rejected")
    assert "designation refused: body: This body is not designated on that date" in rejected
    assert "registry.designation" in rejected


# --- in one process: the Secretariat's node's checks, and the directory's announcements --------------------------

NOTICE_OF_KZ = {
    "party": "KZ",
    "kind": "designated",
    "body": "KZ-GP",
    "replaces": None,
    "effective_on": "2026-12-01",
    "reference": "нота № 12/3",
    "filed_by": "Сейткали Дана Ерлановна",
}


@pytest.fixture
def at_secretariat(federation, client, clock):
    """This process is node ru, which here also serves the Secretariat's body, as the Secretariat's node does;
    `post(*envelopes)` delivers a batch to it and returns the results."""
    csto = PartyFactory(code="CSTO", kind="organisation", time_zone="Europe/Moscow")
    BodyFactory(party=csto, code="CSTO-SEC", kind="secretariat", node=Node.objects.get(code="ru"))
    federation.become("ru")

    def post(*envelopes):
        r = client.post(
            "/federation/v1/messages", data=json.dumps({"envelopes": list(envelopes)}), content_type="application/json"
        )
        assert r.status_code == 200, r.content
        return r.json()["results"]

    federation.post = post
    return federation


def _from_kz(federation, kind, body):
    """A registry message from KZ-MIA (node kz) to the Secretariat's body, sealed for node ru."""
    message = wire_message(kind=kind, recipient=("ru", "CSTO-SEC"), body=body)
    return seal(message, sender=federation.keys["kz"], recipient=federation.public("ru"))


def _acknowledgement_body(notice, *, party="KZ", at=None, **changes):
    return {
        "notice": {
            "party": notice.party.code,
            "kind": notice.kind,
            "body": notice.body.code,
            "replaces": None,
            "effective_on": notice.effective_on.isoformat(),
            "filed_at": notice.filed_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            **changes,
        },
        "party": party,
        "acknowledged_at": (at or clock_module.now()).astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "acknowledged_by": "Сейткали Дана Ерлановна",
    }


def _notice_of_russia():
    """A notice the Secretariat filed for Russia, announced to Kazakhstan among the others."""
    return registry_services.file_designation(
        actor=None,
        instrument=registry_selectors.protocol(),
        party=registry_selectors.get_party(code="RU"),
        kind="withdrawn",
        body=registry_selectors.get_body(code="RU-MIA"),
        effective_on=dt.date(2027, 1, 1),
    )


@pytest.mark.rule("P4.2", "P4.3")
def test_the_secretariats_node_files_a_partys_notice_and_announces_it(at_secretariat):
    [result] = at_secretariat.post(_from_kz(at_secretariat, "registry.designation", NOTICE_OF_KZ))
    assert result["status"] == "accepted", result  # no Party to the Protocol, no designated body: yet it passes
    notice = DesignationNotice.objects.get(body__code="KZ-GP")
    assert (notice.kind, notice.effective_on, notice.reference, notice.filed_by) == (
        "designated",
        dt.date(2026, 12, 1),
        "нота № 12/3",
        None,
    )
    assert sorted(notice.acknowledgements.values_list("party__code", flat=True)) == ["AM", "KG", "RU", "TJ"]
    entry = AuditEntry.objects.get(action="registry:designation:filed")
    assert entry.actor_id is None
    assert entry.data["remote"] == {
        "node": "kz",
        "body": "KZ-MIA",
        "message": result["id"],
        "filed_by": "Сейткали Дана Ерлановна",
    }


@pytest.mark.rule("P4.3")
def test_the_secretariats_node_records_a_partys_acknowledgement_once(at_secretariat, clock):
    notice = _notice_of_russia()
    clock.advance(dt.timedelta(hours=2))
    acknowledged_at = clock_module.now() - dt.timedelta(minutes=1)
    body = _acknowledgement_body(notice, at=acknowledged_at)
    for _ in range(2):  # a second message saying the same changes nothing
        [result] = at_secretariat.post(_from_kz(at_secretariat, "registry.acknowledgement", body))
        assert result["status"] == "accepted", result
    ack = Acknowledgement.objects.get(notice=notice, party__code="KZ")
    assert (ack.acknowledged_at, ack.acknowledged_by) == (acknowledged_at, None)
    [entry] = AuditEntry.objects.filter(action="registry:designation:acknowledged")
    assert entry.data["remote"]["acknowledged_by"] == "Сейткали Дана Ерлановна"
    assert Acknowledgement.objects.filter(acknowledged_at__isnull=True).count() == 3  # AM, KG, TJ still awaited


REFUSED = {
    "a body not of the form": ("registry.acknowledgement", lambda notice: {}, "malformed: body"),
    "a notice for another Party": (
        "registry.designation",
        lambda notice: {**NOTICE_OF_KZ, "party": "RU", "body": "RU-MIA", "kind": "withdrawn"},
        "registry: the sending body is not of the Party it speaks for",
    ),
    "a withdrawal of a body not designated": (
        "registry.designation",
        lambda notice: {**NOTICE_OF_KZ, "kind": "withdrawn"},
        "designation refused: body: This body is not designated on that date, so its designation cannot be withdrawn.",
    ),
    "a notice dated before the Party's last": (
        "registry.designation",
        lambda notice: {**NOTICE_OF_KZ, "effective_on": "2016-01-01"},
        "designation refused: effective_on: A later notice (effective 2016-06-01) is already filed; a new notice "
        "cannot take effect before it.",
    ),
    "an acknowledgement of an announcement not held": (
        "registry.acknowledgement",
        lambda notice: _acknowledgement_body(notice, effective_on="2027-02-01"),
        "acknowledgement refused: no such announcement",
    ),
    "an acknowledgement for another Party": (
        "registry.acknowledgement",
        lambda notice: _acknowledgement_body(notice, party="AM"),
        "registry: the sending body is not of the Party it speaks for",
    ),
}


@pytest.mark.rule("P4.2", "P4.3")
@pytest.mark.parametrize("case", REFUSED)
def test_a_registry_message_the_secretariats_node_cannot_take_is_rejected_with_its_reason(at_secretariat, case):
    kind, body, reason = REFUSED[case]
    notice = _notice_of_russia()
    before = (DesignationNotice.objects.count(), Acknowledgement.objects.filter(acknowledged_at__isnull=False).count())
    [result] = at_secretariat.post(_from_kz(at_secretariat, kind, body(notice)))
    assert (result["status"], result["reason"]) == ("rejected", reason)
    after = (DesignationNotice.objects.count(), Acknowledgement.objects.filter(acknowledged_at__isnull=False).count())
    assert after == before


@pytest.mark.rule("P4.2")
def test_a_partys_node_sends_its_notice_and_keeps_no_copy_of_it(federation, clock):
    """Node kz, whose directory names node ru for the Secretariat's body: a notice leaves as a message."""
    csto = PartyFactory(code="CSTO", kind="organisation", time_zone="Europe/Moscow")
    BodyFactory(party=csto, code="CSTO-SEC", kind="secretariat", node=Node.objects.get(code="ru"))
    federation.become("kz")
    values = {
        "actor": None,
        "instrument": registry_selectors.protocol(),
        "party": registry_selectors.get_party(code="KZ"),
        "kind": "designated",
        "body": registry_selectors.get_body(code="KZ-GP"),
        "effective_on": dt.date(2026, 12, 1),
    }
    with pytest.raises(InvalidInput):  # checked here first: nothing is sent for a notice refused here
        registry_services.notify_designation(**{**values, "kind": "withdrawn"})
    assert not Message.objects.exists()
    assert registry_services.notify_designation(**values) is None
    assert not DesignationNotice.objects.filter(body__code="KZ-GP").exists()
    message = Message.objects.get()
    assert (message.kind, message.sender_body.code, message.recipient_body.code) == (
        "registry.designation",
        "KZ-MIA",
        "CSTO-SEC",
    )
    assert message.body["body"] == "KZ-GP"
    assert OutboxItem.objects.get(message=message).peer == "ru"


@pytest.mark.rule("P4.3")
def test_the_directory_carries_announcements_and_never_takes_an_acknowledgement_back(db, clock):
    with transaction.atomic():  # the Secretariat's registry, snapshotted, then rolled back: this is a new node
        setup_registry({})
        notice = _notice_of_russia()
        registry_services.acknowledge(actor=None, acknowledgement=notice.acknowledgements.get(party__code="AM"))
        doc = registry_directory.snapshot()
        transaction.set_rollback(True)
    assert [(a["party"], a["acknowledged_at"] is not None) for a in doc["announcements"]] == [
        ("AM", True),
        ("KG", False),
        ("KZ", False),
        ("TJ", False),
    ]
    counts = registry_directory.apply_snapshot(doc, version=1)
    assert counts["announcements_inserted"] == 4
    assert registry_directory.snapshot() == doc
    # Kazakhstan acknowledges on its node; a directory made before the Secretariat heard of it keeps it.
    registry_services.acknowledge(actor=None, acknowledgement=Acknowledgement.objects.get(party__code="KZ"))
    assert set(registry_directory.apply_snapshot(doc, version=2).values()) == {0}
    assert Acknowledgement.objects.get(party__code="KZ").acknowledged_at is not None
    # Kyrgyzstan's acknowledgement, recorded by the Secretariat, arrives with the next version.
    later = copy.deepcopy(doc)
    next(a for a in later["announcements"] if a["party"] == "KG")["acknowledged_at"] = (
        "2026-11-24T10:00:00.000000+00:00"
    )
    assert registry_directory.apply_snapshot(later, version=3)["announcements_updated"] == 1
    assert Acknowledgement.objects.get(party__code="KG").acknowledged_at == dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)


MALFORMED_ANNOUNCEMENTS = {
    "a notice not in the document": (lambda a: a.update(notice=99), "is not the place of a notice"),
    "announced to the notifying Party": (lambda a: a.update(party="RU"), "is announced to the other Parties"),
    "an unknown Party": (lambda a: a.update(party="XX"), "is not a Party"),
    "an unknown field": (lambda a: a.update(colour="red"), "unknown fields colour"),
    "an acknowledgement not in UTC": (
        lambda a: a.update(acknowledged_at="2026-11-24T13:00:00+03:00"),
        "RFC 3339 time in UTC",
    ),
}


@pytest.mark.parametrize("case", MALFORMED_ANNOUNCEMENTS)
def test_a_directory_with_a_malformed_announcement_is_refused_whole(db, clock, case):
    with transaction.atomic():
        setup_registry({})
        _notice_of_russia()
        doc = registry_directory.snapshot()
        transaction.set_rollback(True)
    change, message = MALFORMED_ANNOUNCEMENTS[case]
    change(doc["announcements"][-1])
    with pytest.raises(ValueError, match=message):
        registry_directory.apply_snapshot(doc, version=1)
    assert not DesignationNotice.objects.exists()


def test_a_directory_listing_an_announcement_twice_is_refused(db, clock):
    with transaction.atomic():
        setup_registry({})
        _notice_of_russia()
        doc = registry_directory.snapshot()
        transaction.set_rollback(True)
    doc["announcements"].append(doc["announcements"][0])
    with pytest.raises(ValueError, match="more than once"):
        registry_directory.apply_snapshot(doc, version=1)
