"""This node on the federation: its key file, `cybercoop node …`, GET /node and the signed ping of `node check`."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cybercoop import cli
from cybercoop.core import clock as clock_module
from cybercoop.exchange.federation import client as federation_client
from cybercoop.exchange.federation import envelope, keys, node, outbox
from cybercoop.exchange.federation.keys import PublicKeys
from cybercoop.exchange.models import OutboxState
from tests.nodes import free_port


def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("node", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- keys ------------------------------------------------------------------------------------------------------


def test_node_init_writes_private_keys_only_the_node_can_read_and_prints_the_public_ones(settings, tmp_path):
    settings.NODE_ID, settings.NODE_KEYS_FILE = "kz", tmp_path / "node" / "keys.json"
    out, err = _command("init", "--id", "kz")

    public = PublicKeys.from_jwks(json.loads(out))
    assert public.node_id == "kz"
    assert stat.S_IMODE(settings.NODE_KEYS_FILE.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.NODE_KEYS_FILE.parent.stat().st_mode) == 0o700
    assert node.load_keys().signing.kid == public.signing.kid
    assert '"d"' not in out
    assert "Secretariat" in err
    assert json.loads(_command("show")[0]) == json.loads(out)


def test_node_init_refuses_to_replace_keys_unless_forced(settings, tmp_path):
    settings.NODE_ID, settings.NODE_KEYS_FILE = "kz", tmp_path / "keys.json"
    first = json.loads(_command("init", "--id", "kz")[0])
    with pytest.raises(Exception, match="--force"):
        _command("init", "--id", "kz")
    assert node.load_keys().signing.kid == first["keys"][0]["kid"]
    second = json.loads(_command("init", "--id", "kz", "--force")[0])
    assert second != first
    assert node.load_keys().signing.kid == second["keys"][0]["kid"]  # read again, not the cached old keys


def test_node_init_refuses_a_bad_node_id(settings, tmp_path):
    settings.NODE_KEYS_FILE = tmp_path / "keys.json"
    with pytest.raises(Exception, match="--id"):
        _command("init", "--id", "has space")
    assert not settings.NODE_KEYS_FILE.exists()


def test_node_init_pins_the_directory_key_it_is_given(settings, tmp_path, db):
    settings.NODE_ID, settings.NODE_KEYS_FILE = "kz", tmp_path / "keys.json"
    settings.DIRECTORY_KEY_FILE = tmp_path / "directory-key.pub.json"
    directory_key = keys.generate_signing_key()
    _command("init", "--id", "kz", "--directory-key", json.dumps(dict(directory_key.as_dict(private=False))))
    assert json.loads(settings.DIRECTORY_KEY_FILE.read_text())["kid"] == directory_key.kid


@pytest.mark.parametrize(
    ("node_id", "file", "message"),
    [
        ("", "keys.json", "CYBERCOOP_NODE_ID is not set"),
        ("kz", "missing.json", "node init --id kz"),
        ("ru", "keys.json", "belongs to node 'kz'"),
        ("kz", "garbage.json", "cannot be used"),
    ],
)
def test_a_node_without_usable_keys_says_what_to_do(settings, tmp_path, node_id, file, message):
    (tmp_path / "keys.json").write_text(keys.to_private_json(keys.generate("kz")))
    (tmp_path / "garbage.json").write_text("{}")
    settings.NODE_ID, settings.NODE_KEYS_FILE = node_id, tmp_path / file
    with pytest.raises(node.NodeNotConfigured, match=message):
        node.load_keys()


def test_the_cli_lists_the_node_command():
    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        cli.main(["--help"])
    assert "node" in out.getvalue()


# --- GET /node and POST /ping ------------------------------------------------------------------------------------


def test_a_node_tells_who_it_is_its_versions_and_its_time(federation, client, clock):
    federation.become("ru")
    answer = client.get("/federation/v1/node").json()
    assert answer == {
        "node": "ru",
        "software_version": federation_client.software_version(),
        "protocol_version": 1,
        "time": "2026-11-23T09:00:00+00:00",
    }


def test_a_signed_ping_is_answered_with_a_signed_answer(federation, client, clock):
    with federation.as_node("kz"):
        token = federation_client.ping_token(nonce="n-1", at=clock.now())
    federation.become("ru")
    r = client.post("/federation/v1/ping", data={"token": token}, content_type="application/json")
    assert r.status_code == 200
    pong = envelope.verify_document(r.json()["token"], federation.public("ru"), typ=federation_client.PONG_TYP)
    assert pong == {"node": "ru", "nonce": "n-1", "at": "2026-11-23T09:00:00+00:00", "to": "kz"}


def test_a_ping_signed_by_a_key_the_directory_does_not_list_is_refused(federation, client, clock):
    token = envelope.sign_document(
        {"node": "kz", "nonce": "n", "at": "2026-11-23T09:00:00+00:00"},
        keys.generate("kz"),
        typ=federation_client.PING_TYP,
    )
    federation.become("ru")
    r = client.post("/federation/v1/ping", data={"token": token}, content_type="application/json")
    assert (r.status_code, r.json()) == (403, {"error": envelope.BAD_SIGNATURE})
    assert client.post("/federation/v1/ping", data={}, content_type="application/json").status_code == 400


# --- node check against a peer in its own process ------------------------------------------------------------------


def test_node_check_finds_a_healthy_peer(kz):
    out, _ = _command("check", "ru")
    assert "OK" in out
    assert "PROBLEM" not in out


def test_node_check_reports_an_address_that_does_not_answer(kz):
    with pytest.raises(SystemExit) as exit_info:
        _command("check", f"http://127.0.0.1:{free_port()}")
    assert exit_info.value.code == 1
    report = federation_client.check_peer(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert report.problems[0].startswith("address unreachable")


def test_node_check_reports_a_peer_whose_keys_are_not_the_directorys(kz):
    other = keys.generate("ru")
    ru_node = kz["RU-MIA"].node
    ru_node.signing_jwk = dict(other.signing.as_dict(private=False))
    ru_node.save()
    report = federation_client.check_peer("ru", timeout=5)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("key mismatch: the peer's answer")


def test_node_check_reports_a_peer_that_does_not_know_this_nodes_key(kz, settings, tmp_path):
    settings.NODE_KEYS_FILE = tmp_path / "new-keys.json"
    settings.NODE_KEYS_FILE.write_text(keys.to_private_json(keys.generate("kz")))  # rotated, not yet registered
    report = federation_client.check_peer("ru", timeout=5)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("key mismatch: the peer refused")


def test_node_check_reports_an_unknown_node_code(kz):
    assert federation_client.check_peer("zz").problems == ["the directory lists no node 'zz'"]


def test_node_check_reports_a_clock_more_than_five_minutes_off(kz):
    ahead = clock_module.FrozenClock(dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=10))
    with clock_module.use_clock(ahead):  # this node's clock runs ten minutes ahead of the peer's
        report = federation_client.check_peer("ru", timeout=5)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("clock skew over 5 minutes")


# --- node outbox ------------------------------------------------------------------------------------------------


def test_node_outbox_counts_per_state_and_lists_the_failed_and_rejected(federation, clock):
    from tests.exchange.test_wire import _send

    federation.become("kz")
    failed, rejected, _ = (_send(federation) for _ in range(3))
    outbox.deliver_due()  # the peers' addresses (*.invalid) do not resolve: every one fails
    failed_item = failed.outbox_item
    failed_item.refresh_from_db()
    rejected.outbox_item.state, rejected.outbox_item.reason = OutboxState.REJECTED, "body not designated"
    rejected.outbox_item.save()

    out, _ = _command("outbox")
    lines = out.splitlines()
    assert "    failed  2" in lines
    assert "  rejected  1" in lines
    assert "    queued  0" in lines
    assert any(line.startswith(str(rejected.id)) and "rejected: body not designated" in line for line in lines)
    assert any(line.startswith(str(failed.id)) and "attempt 1" in line and "unreachable" in line for line in lines)


# --- the Secretariat's directory ---------------------------------------------------------------------------------


def _served_by(*codes):
    from cybercoop.registry.models import Body

    return {body.code: body.node.code if body.node else None for body in Body.objects.filter(code__in=codes)}


def test_node_assign_says_which_node_serves_several_bodies_at_once(federation):
    _, err = _command("assign", "KZ-GP", "AM-MIA", "ru")
    assert _served_by("KZ-GP", "AM-MIA") == {"KZ-GP": "ru", "AM-MIA": "ru"}
    assert err.splitlines() == ["KZ-GP is served by node ru.", "AM-MIA is served by node ru."]


def test_node_assign_with_an_unknown_body_assigns_none_of_them(federation):
    with pytest.raises(CommandError, match="no body 'XX-NONE'"):
        _command("assign", "KZ-GP", "XX-NONE", "ru")
    assert _served_by("KZ-GP") == {"KZ-GP": "kz"}
    with pytest.raises(CommandError, match="no node 'zz'"):
        _command("assign", "KZ-GP", "zz")
    assert _served_by("KZ-GP") == {"KZ-GP": "kz"}
