"""Official documents as Russian PDFs (P6.3, P9.2, P13): the values in, the A4 pages out; nothing stored.

`render_pdf(data)` turns a `DocumentData` into the PDF of a request, an urgent-request confirmation, a
refusal (full or partial), a postponement, proposed conditions or a results letter: the sending body's
letterhead, the registration number and date, the addressee, the sections, the legal basis, the
signatory and an empty "Подпись" area the signer's PAdES signature goes into (`render(data)` also says
where that area is). Labels are in Russian, the working language (P13); an annex repeats the document
with its labels in the body's national language and the values unchanged.

Input that would not fit a field is refused with `InvalidInput`, field by field, before anything is drawn.
WeasyPrint fetches nothing: the fetcher refuses every URL but `data:`, so a document never reaches the
network or the file system.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models
from django.template.loader import render_to_string
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from cybercoop.core.errors import InvalidInput

if TYPE_CHECKING:
    from cybercoop.registry.models import Body

TEMPLATE = "documents/document.html"
LANGUAGE = "ru"  # P13: the working language; every official document is in Russian
# Languages an annex can be made in: those the labels are translated into (the catalogues of settings.LANGUAGES).
ANNEX_LANGUAGES: Mapping[str, Promise] = {"kk": _("Kazakh"), "en": _("English")}

# Limits: what fits the letterhead and the page layout, and what keeps a render in seconds.
MAX_NUMBER = 40  # assistance.Case.outgoing_number
MAX_NAME = 300  # registry's name_ru
MAX_CODE = 32
MAX_ADDRESS = 300
MAX_TITLE = 300  # assistance.Case.subject
MAX_LEGAL_BASIS = 500
MAX_SIGNATORY_NAME = 200
MAX_SIGNATORY_POSITION = 300
MAX_HEADING = 200
MAX_SECTION_TEXT = 20_000  # as assistance.services._text
MAX_SECTIONS = 40
MAX_TEXT_TOTAL = 100_000

PX_TO_PT = 0.75  # WeasyPrint lays out in CSS pixels (96 per inch); PDF counts points (72 per inch)


class DocumentKind(models.TextChoices):
    """The official documents of the requests workflow, each in writing (P6.3)."""

    REQUEST = "request", _("Request for assistance")
    URGENT_CONFIRMATION = "urgent_confirmation", _("Written confirmation of an urgent request")
    REFUSAL = "refusal", _("Notice of refusal to execute the request")
    PARTIAL_REFUSAL = "partial_refusal", _("Notice of partial refusal to execute the request")
    POSTPONEMENT = "postponement", _("Notice of postponement of execution")
    CONDITIONS = "conditions", _("Proposal of conditions of execution")
    RESULTS = "results", _("On the results of the execution of the request")


class SectionKey(models.TextChoices):
    """The standard sections; values are the case's field names, so errors land on the right form field."""

    SCOPE = "scope", _("scope (Article 3)")
    PURPOSE = "purpose", _("Purpose")
    GROUNDS = "grounds", _("Grounds")
    SUBSTANCE = "substance", _("Substance of the matter")
    ASSISTANCE_KINDS = "assistance_kinds", _("assistance sought (kind)")
    ASSISTANCE_SOUGHT = "assistance_sought", _("Assistance sought")
    IDENTIFIERS = "identifiers", _("Identifiers of the data or persons sought")
    OFFENCE = "offence", _("offence under the requesting Party's law")
    EXECUTION_TERM = "execution_term", _("Execution term")
    OTHER_INFORMATION = "other_information", _("Other useful information")
    URGENT_REQUEST = "urgent_request", _("The urgent request confirmed")
    REQUEST_REFERENCE = "request_reference", _("In reply to the request")
    REFUSED_PART = "refused_part", _("The part refused")
    REASONS = "reasons", _("Reasons")
    UNTIL = "until", _("Postponed until")
    CONDITIONS = "conditions", _("Conditions")
    SUMMARY = "summary", _("Summary of the results")
    COSTS = "costs", _("Costs")
    ATTACHMENTS = "attachments", _("Attachments")


