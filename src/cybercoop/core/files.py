"""Writing files (keys, received chunks) so that a crash never leaves half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
