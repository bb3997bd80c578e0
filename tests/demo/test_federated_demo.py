"""The multi-node demo plays every demo case to its end, across real nodes: the Secretariat's, Kazakhstan's and
Russia's, each its own processes and database, each doing its own users' acts as the other's arrive
(`seed_demo --node ID --play`, as `make demo` runs it). Then every case is where the single-node demo puts it, on
both sides, and the consent case shows P10.2 at work: the results' file, received by the Russian body under the
condition it accepted, is not used in another case until the Kazakh body, asked across the nodes, consents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cybercoop.demo import data
from cybercoop.demo.federation import FederatedNode
from tests.nodes import api_call, api_token, federation_of_nodes, run_cybercoop

SUBJECTS = {key: subject for key, _author, _to, _urgent, subject, _steps in data.CASES}
# Where the single-node demo puts each case (tests/demo/test_cases.py), on the requesting node: its state; on the
# requested node: its state and the incoming number it registered it under (in the demo's order, as on one node).
KZ_OUTBOX = {
    "executed": "executed",
    "information": "awaiting_information",
    "urgent": "sent",
    "draft": "awaiting_approval",
}
RU_INBOX = {
    "executed": ("executed", "RU-MIA-2026-I-00001"),
    "information": ("awaiting_information", "RU-MIA-2026-I-00002"),
    "urgent": ("sent", ""),
}
RU_OUTBOX = {"incoming": "sent", "partial": "in_execution", "consent": "executed"}
KZ_INBOX = {
    "incoming": ("sent", ""),
    "partial": ("in_execution", "KZ-MIA-2026-I-00001"),
    "consent": ("executed", "KZ-MIA-2026-I-00002"),
}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FederatedNode]]:
    with federation_of_nodes(tmp_path_factory.mktemp("played"), play=True) as nodes:
        yield nodes


def _get(node: FederatedNode, token: str, path: str) -> Any:
    status, answer = api_call(node, token, "GET", path)
    assert status == 200, (node.code, path, status, answer)
    return answer


def _listed(node: FederatedNode, token: str, box: str) -> dict[str, tuple[str, str]]:
    """The demo cases of a node's inbox or outbox, by key: their state and incoming number."""
    keys = {subject: key for key, subject in SUBJECTS.items()}
    items = _get(node, token, f"/cases/{box}?limit=200")["items"]
    return {
        keys[item["subject"]]: (item["state"], item["incoming_number"]) for item in items if item["subject"] in keys
    }


@pytest.mark.rule("P10.2")
def test_the_federated_demo_plays_every_case_to_its_end_on_both_nodes(played):
    kz, ru = played["kz"], played["ru"]
    kz_officer, ru_officer = api_token(kz, "kz.officer"), api_token(ru, "ru.officer", scope="act")
    # Each case where the single-node demo puts it, seen alike by the side that sent it and the side that got it.
    assert {key: state for key, (state, _number) in _listed(kz, kz_officer, "outgoing").items()} == KZ_OUTBOX
    assert _listed(ru, ru_officer, "incoming") == RU_INBOX
    assert {key: state for key, (state, _number) in _listed(ru, ru_officer, "outgoing").items()} == RU_OUTBOX
    assert _listed(kz, kz_officer, "incoming") == KZ_INBOX

    # The consent case: the Kazakh officer's conditions, accepted on the Russian node, then the results with a file.
    [case_id] = [
        item["id"]
        for item in _get(ru, ru_officer, "/cases/outgoing?limit=200")["items"]
        if item["subject"] == SUBJECTS["consent"]
    ]
    on_ru = _get(ru, ru_officer, f"/cases/{case_id}")
    on_kz = _get(kz, kz_officer, f"/cases/{case_id}")
    assert on_ru["state"] == on_kz["state"] == "executed"
    assert on_ru["received_at"] == on_kz["received_at"]  # the Kazakh receipt's, set back
    ru_timeline = _get(ru, ru_officer, f"/cases/{case_id}/messages")
    kz_timeline = _get(kz, kz_officer, f"/cases/{case_id}/messages")
    acts = [(m["kind"], m["sender_body"], m["created_at"]) for m in ru_timeline]
    assert acts == [(m["kind"], m["sender_body"], m["created_at"]) for m in kz_timeline]
    assert [(kind, sender) for kind, sender, _at in acts] == [
        ("assistance.request", "RU-MIA"),
        ("assistance.receipt", "KZ-MIA"),
        ("assistance.conditions", "KZ-MIA"),
        ("assistance.conditions_reply", "RU-MIA"),
        ("assistance.results", "KZ-MIA"),
    ]
    results = ru_timeline[-1]
    [file] = results["attachments"]
    assert file["name"] == "zhurnaly-podklyucheniy.csv"
    # The Kazakh node shows the results it sent with the same file.
    assert [a["sha256"] for a in kz_timeline[-1]["attachments"]] == [file["sha256"]]

    # P10.2: the Russian officer cannot use the file in the other demo case until the Kazakh body consents.
    [other_id] = [
        item["id"]
        for item in _get(ru, ru_officer, "/cases/outgoing?limit=200")["items"]
        if item["subject"] == SUBJECTS["incoming"]
    ]
    reuse = {"attachment": file["sha256"], "target_case": other_id}
    status, answer = api_call(ru, ru_officer, "POST", f"/cases/{case_id}/reuse", reuse)
    assert status == 409, answer
    assert answer["rule"] == "P10.2", answer
    # ... until they ask it on the Russian node, the Kazakh head grants it on the Kazakh node, and the answer arrives.
    target = _get(ru, ru_officer, f"/cases/{other_id}")["outgoing_number"]
    asked = {"attachment": file["sha256"], "use": "case", "target": target, "purpose": "Доказательство по делу."}
    status, answer = api_call(ru, ru_officer, "POST", f"/cases/{case_id}/consent-requests", asked)
    assert status == 200, answer
    run_cybercoop(ru, ["worker", "--once"])
    kz_head = api_token(kz, "kz.head", scope="act")
    [consent] = _get(kz, kz_head, f"/cases/{case_id}")["consents"]
    answered = {"request": consent["request"], "granted": True}
    status, answer = api_call(kz, kz_head, "POST", f"/cases/{case_id}/consent-replies", answered)
    assert status == 200, answer
    run_cybercoop(kz, ["worker", "--once"])
    status, answer = api_call(ru, ru_officer, "POST", f"/cases/{case_id}/reuse", reuse)
    assert status == 201, answer