_P62 = (SectionKey.PURPOSE, SectionKey.GROUNDS, SectionKey.SUBSTANCE, SectionKey.ASSISTANCE_SOUGHT)
# What each document must state, besides the parties, number, date, legal basis and signatory.
REQUIRED_SECTIONS: Mapping[str, tuple[SectionKey, ...]] = {
    DocumentKind.REQUEST: _P62,  # P6.2
    DocumentKind.URGENT_CONFIRMATION: (SectionKey.URGENT_REQUEST, *_P62),  # P6.4: it confirms that request
    DocumentKind.REFUSAL: (SectionKey.REQUEST_REFERENCE, SectionKey.REASONS),  # P9.2: with reasons
    DocumentKind.PARTIAL_REFUSAL: (SectionKey.REQUEST_REFERENCE, SectionKey.REFUSED_PART, SectionKey.REASONS),
    DocumentKind.POSTPONEMENT: (SectionKey.REQUEST_REFERENCE, SectionKey.UNTIL, SectionKey.REASONS),  # P7.6
    DocumentKind.CONDITIONS: (SectionKey.REQUEST_REFERENCE, SectionKey.CONDITIONS, SectionKey.REASONS),  # P7.6
    DocumentKind.RESULTS: (SectionKey.REQUEST_REFERENCE, SectionKey.SUMMARY),  # P7.8
}
# A request names its subject in the title; a reply may.
TITLE_REQUIRED = frozenset({DocumentKind.REQUEST, DocumentKind.URGENT_CONFIRMATION})


@dataclass(frozen=True)
class BodyHeading:
    """A competent body as a letterhead or an addressee shows it: names in Russian, and contacts if known."""

    name: str  # the body's full name in Russian
    party_name: str  # its Party's name in Russian
    code: str = ""
    address: str = ""
    contacts: str = ""  # telephone, e-mail: one line


@dataclass(frozen=True)
class Section:
    """A heading and its text; a standard section (`Section.of`) carries its key, and its heading is a
    label, so it is translated in the annex."""

    heading: str | Promise
    text: str
    key: str = ""

    @classmethod
    def of(cls, key: SectionKey, text: str) -> Section:
        return cls(heading=key.label, text=text, key=key.value)


@dataclass(frozen=True)
class DocumentData:
    """Everything printed on an official document."""

    kind: DocumentKind
    number: str  # the registration (outgoing) number
    date: dt.date
    sender: BodyHeading
    addressee: BodyHeading
    sections: Sequence[Section]
    legal_basis: str  # the instrument's Russian title
    signatory_name: str
    signatory_position: str
    title: str | None = None  # a request's subject; a reply's short heading
    annex_language: str | None = None  # "kk": an annex with the labels in Kazakh


@dataclass(frozen=True)
class SignatureArea:
    """Where the empty signature block is: the page (0-based) and the box in PDF points, (x1, y1, x2, y2)
    from the page's lower left corner, as pyHanko's `SigFieldSpec(box=..., on_page=...)` takes it."""

    page: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    pages: int
    signature_area: SignatureArea


# --- validation -------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_text(
    errors: dict[str, list[str | Promise]], name: str, value: str, limit: int, *, required: bool, lines: bool = False
) -> None:
    if required and not value.strip():
        errors.setdefault(name, []).append(_("This field is required."))
    if len(value) > limit:
        errors.setdefault(name, []).append(_("At most %(count)d characters.") % {"count": limit})
    if (_CONTROL if lines else _LINE_CONTROL).search(value):
        errors.setdefault(name, []).append(_("Remove the control characters from this text."))


def _check_body(errors: dict[str, list[str | Promise]], name: str, body: BodyHeading) -> None:
    _check_text(errors, f"{name}.name", body.name, MAX_NAME, required=True)
    _check_text(errors, f"{name}.party_name", body.party_name, MAX_NAME, required=True)
    _check_text(errors, f"{name}.code", body.code, MAX_CODE, required=False)
    _check_text(errors, f"{name}.address", body.address, MAX_ADDRESS, required=False)
    _check_text(errors, f"{name}.contacts", body.contacts, MAX_ADDRESS, required=False)


