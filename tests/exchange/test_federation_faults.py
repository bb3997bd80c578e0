"""The federation under faults (issue 5): two real nodes, each its own processes and database, joined by the
Secretariat's signed directory as an operator joins them — node kz, the Secretariat's (it keeps the registry,
signs the directory and serves KZ-MIA), and node ru (it pins the directory key, fetches the directory and
serves RU-MIA, RU-IC and RU-FSB).

- The sending node's worker is SIGKILLed at random moments while it delivers hundreds of messages, and
  restarted; the receiving node's server (gunicorn's master and workers) is SIGKILLed the same way in the
  middle of a stream of batches; the receiving node is stopped for a while. Each time every message arrives
  exactly once, in its sender's order, chained, and every outbox row ends receipted with a receipt that
  verifies.
- A node whose directory is stale sends for a body the Secretariat has since withdrawn (or moved off that
  node): the receiving node, whose registry is current, refuses it, and the refusal comes back to the sender
  signed, with its reason in the sender's outbox.

Time passes faster for the deliverer than for the rest: the worker (`cybercoop worker`, unchanged) runs with a
clock 3,600 times faster than the wall clock (`run_worker`), so that a lease of two minutes or a backoff of an
hour is over in a moment of the test. Nothing in the code under test knows it is being tested: the faults are
signals and stopped servers, and what is checked is read from each node's own database afterwards.

The functions without a leading `_` (other than the tests) run inside a node's process, started by
`_in_parallel` as `cybercoop manage shell`; what they return comes back as JSON.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.exchange.peer import Peer
from tests.nodes import _create_database, _drop_database, free_port

SPEED = 3600  # the deliverer's clock: an hour for every second of the wall clock
WORKER_INTERVAL = 0.1  # seconds between the worker's passes (six minutes of its clock)


@dataclass
class Pair:
    """The two running nodes, and the instant from which the deliverers' fast clocks count."""

    kz: Peer
    ru: Peer
    origin: dt.datetime


# --- the nodes -----------------------------------------------------------------------------------------------


def _new_node(tmp: Path, code: str) -> Peer:
    """A node's data folder, address, environment and database (PostgreSQL on a PostgreSQL run); nothing runs yet."""
    tmp.mkdir()
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CYBERCOOP_DATA_DIR": str(tmp),
            "CYBERCOOP_NODE_ID": code,
            "CYBERCOOP_NODE_URL": f"http://127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": "tests.exchange.peer_settings",
            "CYBERCOOP_DIRECTORY_URL": "",
        }
    )
    database = None
    if os.environ.get("DATABASE_URL"):
        database, env["DATABASE_URL"] = _create_database(os.environ["DATABASE_URL"])
    else:
        env.pop("DATABASE_URL", None)
    return Peer(code=code, url=f"http://127.0.0.1:{port}", port=port, data_dir=tmp, env=env, jwks={}, database=database)


def _in_parallel(*calls: tuple[Peer, str, dict[str, Any]]) -> list[Any]:
    """Run node-side functions of this module, each in a process of its node, all at once (the machine has
    two cores and most of a process's time is its start); what each returned, in order."""
    processes = []
    for node, function, kwargs in calls:
        code = (
            f"import json; from {__name__} import {function}; "
            f"print(json.dumps({function}(**json.loads({json.dumps(kwargs)!r}))))"
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "cybercoop", "manage", "shell", "-v", "0", "-c", code],
                env=node.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=300) for process in processes]  # every process ends before any check
    answers = []
    for (node, function, _kwargs), process, (out, err) in zip(calls, processes, outputs, strict=True):
        if process.returncode != 0:
            raise AssertionError(f"{node.code}: {function} failed:\n{out}\n{err}")
        answers.append(json.loads(out.strip().splitlines()[-1]))
    return answers


