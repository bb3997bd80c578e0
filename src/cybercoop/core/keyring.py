"""A node's symmetric key kept in a file, and its rotation (docs/security-at-rest.md, "Rotating a node key").

`NodeKey` is one such key: the current key in its file (256 random bits in base64, mode 0600, created on first use
by the domain that seals with it), and the previous keys a rotation kept beside it, in `<key file>.previous/<key
id>.key`, which still open what they sealed until they are retired. Each key is known by an id, a hash that says
nothing of the key, stored with everything it seals, so a reader picks the key from `keyring()`.

A domain that seals with a node key registers a `Rotation` (`register`) naming the key, how to seal again what is
under another key (in batches of rows, `reseal_rows`), how many values each key id holds, and how to record a step
in the audit log. `Rotation` runs the steps, `cybercoop keys NAME rotate|rewrap|retire`
(`core/management/commands/keys.py`) runs `Rotation`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet

from cybercoop.core.files import KEY_BYTES, key_from_file, sync_folder, write_key

logger = logging.getLogger(__name__)

# A previous key is retired no sooner than this after the rotation that made it previous: a transaction that sealed
# something with it just before the rotation has long committed (and was re-sealed) or rolled back by then.
RETIRE_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class NodeKey:
    """One of the node's keys. `path` says where its file is (read from the settings each time), `identify` gives a
    key's id, `holds` names what it seals, in the plural ("attachments"), for what the operator is told."""

    name: str
    path: Callable[[], Path]
    identify: Callable[[bytes], str]
    holds: str

    def current(self, *, create: bool) -> bytes:
        """The current key; created (0600, atomically) when missing if `create`. Reading never creates one."""
        return key_from_file(self.path(), create=create, name=self.name)

    def current_id(self) -> str | None:
        """The current key's id; None if there is no key (nothing was ever sealed) or its file holds none."""
        try:
            return self.identify(self.current(create=False))
        except ImproperlyConfigured:
            return None

    def previous_folder(self) -> Path:
        path = self.path()
        return path.with_name(path.name + ".previous")

    def keyring(self) -> dict[str, bytes]:
        """Every key this node opens with, by id: the current one first, then the previous ones not yet retired. A
        previous key's file that does not hold the key its name says is left out (and logged)."""
        found: dict[str, bytes] = {}
        try:
            current = self.current(create=False)
        except ImproperlyConfigured:
            pass
        else:
            found[self.identify(current)] = current
        for path in self._previous_files():
            try:
                key = key_from_file(path, create=False, name=f"previous {self.name}")
            except ImproperlyConfigured as error:
                logger.error("previous %s left out: %s", self.name, error)
                continue
            if self.identify(key) != path.stem:
                logger.error("previous %s left out: %s holds the key %s", self.name, path, self.identify(key))
                continue
            found.setdefault(path.stem, key)
        return found

    def previous(self) -> dict[str, float]:
        """The previous keys' ids, each with when it stopped being the current key (its file's time)."""
        return {path.stem: path.stat().st_mtime for path in self._previous_files()}

    def rotate(self) -> tuple[str | None, str]:
        """Replace the current key by a new one, keeping the old one among the previous keys; (the old id, None when
        there was no key yet; the new id). Refuses a key file that does not hold a key (ImproperlyConfigured): what
        that key sealed would be lost with it."""
        with self._lock():
            try:
                old: bytes | None = self.current(create=False)
            except ImproperlyConfigured:
                if self.path().exists():
                    raise
                old = None
            if old is not None:  # kept first: a crash between the two writes loses nothing
                write_key(self.previous_folder() / f"{self.identify(old)}.key", old, replace=True)
            new = os.urandom(KEY_BYTES)  # as `key_from_file` makes a key
            write_key(self.path(), new, replace=True)
        old_id = self.identify(old) if old is not None else None
        logger.warning("%s rotated: %s -> %s", self.name, old_id, self.identify(new))
        return old_id, self.identify(new)

    def retire(
        self, *, in_use: Mapping[str, int], grace_seconds: float = RETIRE_GRACE_SECONDS
    ) -> tuple[list[str], dict[str, str]]:
        """Delete the previous keys that nothing is sealed under any more (`in_use`: how many values each key id
        holds) and that stopped being current more than `grace_seconds` ago; (the retired ids, the kept ones with
        why, in English)."""
        retired: list[str] = []
        kept: dict[str, str] = {}
        with self._lock():
            for identifier, since in self.previous().items():
                if in_use.get(identifier):
                    kept[identifier] = f"{in_use[identifier]} of the {self.holds} still under it: re-wrap them first"
                elif time.time() - since < grace_seconds:
                    kept[identifier] = f"replaced less than {grace_seconds / 3600:g} hour(s) ago"
                else:
                    (self.previous_folder() / f"{identifier}.key").unlink(missing_ok=True)
                    retired.append(identifier)
            if retired:
                sync_folder(self.previous_folder())
        return retired, kept

    def _previous_files(self) -> list[Path]:
        folder = self.previous_folder()
        return sorted(folder.glob("*.key")) if folder.is_dir() else []

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One rotation or retirement of this key at a time, across every process of the node."""
        path = self.path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock


REWRAP_BATCH = 200  # rows re-sealed per transaction: short locks, and the progress kept if it stops


def reseal_rows(
    rows: QuerySet[Any], reseal: Callable[[Any], None], *, unreadable: type[Exception], batch: int = REWRAP_BATCH
) -> tuple[int, list[str]]:
    """Call `reseal(row)` (which seals the row's values again under the current key and saves it) on every row of
    `rows`, in primary-key order, `batch` rows per transaction, each row locked while it is done. A row whose value
    does not open (`reseal` raises `unreadable`) is left as it is. Returns how many were re-sealed, and the ids of
    those left."""
    done, left = 0, []
    after: Any = None
    while True:
        with transaction.atomic():
            page = rows.select_for_update(no_key=True)
            if after is not None:
                page = page.filter(pk__gt=after)
            taken = list(page.order_by("pk")[:batch])
            for row in taken:
                try:
                    reseal(row)
                except unreadable:
                    left.append(str(row.pk))
                    continue
                done += 1
        if len(taken) < batch:
            return done, left
        after = taken[-1].pk


# --- the keys a node rotates: registered by the domains that seal with them ---------------------------------------


Reseal = Callable[[dict[str, bytes], str, int], tuple[int, list[str]]]
Record = Callable[[str, Any, dict[str, Any]], None]


@dataclass(frozen=True)
class Rotation:
    """One node key as `cybercoop keys NAME …` rotates it. The domain that seals with the key gives `reseal(keys,
    current, batch)`, which seals again under the key `current` of `keys` (a `keyring()`) everything under another
    one, `batch` rows per transaction (`reseal_rows`), and returns how many and the ids of those that did not open;
    `in_use()`, how many values each key id holds ("" for any not sealed); `record(step, actor, data)`, which writes
    the step ("rotated", "rewrapped", "retired") to the audit log."""

    key: NodeKey
    reseal: Reseal
    in_use: Callable[[], Mapping[str, int]]
    record: Record

    def rotate(self, *, actor: Any = None) -> tuple[str | None, str, int, list[str]]:
        """A new key, the old one kept among the previous keys, then everything re-sealed under the new one: the old
        id (None when there was no key), the new id, and `rewrap`'s answer."""
        previous, current = self.key.rotate()
        self.record("rotated", actor, {"from": previous, "to": current})
        return previous, current, *self.rewrap(actor=actor)

    def rewrap(self, *, actor: Any = None, batch: int = REWRAP_BATCH) -> tuple[int, list[str]]:
        """Everything still under a previous key sealed again under the current one: how many, and the ids of those
        whose key is not held or whose value does not open (left as they are, and logged)."""
        current = self.key.current_id()
        if current is None:
            return 0, []
        done, left = self.reseal(self.key.keyring(), current, batch)
        for identifier in left:
            logger.error(
                "%s: %s not sealed again under the current key: it does not open here", self.key.name, identifier
            )
        if done or left:
            self.record("rewrapped", actor, {"count": done, "to": current, "unreadable": len(left), "ids": left[:100]})
        return done, left

    def retire(
        self, *, actor: Any = None, grace_seconds: float = RETIRE_GRACE_SECONDS
    ) -> tuple[list[str], dict[str, str]]:
        """The previous keys nothing is under any more, replaced more than `grace_seconds` ago, deleted: their ids,
        and the kept ones with why."""
        retired, kept = self.key.retire(in_use=self.in_use(), grace_seconds=grace_seconds)
        if retired:
            self.record("retired", actor, {"keys": retired})
        return retired, kept


_rotations: dict[str, Rotation] = {}


def register(name: str, rotation: Rotation) -> None:
    """Make a node key rotatable as `cybercoop keys NAME` (from the domain's `AppConfig.ready()`)."""
    _rotations[name] = rotation


def rotations() -> dict[str, Rotation]:
    return dict(sorted(_rotations.items()))
