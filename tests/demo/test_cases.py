"""The demo cases replayed through the services (cybercoop.demo.cases): on one node every case to its end; a node
with only some of the users stops at the other users' acts and says which; a second pass repeats nothing."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import OperationalError
from psycopg.errors import DeadlockDetected

from cybercoop.accounts import services as account_services
from cybercoop.assistance.models import Case
from cybercoop.demo import cases, data
from cybercoop.demo.federation import FederatedNode, nodes_with_cases
from cybercoop.demo.seed import seed
from cybercoop.exchange.models import Message
from cybercoop.registry import selectors as registry

# Where the single-node demo puts each case (the multi-node demo puts them there too: test_federated_demo.py).
STATES = {
    "executed": "executed",
    "information": "awaiting_information",
    "urgent": "sent",
    "incoming": "sent",
    "partial": "in_execution",
    "consent": "executed",
    "draft": "awaiting_approval",
}
SUBJECTS = {key: subject for key, _author, _to, _urgent, subject, _steps in data.CASES}


def _states() -> dict[str, str]:
    keys = {subject: key for key, subject in SUBJECTS.items()}
    return {keys[case.subject]: case.state for case in Case.objects.all()}


def _registry_and_users(of_body: Callable[[str], bool]) -> None:
    """The demo's registry, and those of its users whose body code `of_body` accepts; no case played yet."""
    seed(password="demo password for tests 1", users=False)
    for username, body, role, full_name, position in data.USERS:
        if of_body(body):
            account_services.create_user(
                actor=None,
                username=username,
                full_name=full_name,
                position=position,
                body=registry.get_body(code=body),
                role=role,
                password="demo password for tests 1",
                receives_incoming=username in data.RECEIVES_INCOMING,
            )


@pytest.mark.django_db
def test_one_node_plays_every_demo_case_to_its_end_and_a_second_pass_repeats_nothing():
    seed(password="demo password for tests 1")
    assert _states() == STATES
    assert Case.objects.get(subject=SUBJECTS["partial"]).partially_refused
    assert Case.objects.get(subject=SUBJECTS["consent"]).conditions_accepted == [
        "Сведения используются только по уголовному делу, указанному в запросе."
    ]
    messages = Message.objects.count()
    assert cases.advance_cases() == []
    assert Message.objects.count() == messages
    assert _states() == STATES


@pytest.mark.django_db
def test_a_node_with_only_the_kazakh_users_stops_at_each_russian_act_and_names_it():
    _registry_and_users(lambda body: body.startswith("KZ-"))
    waiting = cases.advance_cases()
    # The Kazakh requests went as far as the Kazakh users take them; the Russian ones have not arrived (and are taken
    # up in the demo's order: the first that has not arrived is named, the later ones not yet looked for).
    assert [(stop.key, stop.actor, stop.action, stop.arrived) for stop in waiting] == [
        ("executed", "ru.officer", "receipt", True),
        ("information", "ru.officer", "receipt", True),
        ("incoming", "ru.head", "approve", False),
    ]
    assert _states() == {"executed": "sent", "information": "sent", "urgent": "sent", "draft": "awaiting_approval"}
    assert cases.advance_cases() == waiting  # nothing arrived, nothing done
    with pytest.raises(cases.PlayError, match=r"still waiting: case 'executed' .*ru\.officer's receipt \(day 1\)"):
        cases.play_cases(timeout=0)


def test_the_play_concerns_the_nodes_of_the_bodies_the_demo_requests_go_between():
    nodes = [
        FederatedNode(code=code, label=code, url="http://127.0.0.1:1", data_dir=Path())
        for code in ("secretariat", "kz", "ru", "am")
    ]
    # The draft to the Armenian body is only submitted: it never leaves the Kazakh node.
    assert [node.code for node in nodes_with_cases(nodes)] == ["kz", "ru"]
    assert [node.code for node in nodes_with_cases(nodes[:3])] == ["kz", "ru"]


@pytest.mark.django_db
def test_an_act_the_database_gives_up_on_is_tried_again_on_the_next_pass(monkeypatch):
    """A deadlock or lock timeout (core.contention) changes nothing: the play says so and tries the act again, as a
    user answered 503 would, instead of failing the demo. (The failure is injected here; the database's own refusal
    is tested in tests/assistance/test_contention.py.)"""
    _registry_and_users(lambda body: True)
    register, kind = cases.ACTIONS["receipt"]
    refused = []

    def once_given_up(user, case, args):
        if not refused:
            refused.append(case.subject)
            # As Django raises PostgreSQL's refusal: its OperationalError, from psycopg's error for the SQLSTATE.
            raise OperationalError("deadlock detected\nDETAIL: …") from DeadlockDetected("deadlock detected")
        return register(user, case, args)

    monkeypatch.setitem(cases.ACTIONS, "receipt", (once_given_up, kind))

    waiting = cases.advance_cases()

    assert [(stop.key, stop.actor, stop.action, stop.busy) for stop in waiting] == [
        ("executed", "ru.officer", "receipt", "deadlock detected")
    ]
    assert "given up by the database" in str(waiting[0])
    assert Case.objects.get(subject=SUBJECTS["executed"]).state == "sent"  # nothing of the act, nothing after it
    assert cases.advance_cases() == []
    assert _states() == STATES