def _call(node: Peer, function: str, /, **kwargs: Any) -> Any:
    """Run one of this module's node-side functions in a process of `node`; what it returned."""
    return _in_parallel((node, function, kwargs))[0]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Nodes kz (the Secretariat's) and ru, joined by the directory, both serving."""
    root = tmp_path_factory.mktemp("faults")
    kz, ru = _new_node(root / "kz", "kz"), _new_node(root / "ru", "ru")
    ru.env["CYBERCOOP_DIRECTORY_URL"] = kz.url
    try:
        kz.jwks, ru.jwks = _in_parallel((kz, "prepare_node", {"code": "kz"}), (ru, "prepare_node", {"code": "ru"}))
        kz.env["FEDTEST_NODES"] = json.dumps(
            {"kz": {"url": kz.url, "jwks": kz.jwks}, "ru": {"url": ru.url, "jwks": ru.jwks}}
        )
        directory_key = _call(kz, "set_up_secretariat")
        with concurrent.futures.ThreadPoolExecutor() as pool:
            for started in [pool.submit(kz.start), pool.submit(ru.start)]:
                started.result()
        assert _call(ru, "join_federation", directory_key=directory_key) == "applied"
        yield Pair(kz=kz, ru=ru, origin=dt.datetime.now(dt.UTC))
    finally:
        for peer in (kz, ru):
            peer.stop()
            if peer.database:
                _drop_database(os.environ["DATABASE_URL"], peer.database)


def prepare_node(*, code: str) -> dict[str, Any]:
    """A new node's tables (`cybercoop manage migrate`) and keys (`cybercoop node init --id CODE`); returns the
    public keys to register."""
    from django.core.management import call_command

    from cybercoop.exchange.federation import keys, node

    call_command("migrate", interactive=False, verbosity=0)
    return keys.public_jwks(node.init_node(code))


def set_up_secretariat() -> dict[str, Any]:
    """On node kz: the registry (as the federation's tests make it: the Protocol in force between Kazakhstan,
    Russia and Armenia, their ministries designated, nodes kz and ru), plus two more Russian bodies designated
    under the Protocol and served by node ru; then the directory key and the first directory. Returns the
    directory key's public half, for the other node to pin."""
    from cybercoop.exchange.federation import directory
    from cybercoop.registry.models import Body, Node
    from cybercoop.registry.selectors import protocol
    from tests.assistance.factories import designate
    from tests.exchange.federation import setup_from_environment
    from tests.registry.factories import BodyFactory

    setup_from_environment()
    russia = Body.objects.get(code="RU-MIA").party
    for code in ("RU-IC", "RU-FSB"):
        designate(protocol(), BodyFactory(party=russia, code=code, node=Node.objects.get(code="ru")))
    key = directory.public_key_jwk()
    directory.publish()
    return key


def join_federation(*, directory_key: dict[str, Any]) -> str:
    """On node ru: pin the Secretariat's directory key and fetch the directory (`cybercoop node pin|refresh`)."""
    from cybercoop.exchange.federation import directory

    directory.pin(directory_key)
    return directory.refresh().status


# --- node-side: sending, delivering, and what each side holds ---------------------------------------------------


def send_notes(*, count: int, conversations: list[str]) -> list[str]:
    """`count` test notes from KZ-MIA to RU-MIA, dealt round the conversations in turn (so that every batch
    mixes them), each through `exchange.services.send` in its own transaction; their ids, in order."""
    from cybercoop.exchange import services
    from cybercoop.registry.models import Body
    from cybercoop.registry.selectors import PROTOCOL_CODE

    sender, recipient = Body.objects.get(code="KZ-MIA"), Body.objects.get(code="RU-MIA")
    ids = []
    for number in range(count):
        message = services.send(
            conversation=uuid.UUID(conversations[number % len(conversations)]),
            kind="fedtest.note",
            sender_body=sender,
            recipient_body=recipient,
            sender_user=None,
            instrument=PROTOCOL_CODE,
            marking="official",
            purposes=["investigation"],
            conditions=[],
            body={"text": f"note {number}"},
        )
        ids.append(str(message.id))
    return ids


def sender_report(*, conversations: list[str], peer: str) -> dict[str, Any]:
    """The sending side: each outbox row of these conversations, with its receipt's claims once the receipt
    verifies with the keys the directory lists for the receiving node (it raises otherwise)."""
    from cybercoop.exchange.federation import envelope, node
    from cybercoop.exchange.models import Message, OutboxItem

    keys = node.peer_keys(peer)
    rows = []
    items = OutboxItem.objects.filter(message__conversation__in=conversations).select_related("message")
    for item in items.order_by("pk"):
        receipt = None
        if item.receipt:
            claims = envelope.verify_receipt(
                item.receipt,
                expected_message_id=str(item.message_id),
                expected_envelope_sha256=item.envelope_sha256,
                signer=keys,
            )
            receipt = {"status": claims["status"], "reason": claims.get("reason"), "node": claims["node"]}
        rows.append(
            {
                "id": str(item.message_id),
                "kind": item.message.kind,
                "hash": item.message.hash,
                "state": item.state,
                "attempts": item.attempts,
                "last_error": item.last_error,
                "reason": item.reason,
                "next_attempt_at": item.next_attempt_at.isoformat(),
                "receipt": receipt,
            }
        )
    sent = Message.objects.filter(conversation__in=conversations, transport="federation").count()
    return {"rows": rows, "messages": sent}


def receiver_report(*, conversations: list[str]) -> dict[str, Any]:
    """The receiving side: the messages of these conversations in the order this node applied them, the
    envelope rows it keeps for them, and how many times each message was recorded as received."""
    from django.db.models import Count

    from cybercoop.audit.models import AuditEntry
    from cybercoop.audit.rules import AuditAction
    from cybercoop.exchange.models import InboundEnvelope, Message

    messages = Message.objects.filter(conversation__in=conversations).select_related("sender_body")
    received = (
        AuditEntry.objects.filter(action=AuditAction.MESSAGE_RECEIVED, object_id__in=[str(m.id) for m in messages])
        .values("object_id")
        .annotate(n=Count("pk"))
    )
    envelopes = InboundEnvelope.objects.filter(conversation__in=conversations).order_by("pk")
    return {
        "messages": [
            {
                "id": str(m.id),
                "conversation": str(m.conversation),
                "position": m.position,
                "seq": m.seq,
                "prev": m.prev_hash,
                "hash": m.hash,
                "transport": m.transport,
            }
            for m in messages.order_by("conversation", "position")
        ],
        "received": {row["object_id"]: row["n"] for row in received},
        "envelopes": [{"id": str(e.message_id), "state": e.state, "reason": e.reason} for e in envelopes],
    }


def send_and_deliver(*, count: int, conversations: list[str], at: str) -> dict[str, Any]:
    """`send_notes`, then one pass of the worker (`cybercoop worker --once`) with this node's clock standing
    at `at`; the notes' ids, the sender's report of these conversations, and what `cybercoop node outbox`
    shows the operator then."""
    import io

    from django.core.management import call_command

    from cybercoop.core import clock

    ids = send_notes(count=count, conversations=conversations)
    with clock.use_clock(clock.FrozenClock(dt.datetime.fromisoformat(at))):
        call_command("worker", once=True)
    shown = io.StringIO()
    call_command("node", "outbox", stdout=shown)
    return {"ids": ids, **sender_report(conversations=conversations, peer="ru"), "outbox": shown.getvalue()}


class FastClock:
    """Wall-clock time since `origin`, sped up `speed` times: leases and backoffs pass in a moment, and a
    restarted deliverer finds the clock where the killed one left it (it never runs backwards)."""

    def __init__(self, origin: dt.datetime, speed: float) -> None:
        self.origin, self.speed = origin, speed

    def now(self) -> dt.datetime:
        return self.origin + (dt.datetime.now(dt.UTC) - self.origin) * self.speed


def run_worker(*, origin: str, speed: float, interval: float) -> None:
    """`cybercoop worker --interval INTERVAL` on this node, under a FastClock; it runs until it is killed."""
    from django.core.management import call_command

    from cybercoop.core import clock

    with clock.use_clock(FastClock(dt.datetime.fromisoformat(origin), speed)):
        call_command("worker", interval=interval)


@contextlib.contextmanager
def _worker(peer: Peer, origin: dt.datetime, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The node's worker in a session of its own (so that SIGKILL reaches all of it), killed when the block ends."""
    code = (
        f"from {__name__} import run_worker; "
        f"run_worker(origin={origin.isoformat()!r}, speed={SPEED}, interval={WORKER_INTERVAL})"
    )
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "manage", "shell", "-v", "0", "-c", code],
            env=peer.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(condition: Callable[[], Any], *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout} s: {condition}")
        time.sleep(0.02)


# --- reading a node's outbox from here, while its processes run -----------------------------------------------


def _outbox_states(peer: Peer) -> dict[str, int]:
    """How many outbox rows of the node are in each state, read from its database directly (a `cybercoop`
    process would take a second of a core the nodes need)."""
    query = "SELECT state, last_error = '', COUNT(*) FROM exchange_outboxitem GROUP BY state, last_error = ''"
    if peer.database:
        with psycopg.connect(peer.env["DATABASE_URL"], autocommit=True) as connection:
            rows = connection.execute(query).fetchall()
    else:
        with contextlib.closing(sqlite3.connect(peer.data_dir / "cybercoop.sqlite3", timeout=20)) as connection:
            rows = connection.execute(query).fetchall()
    states: dict[str, int] = {}
    for state, no_error, count in rows:
        states[state] = states.get(state, 0) + count
        if state == "sent" and no_error:
            states["in flight"] = states.get("in flight", 0) + count
    return states


def _pending(states: dict[str, int]) -> int:
    return sum(count for state, count in states.items() if state in ("queued", "sent", "failed"))


def _claimed_or_done(peer: Peer) -> bool:
    """Has the node's deliverer claimed envelopes it has not recorded the fate of yet (or is all delivered)?"""
    states = _outbox_states(peer)
    return bool(states.get("sent")) or not _pending(states)


def _until_delivered(peer: Peer, log: Path, *, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while _pending(states := _outbox_states(peer)):
        if time.monotonic() > deadline:
            raise AssertionError(f"still pending after {timeout} s: {states}\n" + log.read_text()[-3000:])
        time.sleep(0.2)


# --- what must hold after any fault -----------------------------------------------------------------------------


def _assert_delivered_once_in_order(pair: Pair, conversations: list[str], sent_ids: list[str]) -> dict[str, Any]:
    """Every message sent in these conversations is on the receiving node exactly once, applied in its
    sender's order with its chain intact and the sender's hash; every outbox row is receipted with a receipt
    of the receiving node that verifies and says the message was accepted. Returns the sender's report."""
    sender, receiver = _in_parallel(
        (pair.kz, "sender_report", {"conversations": conversations, "peer": "ru"}),
        (pair.ru, "receiver_report", {"conversations": conversations}),
    )

    rows = {row["id"]: row for row in sender["rows"]}
    assert sorted(rows) == sorted(sent_ids)
    assert sender["messages"] == len(sent_ids)
    not_receipted = [row for row in sender["rows"] if row["state"] != "receipted"]
    assert not not_receipted, not_receipted[:5]
    bad_receipts = [
        row for row in sender["rows"] if row["receipt"] != {"status": "accepted", "reason": None, "node": "ru"}
    ]
    assert not bad_receipts, bad_receipts[:5]

    messages = receiver["messages"]
    assert sorted(m["id"] for m in messages) == sorted(sent_ids)  # none lost, none added
    assert receiver["received"] == dict.fromkeys(sent_ids, 1)  # each received (stored and applied) once
    assert sorted(e["id"] for e in receiver["envelopes"]) == sorted(sent_ids)  # one envelope row per message
    assert {e["state"] for e in receiver["envelopes"]} == {"applied"}
    for conversation in conversations:
        chain = [m for m in messages if m["conversation"] == conversation]  # in the order applied here
        assert [m["position"] for m in chain] == list(range(1, len(chain) + 1))
        assert [m["seq"] for m in chain] == list(range(1, len(chain) + 1))
        assert [m["prev"] for m in chain] == ["", *[m["hash"] for m in chain[:-1]]]
        assert all(m["hash"] == rows[m["id"]]["hash"] and m["transport"] == "federation" for m in chain)
    return sender


def _conversations(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


# --- the tests ---------------------------------------------------------------------------------------------------


@pytest.mark.rule("P4.1")
def test_a_sender_killed_while_delivering_loses_nothing_and_applies_nothing_twice(nodes, tmp_path):
    conversations = _conversations(5)
    sent_ids = _call(nodes.kz, "send_notes", count=250, conversations=conversations)
    log = tmp_path / "kz-worker.log"
    rng = random.Random()
    kills, caught = 0, 0
    # Kill the worker at a random moment once it has claimed envelopes, again and again, until two kills have
    # caught envelopes in flight (claimed, and posted or being posted, their answers not recorded).
    while caught < 2 and kills < 8 and _pending(_outbox_states(nodes.kz)):
        with _worker(nodes.kz, nodes.origin, log) as worker:
            _wait_for(lambda: _claimed_or_done(nodes.kz))
            time.sleep(rng.uniform(0, 0.4))
            _kill(worker)
        kills += 1
        caught += bool(_outbox_states(nodes.kz).get("in flight"))
    assert caught >= 1, f"no kill caught envelopes in flight in {kills} kills"
    with _worker(nodes.kz, nodes.origin, log):  # the last restart, left to finish
        _until_delivered(nodes.kz, log)

    sender = _assert_delivered_once_in_order(nodes, conversations, sent_ids)
    assert max(row["attempts"] for row in sender["rows"]) >= 2  # some went twice, and were applied once


@pytest.mark.rule("P4.1")
def test_a_receiver_killed_in_the_middle_of_a_stream_of_batches_applies_each_message_once(nodes, tmp_path):
    conversations = _conversations(5)
    sent_ids = _call(nodes.kz, "send_notes", count=200, conversations=conversations)
    log = tmp_path / "kz-worker.log"
    rng = random.Random()
    # What the sender's HTTP client says when the server dies in the middle of a request.
    cut = ("closed connection", "reset by peer", "Connection aborted", "IncompleteRead")
    kills = 0
    try:
        with _worker(nodes.kz, nodes.origin, log):
            # Kill the receiving server (its master and workers) at a random moment while a batch is posted to
            # it, and bring it back, until a kill has cut a request it was answering, and at least twice.
            while kills < 8 and _pending(_outbox_states(nodes.kz)):
                _wait_for(lambda: _claimed_or_done(nodes.kz))
                time.sleep(rng.uniform(0, 0.3))
                nodes.ru.kill()
                kills += 1
                time.sleep(rng.uniform(0, 0.3))
                nodes.ru.start()
                if kills >= 2 and any(text in log.read_text(errors="replace") for text in cut):
                    break
            _until_delivered(nodes.kz, log)
    finally:
        if nodes.ru.process is None:
            nodes.ru.start()
    worker_log = log.read_text(errors="replace")
    assert any(text in worker_log for text in cut), f"no kill cut a request in {kills} kills:\n{worker_log[-3000:]}"

    _assert_delivered_once_in_order(nodes, conversations, sent_ids)


@pytest.mark.rule("P4.1")
def test_a_receiver_down_for_a_while_gets_every_message_in_order_when_it_returns(nodes, tmp_path):
    conversations = _conversations(3)
    # The two passes below run at set instants of the sender's clock, ten minutes ahead of the wall clock, so
    # that what is due in each does not depend on how fast this machine is.
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    nodes.ru.stop()
    try:  # seq 1 to 3 of each conversation, while the receiving node is down
        down = _call(nodes.kz, "send_and_deliver", count=9, conversations=conversations, at=at.isoformat())
    finally:
        nodes.ru.start()
    first = down["ids"]
    assert [row["state"] for row in down["rows"]] == ["failed"] * 9
    for row in down["rows"]:
        assert row["attempts"] == 1
        assert row["receipt"] is None
        assert f"{nodes.ru.url}/federation/v1/messages is unreachable" in row["last_error"]
        next_attempt = dt.datetime.fromisoformat(row["next_attempt_at"])
        assert at + dt.timedelta(seconds=15) <= next_attempt <= at + dt.timedelta(seconds=30)  # the backoff
        assert (
            f"{row['id']}  fedtest.note  → ru (attempt 1, next {next_attempt:%Y-%m-%d %H:%M:%S} UTC)" in down["outbox"]
        )

    # Back; each conversation's fourth message goes first, while the first three wait for their next attempt.
    back = _call(nodes.kz, "send_and_deliver", count=3, conversations=conversations, at=at.isoformat())
    fourth = back["ids"]
    rows = {row["id"]: row for row in back["rows"]}
    assert [rows[i]["state"] for i in first] == ["failed"] * 9  # not due yet: not sent again
    for message_id in fourth:
        assert rows[message_id]["state"] == "sent"  # held there, to be asked for again
        assert rows[message_id]["last_error"] == "held by the receiving node: waiting for seq 1"
        assert rows[message_id]["receipt"] is None

    log = tmp_path / "kz-worker.log"
    with _worker(nodes.kz, nodes.origin, log):  # time passes
        _until_delivered(nodes.kz, log)
    # Applied there in each conversation's order (the fourth, which came first, last), each once.
    _assert_delivered_once_in_order(nodes, conversations, first + fourth)


# --- a stale directory ------------------------------------------------------------------------------------------


def change_registry() -> int:
    """On the Secretariat's node: Russia withdraws the designation of RU-IC under the Protocol from today
    (P4.2), and RU-FSB is served by no node any more; returns the version of the directory then published."""
    from cybercoop.exchange.federation import directory
    from cybercoop.registry import selectors
    from cybercoop.registry import services as registry_services
    from cybercoop.registry.models import Body

    investigators, security = Body.objects.get(code="RU-IC"), Body.objects.get(code="RU-FSB")
    registry_services.file_designation(
        actor=None,
        instrument=selectors.protocol(),
        party=investigators.party,
        kind="withdrawn",
        body=investigators,
        effective_on=selectors.depositary_today(),
        reference="Нота МИД России",
    )
    registry_services.assign_body_node(actor=None, body=security, node=None)
    return directory.publish().version


def directory_view() -> dict[str, Any]:
    """The version of this node's directory, and what it says today of RU-IC and RU-FSB."""
    from cybercoop.exchange.federation import directory, node
    from cybercoop.registry import selectors
    from cybercoop.registry.models import Body

    today, held = selectors.depositary_today(), directory.latest()
    view: dict[str, Any] = {"version": held.version if held is not None else None}
    for body in Body.objects.select_related("node").filter(code__in=["RU-IC", "RU-FSB"]):
        designated = selectors.is_designated(body=body, instrument=selectors.protocol(), on=today)
        view[body.code] = {"designated": designated, "node": node.node_code(body)}
    return view


def send_requests(*, bodies: list[str], to: str) -> dict[str, Any]:
    """On a requesting node, what its directory says first; then for each body, its officer drafts a request
    to `to` under the Protocol and its head approves and sends it (`assistance.services`, as the screens do).
    Returns the directory's view and each request's message id."""
    from cybercoop.exchange.models import Message
    from cybercoop.registry import selectors
    from cybercoop.registry.models import Body
    from tests.accounts.factories import UserFactory
    from tests.assistance.factories import sent

    view = directory_view()
    messages = {}
    for code in bodies:
        body = Body.objects.get(code=code)
        officer = UserFactory(body=body, role="officer", username=f"{code.lower()}.officer", receives_incoming=True)
        head = UserFactory(body=body, role="head", username=f"{code.lower()}.head")
        case = sent(officer, head, Body.objects.get(code=to), selectors.protocol())
        messages[code] = str(
            Message.objects.get(conversation=case.id, sender_body=body).id
        )  # a case is its conversation
    return {"view": view, "messages": messages}


def receiving_side(*, message_ids: list[str]) -> dict[str, Any]:
    """What the receiving node kept of these messages: stored messages, envelope rows, audited rejections."""
    from cybercoop.audit.models import AuditEntry
    from cybercoop.audit.rules import AuditAction
    from cybercoop.exchange.models import InboundEnvelope, Message

    rejections = AuditEntry.objects.filter(action=AuditAction.ENVELOPE_REJECTED).order_by("pk")
    return {
        "stored": Message.objects.filter(id__in=message_ids).count(),
        "envelopes": sorted(
            [str(e.message_id), e.state, e.reason] for e in InboundEnvelope.objects.filter(message_id__in=message_ids)
        ),
        "audited": sorted(
            [e.data["message_id"], e.data["reason"]] for e in rejections if e.data.get("message_id") in message_ids
        ),
    }


def sending_side(*, message_ids: list[str], to: str) -> dict[str, Any]:
    """What the sending node holds of these messages (outbox rows with their verified receipts, audited
    rejections, `cybercoop node outbox`); then it fetches the directory (`cybercoop node refresh`) and
    says what it says, and whether an officer of RU-IC may still draft a request to `to` (the refused fields)."""
    import io

    from django.core.management import call_command

    from cybercoop.assistance import services
    from cybercoop.audit.models import AuditEntry
    from cybercoop.audit.rules import AuditAction
    from cybercoop.core.errors import InvalidInput
    from cybercoop.exchange.models import Message
    from cybercoop.registry import selectors
    from cybercoop.registry.models import Body
    from tests.accounts.factories import UserFactory
    from tests.assistance.factories import REQUEST_FIELDS

    conversations = [str(m.conversation) for m in Message.objects.filter(id__in=message_ids)]
    report = sender_report(conversations=conversations, peer="kz")
    rejections = AuditEntry.objects.filter(action=AuditAction.DELIVERY_REJECTED, object_id__in=message_ids)
    shown, refreshed = io.StringIO(), io.StringIO()
    call_command("node", "outbox", stdout=shown)
    call_command("node", "refresh", stdout=refreshed)
    officer = UserFactory(
        body=Body.objects.get(code="RU-IC"), role="officer", username="ru-ic.officer", receives_incoming=True
    )
    try:
        services.create_draft(
            actor=officer, requested_body=Body.objects.get(code=to), instrument=selectors.protocol(), **REQUEST_FIELDS
        )
        refused: list[str] = []
    except InvalidInput as error:
        refused = sorted(error.errors)
    return {
        "rows": {row["id"]: row for row in report["rows"]},
        "audited": sorted([e.object_id, e.data["reason"]] for e in rejections),
        "outbox": shown.getvalue(),
        "refresh": refreshed.getvalue(),
        "view": directory_view(),
        "draft_refused": refused,
    }


@pytest.mark.rule("P4.1")
@pytest.mark.rule("P4.2")
def test_a_node_with_a_stale_directory_gets_back_the_refusal_of_a_body_withdrawn_since(nodes):
    kz, ru = nodes.kz, nodes.ru
    # The Secretariat records Russia's withdrawal of RU-IC and moves RU-FSB off node ru, and publishes.
    published, before = _in_parallel((kz, "change_registry", {}), (ru, "directory_view", {}))
    assert published == 2
    # Node ru has not fetched it yet: its directory still lets both bodies draft, approve and send.
    stale = {"version": 1, "RU-IC": {"designated": True, "node": "ru"}, "RU-FSB": {"designated": True, "node": "ru"}}
    assert before == stale
    sent = _call(ru, "send_requests", bodies=["RU-IC", "RU-FSB"], to="KZ-MIA")
    assert sent["view"] == stale
    withdrawn, moved = sent["messages"]["RU-IC"], sent["messages"]["RU-FSB"]
    ru.run("worker", "--once")  # its worker delivers them

    on_kz, on_ru = _in_parallel(
        (kz, "receiving_side", {"message_ids": [withdrawn, moved]}),
        (ru, "sending_side", {"message_ids": [withdrawn, moved], "to": "KZ-MIA"}),
    )
    # The Kazakh node, whose registry is current, refuses both: nothing of them is stored or applied there.
    not_designated, not_served = "body not designated", "body not served by the sending node"
    assert on_kz["stored"] == 0
    assert on_kz["envelopes"] == sorted([[withdrawn, "rejected", not_designated], [moved, "rejected", not_served]])
    assert on_kz["audited"] == sorted([[withdrawn, not_designated], [moved, not_served]])
    # Node ru holds the signed refusals with their reasons: in its outbox, its audit log, `cybercoop node outbox`.
    for message_id, reason in ((withdrawn, not_designated), (moved, not_served)):
        row = on_ru["rows"][message_id]
        assert (row["state"], row["reason"], row["attempts"]) == ("rejected", reason, 1)
        assert row["receipt"] == {"status": "rejected", "reason": reason, "node": "kz"}
        assert f"{message_id}  assistance.request  → kz  rejected: {reason}" in on_ru["outbox"]
    assert on_ru["audited"] == sorted([[withdrawn, not_designated], [moved, not_served]])
    # Once node ru has the new directory (its worker or `node refresh` fetches it), RU-IC may no longer draft.
    assert on_ru["refresh"].split(":")[0] in ("applied", "unchanged")
    assert on_ru["view"] == {
        "version": 2,
        "RU-IC": {"designated": False, "node": "ru"},
        "RU-FSB": {"designated": True, "node": ""},
    }
    assert on_ru["draft_refused"] == ["requesting_body"]
