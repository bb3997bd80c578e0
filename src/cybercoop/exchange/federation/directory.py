"""The Secretariat's signed directory between nodes (EXCHANGE.md, Directory).

On the Secretariat's node: the directory key (`ensure_signing_key`, `public_key_jwk` for the others to
pin), `publish` (a new version only when the registry changed) and `register_peer` (a node's keys checked,
then registered). On every other node: `pin` the Secretariat's key once, then `accept` what `refresh`
fetches: a directory is taken only if it verifies with the pinned key and is newer than the one held;
anything else is refused, logged and audited, and the last good directory stays in force.

What the directory holds, and how it is mirrored into the registry's tables, is `registry.directory`'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from joserfc.jwk import OKPKey

from cybercoop.audit import services as audit
from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock, periodic
from cybercoop.core.errors import InvalidInput
from cybercoop.core.files import write_atomically
from cybercoop.exchange.federation import client, envelope, keys
from cybercoop.exchange.federation.keys import InvalidKey
from cybercoop.registry import directory as registry_directory
from cybercoop.registry import selectors as registry
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import DirectoryCopy, Node

logger = logging.getLogger(__name__)

PATH: Final = "/federation/v1/directory"
MEDIA_TYPE: Final = "application/jose"
# The JWS `typ` of the directory: no other document signed with the same key can pass for it.
DIRECTORY_TYP: Final = "cybercoop-directory+jws"
FETCH_TIMEOUT_SECONDS: Final = 30
# A compact JWS of the largest document the envelope accepts: base64url of the payload, plus header and signature.
MAX_TOKEN_BYTES: Final = envelope.MAX_DOCUMENT_BYTES * 4 // 3 + 8 * 1024
SIGNING_KEY_FORMAT: Final = "cybercoop-directory-key/1"  # marks the private key file, so a wrong file is refused
# The audit target of a refusal is the refused token, by its SHA-256.
REFUSED_TARGET: Final = "registry.directory_token"

# Reasons for refusing a directory: a closed set of codes, never text taken from the document.
BAD_SIGNATURE: Final = envelope.BAD_SIGNATURE
OLDER: Final = "older than the directory held"
CONFLICT: Final = "conflicts with the directory held"
MALFORMED: Final = "malformed: directory"


class DirectoryError(Exception):
    """Something about the directory went wrong; the subclasses say what."""


class NoPinnedKey(DirectoryError):
    """This node has no usable copy of the Secretariat's directory key, so it can trust no directory."""


