"""The node administrator's screens of the federation: every outgoing envelope and every incoming one with its own
state, filters, counts, the receipt and history of one, and "retry now" (docs/federation.md, Screens).

The outgoing side is node kz (this process) delivering to node ru, a real peer process; the incoming side is this
process as node ru taking envelopes sealed by node kz (and am) through its own endpoint."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from django.test import Client

from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.exchange import services
from cybercoop.exchange.federation import inbox, outbox
from cybercoop.exchange.models import InboundEnvelope, InboundState, OutboxItem, OutboxState
from cybercoop.registry.selectors import PROTOCOL_CODE
from tests.accounts.factories import UserFactory
from tests.exchange.federation import next_message, seal, wire_message
from tests.nodes import start_node, stop_node

OUTGOING = "/deliveries/outgoing/"
INCOMING = "/deliveries/incoming/"


def _send(bodies, *, conversation=None, kind="fedtest.note"):
    return services.send(
        conversation=conversation or uuid.uuid4(),
        kind=kind,
        sender_body=bodies["KZ-MIA"],
        recipient_body=bodies["RU-MIA"],
        sender_user=None,
        instrument=PROTOCOL_CODE,
        marking="official",
        purposes=["investigation"],
        conditions=[],
        body={"text": "Сведения об абоненте 7701"},
    )


def _item(message):
    return OutboxItem.objects.get(message=message)


def _unreachable(url, payload, timeout):
    raise ConnectionRefusedError("connection refused by 127.0.0.1:9")


@pytest.fixture
def outgoing(kz, ru_peer):
    """One outgoing envelope in each state, made by the real outbox against the real peer node ru."""
    conversation = uuid.uuid4()
    failed = _send(kz, conversation=conversation)
    outbox.deliver_due(post=_unreachable)
    # The conversation's second message goes while the first waits for its retry: the peer holds it.
    held = _send(kz, conversation=conversation)
    outbox.deliver_due()
    receipted = _send(kz)
    rejected = _send(kz, kind="fedlocal.note")  # a kind the peer does not apply
    outbox.deliver_due()
    queued = _send(kz)
    items = {
        "failed": _item(failed),
        "sent": _item(held),
        "receipted": _item(receipted),
        "rejected": _item(rejected),
        "queued": _item(queued),
    }
    assert {state: item.state for state, item in items.items()} == {state: state for state in items}
    return items


@pytest.fixture
def kz_admin(kz):
    """The registrar of the Kazakh body: its Party's node administrator."""
    return UserFactory(username="kz.registrar", body=kz["KZ-MIA"], role="registrar")


def _listed(response):
    assert response.status_code == 200, response.content[:500]
    return [row.pk for row in response.context["page"]]


def test_the_outgoing_screen_lists_every_envelope_with_its_state_counts_and_filters(client, outgoing, kz_admin):
    client.force_login(kz_admin)
    r = client.get(OUTGOING)
    assert sorted(_listed(r)) == sorted(item.pk for item in outgoing.values())
    assert {row["state"]: row["count"] for row in r.context["counts"]} == dict.fromkeys(outgoing, 1)
    html = r.content.decode()
    for item in outgoing.values():
        assert f'data-testid="outgoing-{item.pk}" data-state="{item.state}"' in html
    assert "connection refused by 127.0.0.1:9" in html  # the failed one's error
    assert inbox.UNKNOWN_KIND in html  # the rejected one's reason, as the peer signed it
    assert "held by the receiving node" in html
    assert "Сведения об абоненте" not in html  # metadata only, never content

    for state, item in outgoing.items():
        assert _listed(client.get(OUTGOING, {"state": state})) == [item.pk]
    assert sorted(_listed(client.get(OUTGOING, {"node": "ru"}))) == sorted(i.pk for i in outgoing.values())
    assert client.get(OUTGOING, {"node": "kz"}).status_code == 400  # this node is not offered: it sends to others
    assert _listed(client.get(OUTGOING, {"state": "failed", "node": "ru"})) == [outgoing["failed"].pk]
    assert client.get(OUTGOING, {"state": "lost"}).status_code == 400


