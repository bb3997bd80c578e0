"""The project's translation catalogues: extract messages, update ru/kk/en .po files, compile, check.

Pure Python (Babel for extraction, polib for catalogues), so no GNU gettext tools are needed on a
developer's machine or in CI. Templates are turned into extractable code by Django's own
`templatize`, exactly as `makemessages` does.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polib
from babel.messages.extract import DEFAULT_KEYWORDS, extract_python
from django.utils.translation.template import templatize

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = ("ru", "kk", "en")
SOURCE_LANGUAGE = "en"  # msgids are English; the en catalogue repeats them

PLURAL_FORMS = {
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "kk": "nplurals=2; plural=(n!=1);",
    "en": "nplurals=2; plural=(n != 1);",
}

KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext_lazy": (1, 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext_lazy": ((1, "c"), 2, 3),
}

SKIP_PARTS = {"migrations", "__pycache__", "locale", "static"}


@dataclass(frozen=True)
class Message:
    """One translatable message as extracted."""

    msgid: str
    plural: str = ""
    context: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.context, self.msgid)


@dataclass
class Extracted:
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    where: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)

    def add(self, message: Message, path: str, line: int) -> None:
        self.messages.setdefault(message.key, message)
        self.where.setdefault(message.key, []).append((path, line))


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        if path.suffix == ".py" or (path.suffix in {".html", ".txt"} and "templates" in path.parts):
            yield path


def _messages_in(code: bytes) -> Iterable[tuple[int, Message]]:
    for line, _funcname, found, _comments in extract_python(io.BytesIO(code), KEYWORDS, [], {}):
        spec = KEYWORDS.get(str(_funcname))
        context = ""
        strings = list(found) if isinstance(found, tuple | list) else [found]
        if isinstance(spec, tuple) and spec and isinstance(spec[0], tuple):  # (1, "c") marks the context
            context, strings = strings[0], strings[1:]
        strings = [s for s in strings if s]
        if not strings:
            continue
        yield (
            line,
            Message(msgid=strings[0], plural=strings[1] if len(strings) > 1 else "", context=context or ""),
        )


def extract(root: Path = PACKAGE_DIR) -> Extracted:
    """Every translatable message in the package's code and templates."""
    result = Extracted()
    for path in _sources(root):
        text = path.read_text(encoding="utf-8")
        code = text if path.suffix == ".py" else templatize(text, origin=str(path))
        relative = str(path.relative_to(root.parent))
        for line, message in _messages_in(code.encode("utf-8")):
            result.add(message, relative, line)
    return result


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


def _key(entry: polib.POEntry) -> tuple[str, str]:
    return (entry.msgctxt or "", entry.msgid)


def update_catalogues(extracted: Extracted | None = None) -> dict[str, tuple[int, int]]:
    """Add new messages to each catalogue and drop ones no longer used; returns (added, removed) per language."""
    extracted = extracted or extract()
    changes = {}
    for language in LANGUAGES:
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        po = polib.pofile(str(path)) if path.exists() else polib.POFile()
        po.metadata = {
            "Project-Id-Version": "cybercoop",
            "Language": language,
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8",
            "Content-Transfer-Encoding": "8bit",
            "Plural-Forms": PLURAL_FORMS[language],
        }
        existing = {_key(e): e for e in po if not e.obsolete}
        nplurals = int(PLURAL_FORMS[language].split("nplurals=")[1].split(";")[0])
        added = 0
        entries = []
        for key, message in sorted(extracted.messages.items()):
            entry = existing.get(key)
            if entry is None:
                added += 1
                entry = polib.POEntry(msgid=message.msgid, msgctxt=message.context or None)
                if message.plural:
                    entry.msgid_plural = message.plural
                    entry.msgstr_plural = {i: "" for i in range(nplurals)}
            if language == SOURCE_LANGUAGE:
                if message.plural and not all(entry.msgstr_plural.values()):
                    entry.msgstr_plural = {0: message.msgid, 1: message.plural}
                elif not message.plural and not entry.msgstr:
                    entry.msgstr = message.msgid
            entry.occurrences = sorted(set(extracted.where[key]))[:5]
            entries.append(entry)
        removed = len(set(existing) - set(extracted.messages))
        new = polib.POFile(wrapwidth=0)
        new.metadata = po.metadata
        for entry in entries:
            new.append(entry)
        new.save(str(path))
        changes[language] = (added, removed)
    return changes


def compile_catalogues() -> None:
    """Write each .mo next to its .po."""
    for language in LANGUAGES:
        polib.pofile(str(po_path(language))).save_as_mofile(str(po_path(language).with_suffix(".mo")))


@dataclass
class CatalogueProblems:
    missing: dict[str, list[str]] = field(default_factory=dict)  # in the code, not in the catalogue
    untranslated: dict[str, list[str]] = field(default_factory=dict)
    fuzzy: dict[str, list[str]] = field(default_factory=dict)
    obsolete: dict[str, list[str]] = field(default_factory=dict)  # in the catalogue, not in the code
    stale_mo: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            [
                any(self.missing.values()),
                any(self.untranslated.values()),
                any(self.fuzzy.values()),
                any(self.obsolete.values()),
                self.stale_mo,
            ]
        )


def _translated(entry: polib.POEntry) -> bool:
    if entry.msgid_plural:
        return bool(entry.msgstr_plural) and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


def check(extracted: Extracted | None = None) -> CatalogueProblems:
    """What is wrong with the catalogues: messages missing, untranslated, fuzzy, obsolete; stale .mo files."""
    extracted = extracted or extract()
    problems = CatalogueProblems()
    for language in LANGUAGES:
        path = po_path(language)
        po = polib.pofile(str(path)) if path.exists() else polib.POFile()
        entries = {_key(e): e for e in po if not e.obsolete}
        problems.missing[language] = sorted(m for _c, m in set(extracted.messages) - set(entries))
        problems.obsolete[language] = sorted(m for _c, m in set(entries) - set(extracted.messages))
        problems.untranslated[language] = sorted(e.msgid for e in entries.values() if not _translated(e))
        problems.fuzzy[language] = sorted(e.msgid for e in entries.values() if "fuzzy" in e.flags)
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != _mo_bytes(po):
            problems.stale_mo.append(language)
    return problems


def _mo_bytes(po: polib.POFile) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "django.mo"
        po.save_as_mofile(str(target))
        return target.read_bytes()