def check(data: DocumentData) -> dict[str, list[str | Promise]]:
    """What would not fit, field by field (empty when the document can be rendered). Keyed sections report
    under their key (`purpose`, `reasons`), the others as `sections.<index>.heading` / `.text`."""
    errors: dict[str, list[str | Promise]] = {}
    if data.kind not in DocumentKind.values:
        errors["kind"] = [_("Unknown kind of document.")]
    _check_text(errors, "number", data.number, MAX_NUMBER, required=True)
    _check_body(errors, "sender", data.sender)
    _check_body(errors, "addressee", data.addressee)
    _check_text(errors, "title", data.title or "", MAX_TITLE, required=data.kind in TITLE_REQUIRED)
    _check_text(errors, "legal_basis", data.legal_basis, MAX_LEGAL_BASIS, required=True)
    _check_text(errors, "signatory_name", data.signatory_name, MAX_SIGNATORY_NAME, required=True)
    _check_text(errors, "signatory_position", data.signatory_position, MAX_SIGNATORY_POSITION, required=True)
    if data.annex_language and data.annex_language not in ANNEX_LANGUAGES:
        errors["annex_language"] = [
            _("No annex can be made in this language; choose one of: %(languages)s.")
            % {"languages": ", ".join(ANNEX_LANGUAGES)}
        ]
    if len(data.sections) > MAX_SECTIONS:
        errors["sections"] = [_("At most %(count)d sections.") % {"count": MAX_SECTIONS}]
    elif sum(len(s.text) for s in data.sections) > MAX_TEXT_TOTAL:
        errors["sections"] = [_("At most %(count)d characters.") % {"count": MAX_TEXT_TOTAL}]
    for index, section in enumerate(data.sections):
        name = section.key or f"sections.{index}"
        if not section.key:
            _check_text(errors, f"{name}.heading", str(section.heading), MAX_HEADING, required=True)
        _check_text(
            errors, name if section.key else f"{name}.text", section.text, MAX_SECTION_TEXT, required=False, lines=True
        )
    present = {s.key for s in data.sections if s.key and s.text.strip()}
    for key in REQUIRED_SECTIONS.get(data.kind, ()):
        if key.value not in present:
            errors.setdefault(key.value, []).append(_("This field is required."))
    return errors


# --- rendering --------------------------------------------------------------------------------------------


def _labels() -> dict[str, str]:
    """Every fixed text of the document, in the active language."""
    return {
        "annex_note": str(_("The labels are translated; the text is as in the original, in Russian.")),
        "addressee": str(_("Addressee")),
        "legal_basis": str(_("Legal basis")),
        "signature": str(_("Signature")),
    }


def _number_line(data: DocumentData) -> str:
    return str(_("No. %(number)s of %(date)s") % {"number": data.number, "date": f"{data.date:%d.%m.%Y}"})


def _css_string(text: str) -> str:
    """A CSS string literal: quotes, backslashes, line breaks and `<` escaped (never ends a <style>)."""
    out = []
    for char in text:
        if char in '"\\<>' or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _page_counter() -> str:
    """`Страница N из M` as CSS content: the translated label with its placeholders as page counters."""
    parts = re.split(r"(%\((?:number|total)\)s)", str(_("Page %(number)s of %(total)s")))
    tokens = []
    for part in parts:
        if part == "%(number)s":
            tokens.append("counter(page)")
        elif part == "%(total)s":
            tokens.append("counter(pages)")
        elif part:
            tokens.append(_css_string(part))
    return " ".join(tokens)


def _page_css(data: DocumentData, annex_language: str | None) -> str:
    """The margin boxes: the number and date on the left, the page count on the right (per language)."""
    with override(LANGUAGE):
        css = (
            f"@page {{ @bottom-left {{ content: {_css_string(_number_line(data))}; }}"
            f" @bottom-right {{ content: {_page_counter()}; }} }}\n"
        )
    if annex_language:
        with override(annex_language):
            css += (
                f"@page annex {{ @bottom-left {{ content: {_css_string(_number_line(data))}; }}"
                f" @bottom-right {{ content: {_page_counter()}; }} }}\n"
            )
    return css


def _heading(section: Section) -> str:
    return capfirst(str(section.heading)) or ""


def _body_context(data: DocumentData) -> dict[str, Any]:
    """The labels and headings in the active language; values as given."""
    return {
        "labels": _labels(),
        "kind_title": str(DocumentKind(data.kind).label),
        "number_line": _number_line(data),
        "sections": [{"heading": _heading(s), "text": s.text, "key": s.key} for s in data.sections if s.text.strip()],
    }