def test_an_envelopes_page_shows_its_verified_receipt_and_its_history(client, outgoing, kz_admin):
    client.force_login(kz_admin)
    item = outgoing["receipted"]
    r = client.get(f"{OUTGOING}{item.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert item.envelope_sha256 in html
    receipt = r.context["receipt"]
    assert receipt["stored"]
    assert receipt["claims"]["status"] == "accepted"
    assert receipt["claims"]["envelope_sha256"] == item.envelope_sha256
    assert 'data-testid="receipt-verified"' in html
    assert [entry.action for entry in r.context["history"]] == [AuditAction.MESSAGE_SENT]
    assert "Сведения об абоненте" not in html
    assert 'action="/deliveries/outgoing/' not in html  # nothing to retry

    rejected = client.get(f"{OUTGOING}{outgoing['rejected'].pk}/")
    claims = rejected.context["receipt"]["claims"]
    assert (claims["status"], claims["reason"]) == ("rejected", inbox.UNKNOWN_KIND)
    assert [e.action for e in rejected.context["history"]] == [AuditAction.MESSAGE_SENT, AuditAction.DELIVERY_REJECTED]

    queued = client.get(f"{OUTGOING}{outgoing['queued'].pk}/")
    assert queued.context["receipt"] == {"stored": False}


def test_a_receipt_that_no_longer_verifies_is_not_shown_as_the_peers_word(client, outgoing, kz_admin, kz):
    from cybercoop.exchange.federation import keys

    impostor = keys.generate("ru").public()
    kz["RU-MIA"].node.signing_jwk = dict(impostor.signing.as_dict(private=False))
    kz["RU-MIA"].node.save()
    client.force_login(kz_admin)
    r = client.get(f"{OUTGOING}{outgoing['receipted'].pk}/")
    assert "claims" not in r.context["receipt"]
    assert "bad signature" in r.context["receipt"]["problem"]


def test_retry_now_makes_a_failed_envelope_due_at_once_audited_and_the_worker_delivers_it(
    client, outgoing, kz_admin, ru_peer
):
    failed = outgoing["failed"]
    assert failed.next_attempt_at > clock.now()  # waiting for its backoff
    assert outbox.deliver_due() == 1  # the queued one; the failed one is not due yet
    assert OutboxItem.objects.get(pk=failed.pk).attempts == 1
    client.force_login(kz_admin)
    r = client.post(f"{OUTGOING}{failed.pk}/retry/")
    assert r.status_code == 302
    assert r["Location"] == f"{OUTGOING}{failed.pk}/"
    failed.refresh_from_db()
    assert failed.next_attempt_at <= clock.now()
    assert failed.state == OutboxState.FAILED  # still failed until the worker tries: nothing claimed here
    entry = AuditEntry.objects.get(action=AuditAction.DELIVERY_RETRY_REQUESTED)
    assert (entry.actor_id, entry.object_id, entry.body.code) == (kz_admin.pk, str(failed.message_id), "KZ-MIA")
    assert entry.data == {"peer": "ru", "state": "failed", "attempts": 1}

    assert outbox.deliver_due() == 1  # the worker's next pass takes it at once
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == (OutboxState.RECEIPTED, 2)
    history = client.get(f"{OUTGOING}{failed.pk}/").context["history"]
    assert [e.action for e in history] == [AuditAction.MESSAGE_SENT, AuditAction.DELIVERY_RETRY_REQUESTED]


@pytest.mark.parametrize("state", ["receipted", "rejected", "queued"])
def test_retry_now_is_refused_for_an_envelope_that_is_not_failed_or_sent(client, outgoing, kz_admin, state):
    item = outgoing[state]
    client.force_login(kz_admin)
    r = client.post(f"{OUTGOING}{item.pk}/retry/")
    assert r.status_code == 409
    assert (OutboxItem.objects.get(pk=item.pk).next_attempt_at, OutboxItem.objects.get(pk=item.pk).state) == (
        item.next_attempt_at,
        item.state,
    )
    assert not AuditEntry.objects.filter(action=AuditAction.DELIVERY_RETRY_REQUESTED).exists()


def test_retry_now_of_a_sent_envelope_is_allowed_and_needs_the_csrf_token(outgoing, kz_admin):
    held = outgoing["sent"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(kz_admin)
    assert browser.post(f"{OUTGOING}{held.pk}/retry/").status_code == 403  # no CSRF token
    page = browser.get(f"{OUTGOING}{held.pk}/")
    token = page.context["csrf_token"]
    assert browser.post(f"{OUTGOING}{held.pk}/retry/", {"csrfmiddlewaretoken": str(token)}).status_code == 302
    held.refresh_from_db()
    assert held.next_attempt_at <= clock.now()
    assert AuditEntry.objects.filter(action=AuditAction.DELIVERY_RETRY_REQUESTED).count() == 1


@pytest.mark.parametrize("role", ["officer", "head", "deputy", "auditor"])
def test_only_the_node_administrator_sees_the_screens_and_retries(client, outgoing, kz, role):
    client.force_login(UserFactory(username=f"kz.{role}", body=kz["KZ-MIA"], role=role))
    failed = outgoing["failed"]
    for url in (OUTGOING, INCOMING, f"{OUTGOING}{failed.pk}/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{OUTGOING}{failed.pk}/retry/").status_code == 403
    assert OutboxItem.objects.get(pk=failed.pk).next_attempt_at == failed.next_attempt_at
    assert "/deliveries/" not in client.get("/").content.decode()  # no link in the navigation


def test_the_navigation_links_the_screens_for_the_administrator(client, kz_admin):
    client.force_login(kz_admin)
    assert f'href="{OUTGOING}"' in client.get("/").content.decode()


def test_another_partys_registrar_sees_none_of_this_partys_envelopes(client, outgoing, kz):
    client.force_login(UserFactory(username="am.registrar", body=kz["AM-MIA"], role="registrar"))
    r = client.get(OUTGOING)
    assert _listed(r) == []
    assert all(row["count"] == 0 for row in r.context["counts"])
    assert client.get(f"{OUTGOING}{outgoing['failed'].pk}/").status_code == 404
    assert client.post(f"{OUTGOING}{outgoing['failed'].pk}/retry/").status_code == 404


# --- incoming: this process is node ru ------------------------------------------------------------------


@pytest.fixture
def incoming(federation, client):
    """Envelopes that arrived at node ru, one in each state and one from node am."""
    federation.become("ru")

    def post(*envelopes):
        r = client.post(
            "/federation/v1/messages", data=json.dumps({"envelopes": list(envelopes)}), content_type="application/json"
        )
        assert r.status_code == 200, r.content
        return r.json()["results"]

    def from_node(message, code="kz"):
        return seal(message, sender=federation.keys[code], recipient=federation.public("ru"))

    applied = wire_message()
    first = wire_message()
    waiting = next_message(first)  # its first message never came
    unknown = wire_message(kind="nosuch.note")  # a kind no domain here applies
    from_am = wire_message(sender=("am", "AM-MIA"))
    results = post(from_node(applied), from_node(waiting), from_node(unknown), from_node(from_am, "am"))
    assert [r["status"] for r in results] == ["accepted", "waiting", "rejected", "accepted"]
    [garbage] = post("not an envelope")
    assert garbage["status"] == "rejected"
    rows = {row.message_id and str(row.message_id): row for row in InboundEnvelope.objects.all()}
    return {
        "applied": rows[applied["id"]],
        "waiting": rows[waiting["id"]],
        "rejected": rows[unknown["id"]],
        "from_am": rows[from_am["id"]],
        "unopened": rows[None],
        "federation": federation,
    }


def test_the_incoming_screen_lists_every_envelope_with_its_state_and_filters(client, incoming):
    federation = incoming.pop("federation")
    client.force_login(UserFactory(username="ru.registrar", body=federation.bodies["RU-MIA"], role="registrar"))
    r = client.get(INCOMING)
    assert sorted(_listed(r)) == sorted(row.pk for row in incoming.values())
    counts = {row["state"]: row["count"] for row in r.context["counts"]}
    assert counts == {InboundState.APPLIED: 2, InboundState.WAITING: 1, InboundState.REJECTED: 2}
    html = r.content.decode()
    assert str(incoming["applied"].message_id) in html
    assert inbox.waiting_for(1) in html
    assert inbox.UNKNOWN_KIND in html
    assert "fedtest.note" in html
    assert "KZ-MIA → RU-MIA" in html
    assert "Привет" not in html  # never the content

    assert sorted(_listed(client.get(INCOMING, {"state": "applied"}))) == sorted(
        [incoming["applied"].pk, incoming["from_am"].pk]
    )
    assert _listed(client.get(INCOMING, {"state": "waiting"})) == [incoming["waiting"].pk]
    assert sorted(_listed(client.get(INCOMING, {"state": "rejected"}))) == sorted(
        [incoming["rejected"].pk, incoming["unopened"].pk]
    )
    assert _listed(client.get(INCOMING, {"node": "am"})) == [incoming["from_am"].pk]
    assert _listed(client.get(INCOMING, {"node": "kz", "state": "rejected"})) == [incoming["rejected"].pk]


def test_another_partys_registrar_sees_only_the_envelopes_addressed_to_no_one(client, incoming):
    federation = incoming.pop("federation")
    client.force_login(UserFactory(username="kz.registrar", body=federation.bodies["KZ-MIA"], role="registrar"))
    assert _listed(client.get(INCOMING)) == [incoming["unopened"].pk]


# --- at a browser ---------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the browser test touches no database itself.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

_FAILED_ENVELOPE = """
import datetime as dt, uuid
from cybercoop.exchange.models import Message, OutboxItem
from cybercoop.registry.models import Body
now = dt.datetime.now(dt.UTC)
message = Message.objects.create(
    conversation=uuid.uuid4(), kind="assistance.request", sender_body=Body.objects.get(code="KZ-MIA"),
    recipient_body=Body.objects.get(code="RU-MIA"), seq=1, position=1, created_at=now,
    instrument="csto-2014-information-sphere", marking="official", body={}, hash="0" * 64, transport="federation",
)
OutboxItem.objects.create(
    message=message, peer="ru", envelope="e", envelope_sha256="1" * 64, state="failed", attempts=3,
    next_attempt_at=now + dt.timedelta(minutes=2), last_error="the node ru is unreachable: connection refused",
    created_at=now, updated_at=now,
)
"""


@pytest.fixture(scope="module")
def screens_node(tmp_path_factory):
    """A seeded node whose outbox holds one failed envelope to node ru."""
    running = start_node(tmp_path_factory.mktemp("screens-node"))
    try:
        running.run("manage", "shell", "-c", _FAILED_ENVELOPE)
        yield running
    finally:
        stop_node(running)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True, "args": ["--no-sandbox"]}


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium")
def test_the_administrator_sees_a_failed_envelopes_error_in_the_browser(page, screens_node):
    from playwright.sync_api import expect

    from tests.e2e.test_sign_in import _sign_in

    _sign_in(page, screens_node.url, "kz.registrar")
    page.get_by_role("link", name="Доставка").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Исходящие конверты")
    expect(page.get_by_test_id("count-failed")).to_have_attribute("data-count", "1")
    row = page.get_by_test_id("outgoing").locator("tr[data-state=failed]")
    expect(row.get_by_test_id("problem")).to_have_text("the node ru is unreachable: connection refused")
    row.get_by_role("link").click()
    expect(page.get_by_test_id("last-error")).to_have_text("the node ru is unreachable: connection refused")
    expect(page.get_by_role("button", name="Повторить сейчас")).to_be_visible()
