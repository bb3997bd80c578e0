"""Fixtures of the federation's tests: three nodes (kz, ru, am), and this process as one of them."""

from __future__ import annotations

import pytest
from django.utils import translation

from cybercoop.exchange.federation import keys
from tests.exchange.federation import Federation, setup_registry, write_keys
from tests.exchange.fedtest import handlers
from tests.exchange.peer import create_peer, remove_peer

handlers.install(local_kinds=True)


@pytest.fixture(scope="session")
def node_keys(tmp_path_factory):
    """Keys of the nodes kz, ru and am, in key files; generated once per session."""
    folder = tmp_path_factory.mktemp("node-keys")
    return {code: write_keys(folder, code) for code in ("kz", "ru", "am")}


@pytest.fixture
def federation(db, settings, node_keys):
    """The registry of a node of a three-node federation, with every node's keys known; the test picks
    which node this process is with `federation.as_node(code)` or `federation.become(code)`."""
    fed = Federation(
        settings=settings,
        keys={code: pair[0] for code, pair in node_keys.items()},
        key_files={code: pair[1] for code, pair in node_keys.items()},
    )
    fed.bodies = setup_registry(
        {code: {"url": f"http://{code}.node.invalid", "jwks": keys.public_jwks(fed.keys[code])} for code in fed.keys}
    )
    return fed


@pytest.fixture(scope="session")
def ru_peer(tmp_path_factory, node_keys):
    """Node ru in a process of its own (gunicorn, its own database), knowing node kz by its keys."""
    kz_keys, _ = node_keys["kz"]
    peer = create_peer(
        tmp_path_factory.mktemp("ru-node"),
        code="ru",
        known={"kz": {"url": "http://127.0.0.1:9", "jwks": keys.public_jwks(kz_keys)}},
    )
    yield peer
    remove_peer(peer)


@pytest.fixture
def kz(db, settings, node_keys, ru_peer):
    """This process is node kz, knowing node ru at the peer's address with the keys it published; returns
    the bodies of the registry."""
    settings.NODE_ID, settings.NODE_KEYS_FILE = "kz", node_keys["kz"][1]
    return setup_registry(
        {
            "kz": {"url": "http://127.0.0.1:9", "jwks": keys.public_jwks(node_keys["kz"][0])},
            "ru": {"url": ru_peer.url, "jwks": ru_peer.jwks},
        }
    )


@pytest.fixture
def key_file(settings, tmp_path):
    """The test's own attachments key, created on first use, and its own folders; messages in English (the tests of
    encryption at rest and of its key's rotation)."""
    settings.ATTACHMENTS_KEY_FILE = tmp_path / "keys" / "attachments.key"
    settings.DATA_DIR = tmp_path / "data"
    with translation.override("en"):
        yield settings.ATTACHMENTS_KEY_FILE
