"""Three real nodes — the Secretariat's, Kazakhstan's, Russia's — each its own processes and database, joined
by the signed directory the way an operator joins them (cybercoop.demo.federation), exchange a whole request
over real HTTP: drafted and approved on the Kazakh node, registered, answered and executed on the Russian one,
with both nodes deriving the same case from the same messages (P4.1, P7.2, P7.8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cybercoop.demo.federation import (
    FederatedNode,
    join,
    node_env,
    prepare_secretariat,
    publish_signing_authorities,
    seed_people,
)
from tests.assistance.factories import REQUEST_FIELDS
from tests.documents.signers import pdfsig
from tests.nodes import (
    DEMO_PASSWORD,
    UNCOMPRESSED_STATIC,
    _create_database,
    _drop_database,
    free_port,
    wait_until_serving,
)


def _run(node: FederatedNode, args: Sequence[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "cybercoop", *args], env=node.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{node.code}: cybercoop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _serve(node: FederatedNode) -> subprocess.Popen[bytes]:
    port = node.url.rsplit(":", 1)[1]
    with (node.data_dir / "server.log").open("a") as log:  # the server keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=node.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(node.url + "/health/", process, node.data_dir / "server.log")
    except RuntimeError:
        process.kill()
        raise
    return process


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FederatedNode]]:
    root = tmp_path_factory.mktemp("federation")
    nodes = {
        code: FederatedNode(code=code, label=label, url=f"http://127.0.0.1:{free_port()}", data_dir=root / code)
        for code, label in (("secretariat", "Секретариат ОДКБ"), ("kz", "Казахстан"), ("ru", "Россия"))
    }
    secretariat_url = nodes["secretariat"].url
    databases: list[str] = []
    processes: list[subprocess.Popen[bytes]] = []
    base_database = os.environ.get("DATABASE_URL", "")
    for node in nodes.values():
        node.data_dir.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        env.update(node_env(node, secretariat_url))
        env.update({"CYBERCOOP_DEMO": "true", "CYBERCOOP_DEMO_PASSWORD": DEMO_PASSWORD})
        # Static files hashed but not compressed: `collectstatic` takes a tenth of the CPU (tests/nodes.py).
        env.update({"CYBERCOOP_STATIC_STORAGE": UNCOMPRESSED_STATIC})
        if base_database:
            name, env["DATABASE_URL"] = _create_database(base_database)
            databases.append(name)
        node.env = env
    try:
        directory_key = prepare_secretariat(list(nodes.values()), _run)
        processes.append(_serve(nodes["secretariat"]))
        for code in ("kz", "ru"):
            join(nodes[code], directory_key, _run)
        # Each node's people, side by side; as `make demo`, the Party's CA and its heads' and deputies'
        # certificates — on the signing node only, which is all this test needs.
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda node: seed_people(node, _run, signers=node.code == "kz"), nodes.values()))
        publish_signing_authorities(list(nodes.values()), _run)
        processes += [_serve(nodes["kz"]), _serve(nodes["ru"])]
        yield nodes
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        for name in databases:
            _drop_database(base_database, name)


def _token(node: FederatedNode, username: str) -> str:
    return _run(node, ["manage", "create_api_token", username, "--scope", "act"]).strip().splitlines()[-1]


def _api(
    node: FederatedNode,
    token: str,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
    *,
    form: bool = False,
) -> Any:
    """Call the node's API as the token's user; `form` sends the payload as a form (the acts with attachments)."""
    if form:
        data, kind = urllib.parse.urlencode(payload or {}).encode(), "application/x-www-form-urlencoded"
    else:
        data, kind = (json.dumps(payload).encode() if payload is not None else None), "application/json"
    request = urllib.request.Request(
        node.url + "/api/v1" + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": kind, "Accept-Language": "en"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path} on {node.code}: {error.code} {error.read().decode()}") from error


def _deliver(node: FederatedNode) -> None:
    """One pass of the node's worker: its outbox is delivered to the other nodes."""
    _run(node, ["worker", "--once"])


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
    code = _run(kz, ["demo", "totp", "kz.head"]).strip()
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
    assert "receipted" in _run(kz, ["node", "outbox"])
