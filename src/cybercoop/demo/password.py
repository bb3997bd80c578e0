"""The demo users' shared password (no Django imports: the demo runner uses it before any node starts)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def demo_password(data_dir: Path) -> str:
    """CYBERCOOP_DEMO_PASSWORD if set, else one generated once and kept (mode 0600) in `data_dir`."""
    given = os.environ.get("CYBERCOOP_DEMO_PASSWORD")
    if given:
        return given
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-password"
    if not path.exists():
        words = ["".join(secrets.choice(_ALPHABET) for _i in range(4)) for _j in range(4)]
        path.touch(mode=0o600)
        path.write_text("-".join(words), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()
