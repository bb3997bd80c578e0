"""Pure rules of the exchange: what a message's hash covers, markings, and which attachments are accepted."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785
from django.db import models
from django.utils.translation import gettext_lazy as _

PROTOCOL_VERSION = 1


class Marking(models.TextChoices):
    """Confidentiality marking of a case, message, attachment (P10.1). State secrets never travel (P10.3)."""

    PUBLIC = "public", _("Public")
    OFFICIAL = "official", _("Official use only")
    CONFIDENTIAL = "confidential", _("Confidential")


# P10.3: state secrets are exchanged and protected only under the CSTO agreement of 18 June 2004, never here. A
# marking that says so (in the form's list, from the API, or in an envelope) is refused with that channel named.
STATE_SECRET = "state_secret"  # noqa: S105 - a marking, not a credential
STATE_SECRET_LABEL = _("State secret")
STATE_SECRET_MARKINGS = frozenset({STATE_SECRET, "secret", "top_secret", "special_importance"})
STATE_SECRET_REFUSED = _(
    "State secrets are not exchanged through CyberCoop (P10.3): they are passed and protected only through the "
    "channels of the Agreement on mutual protection of classified information within the Collective Security "
    "Treaty Organization of 18 June 2004. Remove the classified content, or send it through that channel."
)


def is_state_secret(marking: object) -> bool:
    """Does this marking claim a state secret (P10.3)?"""
    return isinstance(marking, str) and marking.strip().lower() in STATE_SECRET_MARKINGS


def message_digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 of a message's canonical JSON (RFC 8785); datetimes as UTC RFC 3339 with microseconds."""
    normalised = {
        key: value.astimezone(dt.UTC).isoformat(timespec="microseconds") if isinstance(value, dt.datetime) else value
        for key, value in fields.items()
    }
    return hashlib.sha256(rfc8785.dumps(normalised)).hexdigest()


# Attachments: what a competent body may send. Checked by content, not by the name it came with.
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt", ".log", ".csv"),
    "application/zip": (".zip",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
}


def sniff_media_type(head: bytes, name: str) -> str | None:
    """The media type of a file by its first bytes (and, for ZIP-based formats, its name); None if not allowed."""
    lowered = name.lower()
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"PK\x03\x04"):
        for media_type in (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ):
            if lowered.endswith(ALLOWED_TYPES[media_type]):
                return media_type
        return "application/zip"
    try:
        # Not final: the first bytes may end inside a character (Cyrillic takes two), which is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in text or not lowered.endswith(ALLOWED_TYPES["text/plain"]):
        return None
    return "text/plain"


def safe_file_name(name: str) -> str:
    """A file name safe to store and to offer for download: no path, no control characters, at most 120 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*').strip(" .")
    if not cleaned:
        return "attachment"
    if len(cleaned) > 120:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (stem[: 119 - len(suffix)] + dot + suffix) if dot and len(suffix) <= 10 else cleaned[:120]
    return cleaned