class DirectoryRefused(DirectoryError):
    """A directory this node did not take: `reason` is one of the codes above, `message` says why in plain
    English for the log and the administrators. The directory held before stays in force."""

    def __init__(self, reason: str, message: str, *, version: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.version = version


class FetchFailed(DirectoryError):
    """The Secretariat's node could not be reached, or did not answer with a directory."""


# --- the Secretariat's node ----------------------------------------------------------------------------


def is_secretariat() -> bool:
    """Is this the Secretariat's node? It is the one that holds the directory's private key."""
    return Path(settings.DIRECTORY_SIGNING_KEY_FILE).exists()


def ensure_signing_key() -> OKPKey:
    """The private key that signs the directory, created on first use (mode 0600, in a folder of mode 0700).

    Created once and never replaced here: every node has pinned its public half, so a new key means
    pinning again everywhere. Two processes creating it at once end up with the same one."""
    path = Path(settings.DIRECTORY_SIGNING_KEY_FILE)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        key = keys.generate_signing_key()
        text = json.dumps(
            {"format": SIGNING_KEY_FORMAT, "key": dict(key.as_dict(private=True))}, indent=2, sort_keys=True
        )
        # A whole file linked into place: a crash leaves no half-written key, and a link refuses to replace
        # a key another process created meanwhile (its key is then the one).
        if write_atomically(path, text, mode=0o600, replace=False):
            logger.warning("created the directory signing key %s (kid %s)", path, key.kid)
    return _read_signing_key(path)


def _read_signing_key(path: Path) -> OKPKey:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise InvalidKey(f"the directory key file {path} cannot be read ({type(error).__name__})") from error
    if not isinstance(data, dict) or data.get("format") != SIGNING_KEY_FORMAT:
        raise InvalidKey(f"the file {path} is not in the {SIGNING_KEY_FORMAT} format")
    return keys.import_signing_key(data.get("key"), private=True)


def public_key_jwk() -> dict[str, Any]:
    """The directory key's public half as a JWK: what every other node pins at `node init`."""
    return dict(ensure_signing_key().as_dict(private=False))


def content_digest(doc: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 form of a directory's content, without its version and time of issue:
    the same on every node that holds the same content, whichever version carried it."""
    content = {name: value for name, value in doc.items() if name not in registry_directory.ENVELOPE_FIELDS}
    return hashlib.sha256(envelope.canonical(content)).hexdigest()


def publish(*, now: dt.datetime | None = None) -> DirectoryCopy:
    """Sign the registry's current content as the next version of the directory, and keep it to serve.

    Nothing is published when the content is what the last version said: that version is returned. The
    document is checked as every node will check it before it is signed (ValueError if it would be refused).
    For the Secretariat's node only: the first call creates the directory key, which makes it that node."""
    key = ensure_signing_key()
    now = now or clock.now()
    with transaction.atomic():
        # Lock the newest version: two publishers must not both sign "the next" one.
        held = DirectoryCopy.objects.select_for_update(no_key=True).order_by("-version").first()
        content = registry_directory.snapshot()
        digest = content_digest(content)
        if held is not None and held.sha256 == digest:
            return held
        version = held.version + 1 if held is not None else 1
        doc = {"version": version, "issued_at": _rfc3339(now), **content}
        registry_directory.check(doc, version=version)
        token = envelope.sign_document(doc, key, typ=DIRECTORY_TYP)
        copy = DirectoryCopy.objects.create(
            version=version, issued_at=now, token=token, sha256=digest, received_at=now, applied_at=None
        )
        audit.record(
            action=AuditAction.DIRECTORY_PUBLISHED,
            target=copy,
            data={"version": version, "sha256": digest, "kid": key.kid},
        )
    logger.info("published directory version %d", version)
    return copy


def latest() -> DirectoryCopy | None:
    """The newest directory held: the last published here, or the last good one accepted."""
    return registry.latest_directory()


def etag(copy: DirectoryCopy) -> str:
    """The HTTP entity tag of a directory: the same on the Secretariat's node and on a node holding it, so a
    node asks "anything newer than this?" and the answer is a short 304 when there is not."""
    return f'"{copy.version}.{copy.sha256}"'


def register_peer(
    *,
    actor: Any,
    code: str,
    name: str,
    base_url: str,
    public_jwks: Mapping[str, Any],
    software_version: str = "",
    protocol_version: int = 1,
) -> Node:
    """Register (or update) a node in the directory from the public keys it published (`keys.public_jwks`):
    exactly one Ed25519 signing key and one X25519 encryption key, public, with consistent `kid`s, for the
    node of this code. The keys are stored as rebuilt from their raw material."""
    try:
        public = keys.PublicKeys.from_jwks(public_jwks)
    except InvalidKey as error:
        raise InvalidInput(
            _("The node's public keys could not be used."), errors={"public_jwks": [str(error)]}
        ) from error
    if public.node_id != code:
        raise InvalidInput(
            _("The node's public keys could not be used."),
            errors={"public_jwks": [_("These keys belong to another node.")]},
        )
    return registry_services.register_node(
        actor=actor,
        code=code,
        name=name,
        base_url=base_url,
        signing_jwk=dict(public.signing.as_dict(private=False)),
        encryption_jwk=dict(public.encryption.as_dict(private=False)),
        software_version=software_version,
        protocol_version=protocol_version,
    )


# --- every other node ------------------------------------------------------------------------------------


def pin(jwk: Mapping[str, Any], *, actor: Any = None) -> OKPKey:
    """Pin the Secretariat's directory key (at `node init`): from now on only a directory it signed is taken.
    Raises InvalidKey unless `jwk` is a public Ed25519 key; pinning another key than before is recorded with
    both key ids, since it changes whom this node trusts."""
    key = keys.import_signing_key(jwk, private=False)
    path = Path(settings.DIRECTORY_KEY_FILE)
    try:
        previous: str | None = pinned_key().kid
    except NoPinnedKey:
        previous = None
    with transaction.atomic():  # the audit entry stays only if the file was written
        audit.record(
            action=AuditAction.DIRECTORY_KEY_PINNED,
            actor=actor,
            data={"kid": key.kid, "previous_kid": previous, "file": str(path)},
        )
        # A public key: nothing to hide (0644), but only this node's owner writes it.
        write_atomically(path, json.dumps(dict(key.as_dict(private=False)), indent=2, sort_keys=True), mode=0o644)
    return key


def pinned_key() -> OKPKey:
    """The Secretariat's directory key pinned here; NoPinnedKey, saying what to do, when there is none."""
    path = Path(settings.DIRECTORY_KEY_FILE)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise NoPinnedKey(
            f"no directory key is pinned at {path}: pin the Secretariat's public directory key "
            "(`cybercoop node init`, or set CYBERCOOP_DIRECTORY_KEY)"
        ) from None
    except (OSError, ValueError) as error:
        raise NoPinnedKey(f"the pinned directory key {path} cannot be read ({type(error).__name__})") from error
    try:
        return keys.import_signing_key(data, private=False)
    except InvalidKey as error:
        raise NoPinnedKey(f"the pinned directory key {path} is not usable: {error}") from error


def accept(token: str, *, now: dt.datetime | None = None) -> DirectoryCopy | None:
    """Take a directory fetched from the Secretariat's node: verify it with the pinned key, keep it and mirror
    it into the registry, all in one transaction. Returns the stored copy, or None when it is the version
    already held.

    Raises DirectoryRefused, after logging and auditing it, for a bad signature, an older version, another
    content under the version held, or a document the registry cannot take; nothing is stored then and the
    directory held stays in force. Raises NoPinnedKey when no key is pinned here."""
    key = pinned_key()
    now = now or clock.now()
    try:
        doc = envelope.verify_document(token, key, typ=DIRECTORY_TYP)
    except envelope.Rejected as error:
        raise _refused(token, error.reason, error.message) from error
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refused(token, MALFORMED, "the directory has no version (a whole number from 1)")
    issued = doc.get("issued_at")
    try:
        issued_at = dt.datetime.fromisoformat(issued) if isinstance(issued, str) else None
    except ValueError:
        issued_at = None
    if issued_at is None or issued_at.utcoffset() != dt.timedelta(0):
        raise _refused(token, MALFORMED, "the directory has no time of issue in UTC", version=version)
    digest = content_digest(doc)
    try:
        with transaction.atomic():
            # Lock the newest version: two workers accepting at once apply a directory once.
            held = DirectoryCopy.objects.select_for_update(no_key=True).order_by("-version").first()
            if held is not None and version < held.version:
                raise DirectoryRefused(
                    OLDER, f"version {version} is older than version {held.version}", version=version
                )
            if held is not None and version == held.version:
                if held.sha256 == digest:
                    return None
                raise DirectoryRefused(CONFLICT, f"version {version} is held here with other content", version=version)
            _check_node_keys(doc.get("nodes"))
            changes = registry_directory.apply_snapshot(doc, version=version)
            copy = DirectoryCopy.objects.create(
                version=version,
                issued_at=issued_at,
                token=token,
                sha256=digest,
                received_at=now,
                applied_at=clock.now(),
            )
    except DirectoryRefused as error:
        raise _refused(token, error.reason, error.message, version=version) from error
    except ValueError as error:  # the registry's reader: the document is not one it can mirror whole
        raise _refused(token, MALFORMED, str(error), version=version) from error
    except IntegrityError:
        # Another worker stored this version between our lock and our insert (no row to lock yet): it is held.
        if DirectoryCopy.objects.filter(version=version, sha256=digest).exists():
            return None
        raise
    logger.info("accepted directory version %d: %s", version, {name: count for name, count in changes.items() if count})
    return copy


def _check_node_keys(nodes: Any) -> None:
    """Every node's keys are usable public keys for its code, or the directory is refused (the Secretariat
    checked them when it registered the node; a node checks again what it will trust)."""
    if not isinstance(nodes, list):
        return  # the registry's reader refuses it, saying so
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        try:
            keys.PublicKeys.from_jwks(
                {"node_id": node.get("code"), "keys": [node.get("signing_jwk"), node.get("encryption_jwk")]}
            )
        except InvalidKey as error:
            raise DirectoryRefused(MALFORMED, f"nodes[{index}]: {error}") from error


def _refused(token: object, reason: str, message: str, *, version: int | None = None) -> DirectoryRefused:
    """Log and audit a refusal, and return the exception to raise. A token refused before is logged again but
    audited once: the worker fetches every few seconds, and the log must not fill with one refusal."""
    raw = token.encode("utf-8", "replace") if isinstance(token, str) else repr(token).encode()
    token_sha256 = hashlib.sha256(raw).hexdigest()
    held = registry.latest_directory()
    logger.warning(
        "refused directory%s (%s): %s; keeping version %s",
        f" version {version}" if version is not None else "",
        reason,
        message,
        held.version if held is not None else "none",
    )
    with transaction.atomic():
        seen = AuditEntry.objects.filter(
            action=AuditAction.DIRECTORY_REFUSED, object_type=REFUSED_TARGET, object_id=token_sha256
        ).exists()
        if not seen:
            audit.record(
                action=AuditAction.DIRECTORY_REFUSED,
                target=(REFUSED_TARGET, token_sha256),
                data={
                    "reason": reason,
                    "message": message[:500],
                    "version": version,
                    "held_version": held.version if held is not None else None,
                },
            )
    return DirectoryRefused(reason, message, version=version)


# --- fetching ------------------------------------------------------------------------------------------

# (url, entity tag of the directory held or None) -> the token, or None when nothing is newer (HTTP 304).
Fetch = Callable[[str, str | None], str | None]


def http_fetch(url: str, held_etag: str | None) -> str | None:
    """GET the directory over HTTP(S), with the held version's entity tag so an unchanged directory costs a
    304. Raises FetchFailed for anything but a directory or a 304: a network error, a timeout, another
    status, an answer too large."""
    if not url.startswith(("https://", "http://")):
        raise FetchFailed(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": MEDIA_TYPE})  # noqa: S310 - http(s) only, checked above
    if held_etag is not None:
        request.add_header("If-None-Match", held_etag)
    try:
        with client.open_url(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_TOKEN_BYTES + 1)
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        raise FetchFailed(f"{url} answered HTTP {error.code}") from error
    except (OSError, http.client.HTTPException, ValueError) as error:  # URLError and timeouts are OSErrors
        raise FetchFailed(f"{url} could not be reached ({type(error).__name__}: {error})") from error
    if len(body) > MAX_TOKEN_BYTES:
        raise FetchFailed(f"{url} answered more than {MAX_TOKEN_BYTES} bytes")
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise FetchFailed(f"{url} did not answer with a compact JWS") from error


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: `applied` a newer directory, found it `unchanged`, `refused` what it got,
    found the Secretariat `unreachable`, or could not run (`not_configured`). `version` is the version held
    afterwards; `reason` says why for the last three."""

    status: Literal["applied", "unchanged", "refused", "unreachable", "not_configured"]
    version: int | None
    reason: str = ""


def refresh(*, fetch: Fetch | None = None) -> RefreshResult:
    """Fetch the directory from the Secretariat's node (CYBERCOOP_DIRECTORY_URL) and accept it if newer.
    Reports every outcome instead of raising, so the worker's periodic job goes on whatever the network does."""
    base = str(settings.DIRECTORY_URL).strip().rstrip("/")
    held = latest()
    held_version = held.version if held is not None else None
    if not base:
        return RefreshResult("not_configured", held_version, "CYBERCOOP_DIRECTORY_URL is not set")
    url = base + PATH
    try:
        token = (fetch or http_fetch)(url, etag(held) if held is not None else None)
    except FetchFailed as error:
        logger.warning("directory not refreshed: %s", error)
        return RefreshResult("unreachable", held_version, str(error))
    if token is None:
        return RefreshResult("unchanged", held_version)
    try:
        copy = accept(token)
    except NoPinnedKey as error:
        logger.error("directory not refreshed: %s", error)
        return RefreshResult("not_configured", held_version, str(error))
    except DirectoryRefused as error:
        return RefreshResult("refused", held_version, f"{error.reason}: {error.message}")
    if copy is None:
        return RefreshResult("unchanged", held_version)
    return RefreshResult("applied", copy.version)


# --- the worker's periodic jobs ---------------------------------------------------------------------------


def refresh_job() -> int:
    """Keep this node's directory current: 1 when a newer one was applied. Runs only on a node that has a
    directory URL and is not the Secretariat's."""
    if not settings.DIRECTORY_URL or is_secretariat():
        return 0
    return 1 if refresh().status == "applied" else 0


def publish_job() -> int:
    """On the Secretariat's node, publish the registry's changes as a new directory version: 1 when one was
    published. Cheap when nothing changed (one snapshot, compared by its digest)."""
    if not is_secretariat():
        return 0
    held = latest()
    copy = publish()
    return 0 if held is not None and copy.pk == held.pk else 1


def install() -> None:
    """Register the periodic jobs (from `ExchangeConfig.ready()`): "exchange.refresh_directory" and
    "exchange.publish_directory". Each does nothing on a node it does not concern."""
    periodic.register("exchange.refresh_directory")(refresh_job)
    periodic.register("exchange.publish_directory")(publish_job)


def _rfc3339(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")
