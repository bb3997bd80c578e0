"""The HTTP answer that gives out an attachment, the same for the screens and the API: decrypted (`at_rest`), its
SHA-256 checked before a byte is sent, always a download, under headers that keep a browser from running or
keeping it."""

from __future__ import annotations

import io
from urllib.parse import quote

from django.http import FileResponse

from cybercoop.exchange import at_rest, rules
from cybercoop.exchange.models import Attachment

# A file from another node comes with the type its sender named; only an accepted one is passed on as it is.
FALLBACK_MEDIA_TYPE = "application/octet-stream"
SAFE_HEADERS = {
    # The type was checked by content on upload: the browser must not guess another one.
    "X-Content-Type-Options": "nosniff",
    # Opened in a tab anyway (a PDF, an image), the file may load nothing and run nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    # Nor may the browser or a proxy keep a copy of a case's file (P10.1).
    "Cache-Control": "no-store",
}


def content_disposition(name: str) -> str:
    """`attachment` with the sanitised name, as RFC 6266 asks: `filename*` (RFC 8187, UTF-8) and, for older
    clients, an ASCII `filename` in which anything else (and `%`, which some decode) is an underscore."""
    safe = rules.safe_file_name(name)
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in safe)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(safe, safe='')}"


def bytes_response(content: bytes, *, name: str, media_type: str) -> FileResponse:
    """Content made here (a package of a case's files) as a download under the same safe headers."""
    response = FileResponse(io.BytesIO(content), content_type=media_type)
    response["Content-Disposition"] = content_disposition(name)
    for header, value in SAFE_HEADERS.items():
        response[header] = value
    return response


def attachment_response(attachment: Attachment) -> FileResponse:
    """The attachment's plaintext as a download; raises `at_rest.AttachmentUnreadable` (before anything is sent)
    when its file is missing, damaged or under another node key."""
    content = at_rest.open(attachment)
    media_type = attachment.media_type if attachment.media_type in rules.ALLOWED_TYPES else FALLBACK_MEDIA_TYPE
    return bytes_response(content, name=attachment.name, media_type=media_type)
