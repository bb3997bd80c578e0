"""Three real nodes — the Secretariat's, Kazakhstan's, Russia's — each its own processes and database, joined
by the signed directory the way an operator joins them (cybercoop.demo.federation), exchange a whole request
over real HTTP: drafted and approved on the Kazakh node, registered, answered and executed on the Russian one,
with both nodes deriving the same case from the same messages (P4.1, P7.2, P7.8)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cybercoop.demo.federation import FederatedNode
from tests.assistance.factories import REQUEST_FIELDS
from tests.documents.signers import pdfsig
from tests.nodes import api_call, api_token, federation_of_nodes, run_cybercoop


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FederatedNode]]:
    """The Secretariat's, Kazakhstan's and Russia's nodes, joined as `make demo` joins them (tests/nodes.py), with the
    Kazakh Party's authority and its heads' and deputies' certificates: the signing node is all this test needs."""
    with federation_of_nodes(tmp_path_factory.mktemp("federation"), play=False, signers={"kz"}) as nodes:
        yield nodes


def _token(node: FederatedNode, username: str) -> str:
    return api_token(node, username, scope="act")


def _api(
    node: FederatedNode,
    token: str,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
    *,
    form: bool = False,
) -> Any:
    """Call the node's API as the token's user (`tests.nodes.api_call`); anything but success fails the test."""
    status, answer = api_call(node, token, method, path, payload, form=form)
    if status >= 400:
        raise AssertionError(f"{method} {path} on {node.code}: {status} {answer}")
    return answer


def _deliver(node: FederatedNode) -> None:
    """One pass of the node's worker: its outbox is delivered to the other nodes."""
    run_cybercoop(node, ["worker", "--once"])


@pytest.mark.rule("P4.1")
def test_a_request_crosses_from_the_kazakh_node_to_the_russian_node_and_back(federation):
    kz, ru = federation["kz"], federation["ru"]
    kz_officer, kz_head, ru_officer = _token(kz, "kz.officer"), _token(kz, "kz.head"), _token(ru, "ru.officer")
    fields = {name: value for name, value in REQUEST_FIELDS.items() if name != "marking"}
    draft = _api(
        kz,
        kz_officer,
        "POST",
        "/cases",
        {**fields, "requested_body": "RU-MIA", "instrument": "csto-2014-information-sphere"},
    )
    case_id = draft["id"]
    _api(kz, kz_officer, "POST", f"/cases/{case_id}/submit", {})
    # The head signs as they approve (P6.5), with the code of their authenticator (`cybercoop demo totp`).
    code = run_cybercoop(kz, ["demo", "totp", "kz.head"]).strip()
    sent = _api(kz, kz_head, "POST", f"/cases/{case_id}/approve", {"code": code}, form=True)
    assert sent["state"] == "sent"
    # Not on the Russian node until the Kazakh node's worker delivers it.
    assert case_id not in [c["id"] for c in _api(ru, ru_officer, "GET", "/cases/incoming?limit=200")["items"]]
    _deliver(kz)
    received = _api(ru, ru_officer, "GET", f"/cases/{case_id}")
    # The Russian node checked the signed request against the Kazakh CA the directory publishes (P6.5) ...
    [request] = _api(ru, ru_officer, "GET", f"/cases/{case_id}/messages")
    signed = request["attachments"][0]
    assert signed["media_type"] == "application/pdf"
    assert signed["signature"]["valid"] is True, signed["signature"]
    assert (signed["signature"]["signer_position"], signed["signature"]["body_code"]) == ("head", "KZ-MIA")
    # ... and poppler's pdfsig, an independent implementation, agrees on the file the Russian officer downloads.
    download = urllib.request.Request(ru.url + signed["url"], headers={"Authorization": f"Bearer {ru_officer}"})
    with urllib.request.urlopen(download, timeout=30) as answer:
        pdf = answer.read()
    kz_ca = (kz.data_dir / "documents" / "authorities" / "KZ.pem").read_text(encoding="ascii")
    report = pdfsig(pdf, trusting=[kz_ca], folder=kz.data_dir.parent / "pdfsig")
    assert report.valid, report
    assert (received["state"], received["requesting_body"], received["subject"]) == (
        "sent",
        "KZ-MIA",
        fields["subject"],
    )
    _api(ru, ru_officer, "POST", f"/cases/{case_id}/receipt", {})
    _api(ru, ru_officer, "POST", f"/cases/{case_id}/results", {"summary": "Владелец сервера установлен."}, form=True)
    _deliver(ru)
    on_kz = _api(kz, kz_officer, "GET", f"/cases/{case_id}")
    on_ru = _api(ru, ru_officer, "GET", f"/cases/{case_id}")
    assert on_kz["state"] == on_ru["state"] == "executed"
    kz_timeline = [(m["kind"], m["sender_body"]) for m in _api(kz, kz_officer, "GET", f"/cases/{case_id}/messages")]
    ru_timeline = [(m["kind"], m["sender_body"]) for m in _api(ru, ru_officer, "GET", f"/cases/{case_id}/messages")]
    assert kz_timeline == ru_timeline
    assert [kind for kind, _ in kz_timeline] == ["assistance.request", "assistance.receipt", "assistance.results"]
    # The Kazakh node holds the Russian node's signed receipts for what it sent.
    assert "receipted" in run_cybercoop(kz, ["node", "outbox"])
