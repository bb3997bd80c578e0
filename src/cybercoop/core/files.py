"""Writing files (keys, received chunks) so that a crash never leaves half of one; walking stored files."""

from __future__ import annotations

import base64
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_atomically(path: Path, content: str | bytes, *, mode: int, replace: bool = True) -> bool:
    """Write `content` (text as UTF-8, or bytes) to a temporary file beside `path` with `mode`, flushed to disk,
    then put it in place: renamed over `path` (`replace`), or linked only if `path` does not exist yet (not
    `replace`: returns False when another process created it first, and leaves that one). The folder is created
    with mode 0700, and synced after the rename, so the new name survives a crash too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        sync_folder(path.parent)
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def sync_folder(folder: Path) -> None:
    """Make a rename (or a new link) in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


KEY_BYTES = 32  # a 256-bit key


def write_key(path: Path, key: bytes, *, replace: bool) -> bool:
    """Keep `key` in `path` as `key_from_file` reads it (base64, mode 0600), atomically; `replace` as for
    `write_atomically` (False: only if no key is there yet)."""
    return write_atomically(path, base64.urlsafe_b64encode(key).decode("ascii") + "\n", mode=0o600, replace=replace)


def key_from_file(path: Path, *, create: bool, name: str) -> bytes:
    """A node's 256-bit key kept base64 in `path` (0600); created, atomically, when missing if `create`. Reading
    never creates one: a new key opens nothing sealed under the old one. `name` says which key in errors."""
    from django.core.exceptions import ImproperlyConfigured

    if create and not path.exists():
        # Not `replace`: when two processes create it at once, the first one wins and both use it.
        write_key(path, os.urandom(KEY_BYTES), replace=False)
    try:
        key = base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path}: the {name} is missing") from None
    except (ValueError, UnicodeDecodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"{path} does not hold a 256-bit key (base64)")
    return key


def stored_files(storage: Any, folder: str) -> Iterator[str]:
    """Every file under `folder` of a Django storage, by its storage name, at any depth, in name order."""
    if not storage.exists(folder):
        return
    folders, names = storage.listdir(folder)
    for name in sorted(names):
        yield f"{folder}/{name}"
    for nested in sorted(folders):
        yield from stored_files(storage, f"{folder}/{nested}")


def stored_before(storage: Any, name: str, *, seconds_ago: float) -> bool:
    """Was the stored file last written more than `seconds_ago` seconds ago? False for a file gone meanwhile (a
    write's temporary file, renamed). Files' ages are the file system's: compared with the system's time, not
    `core.clock`."""
    try:
        return bool(storage.get_modified_time(name).timestamp() <= time.time() - seconds_ago)
    except FileNotFoundError:
        return False