def _html(data: DocumentData) -> str:
    annex = None
    if data.annex_language:
        language = ANNEX_LANGUAGES[data.annex_language]
        with override(data.annex_language):
            annex = _body_context(data) | {
                "language": data.annex_language,
                "heading": str(_("Annex (%(language)s)") % {"language": language}),
            }
        with override(LANGUAGE):
            annex["heading_ru"] = str(_("Annex (%(language)s)") % {"language": language})
    with override(LANGUAGE):
        return render_to_string(TEMPLATE, {"data": data, "main": _body_context(data), "annex": annex})


def render(data: DocumentData) -> RenderedDocument:
    """The document's PDF, its page count and where the signature goes; `InvalidInput` if something does
    not fit (nothing is rendered then)."""
    errors = check(data)
    if errors:
        raise InvalidInput(_("The document could not be prepared."), errors=errors)
    from cybercoop.documents.layout import html_to_document  # WeasyPrint: loaded when first used

    document = html_to_document(_html(data), stylesheets=[_page_css(data, data.annex_language or None)])
    # The same values give the same bytes: the archive's SHA-256 can be checked by rendering again.
    stamp = f"{data.date:%Y-%m-%d}T00:00:00+00:00"
    document.metadata.created = document.metadata.modified = stamp
    with override(LANGUAGE):
        document.metadata.title = f"{DocumentKind(data.kind).label} {_number_line(data)}"
    document.metadata.authors = [data.sender.name]
    pdf = document.write_pdf(pdf_identifier=data.number.encode())
    return RenderedDocument(pdf=pdf, pages=len(document.pages), signature_area=_signature_area(document))


def render_pdf(data: DocumentData) -> bytes:
    """The official PDF of `data` (A4, Russian, page numbers, an empty signature area)."""
    return render(data).pdf


def _signature_area(document: Any) -> SignatureArea:
    for index, page in enumerate(document.pages):
        if "signature" in page.anchors:
            left, top, right, bottom = page.anchors["signature"]
            height = page.height
            return SignatureArea(
                page=index,
                box=(
                    round(left * PX_TO_PT, 2),
                    round((height - bottom) * PX_TO_PT, 2),
                    round(right * PX_TO_PT, 2),
                    round((height - top) * PX_TO_PT, 2),
                ),
            )
    raise AssertionError("the template has no signature block")  # pragma: no cover - a broken template


def heading_for(body: Body) -> BodyHeading:
    """A registry body as a letterhead shows it (the registry keeps no postal address or telephone)."""
    return BodyHeading(name=body.name_ru, party_name=body.party.name_ru, code=body.code)


# --- for tests and for people to look at ---------------------------------------------------------------------


def _poppler(tool: str) -> str:
    """The full path of a poppler-utils program (pdftotext, pdftoppm)."""
    path = shutil.which(tool)
    if path is None:
        raise FileNotFoundError(f"{tool} not found: install poppler-utils")
    return path


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as poppler's `pdftotext` extracts it, in the order it is drawn (`-raw`: columns and
    justified lines are not mixed up), UTF-8."""
    command = [_poppler("pdftotext"), "-raw", "-enc", "UTF-8", "-", "-"]
    out = subprocess.run(command, input=pdf, capture_output=True, check=True, timeout=60)  # noqa: S603 - our arguments
    return out.stdout.decode("utf-8")


def pdf_to_png(pdf: bytes, folder: Path, *, name: str = "page") -> list[Path]:
    """Each page as a PNG at 80 dpi (`pdftoppm -r 80`) in `folder`, named `<name>-<n>.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in _pngs(folder, name):
        old.unlink()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as source:
        source.write(pdf)
        source.flush()
        command = [_poppler("pdftoppm"), "-r", "80", "-png", source.name, str(folder / name)]
        subprocess.run(command, capture_output=True, check=True, timeout=120)  # noqa: S603 - our arguments
    return sorted(_pngs(folder, name), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def _pngs(folder: Path, name: str) -> Iterator[Path]:
    pattern = re.compile(re.escape(name) + r"-\d+\.png")
    return (p for p in folder.iterdir() if pattern.fullmatch(p.name))


__all__ = [
    "ANNEX_LANGUAGES",
    "REQUIRED_SECTIONS",
    "BodyHeading",
    "DocumentData",
    "DocumentKind",
    "RenderedDocument",
    "Section",
    "SectionKey",
    "SignatureArea",
    "check",
    "heading_for",
    "pdf_text",
    "pdf_to_png",
    "render",
    "render_pdf",
]
