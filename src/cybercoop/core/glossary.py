"""The Protocol's glossary (P1): the eight terms of Article 1 in ru, kk and en, for pages and help text.

`glossary.toml` holds each term and its definition, keyed by a stable slug. A form field takes its
help text from here, `help_text=glossary.help_text("competent_body")`, so the definition shown is
the treaty's and follows the reader's language.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.utils.functional import lazy
from django.utils.translation import get_language

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

GLOSSARY_PATH = Path(__file__).with_name("glossary.toml")


@dataclass(frozen=True)
class Term:
    """One term defined in Article 1, with the term and its definition in the interface languages."""

    slug: str
    term: dict[str, str]
    definition: dict[str, str]

    def localized_term(self, language: str | None = None) -> str:
        """The term in `language` (default: the active one), falling back to Russian (P13)."""
        return self.term.get(language or get_language() or "ru") or self.term["ru"]

    def localized_definition(self, language: str | None = None) -> str:
        """The definition in `language` (default: the active one), falling back to Russian (P13)."""
        return self.definition.get(language or get_language() or "ru") or self.definition["ru"]


@functools.cache
def _glossary() -> dict[str, Term]:
    with GLOSSARY_PATH.open("rb") as handle:
        data = tomllib.load(handle)
    return {
        slug: Term(slug=slug, term=dict(entry["term"]), definition=dict(entry["definition"]))
        for slug, entry in data.items()
    }


def terms() -> list[Term]:
    """Every term, in the order of Article 1."""
    return list(_glossary().values())


def get(slug: str) -> Term:
    """The term with this slug; KeyError for an unknown one, so a mistyped slug fails at import."""
    return _glossary()[slug]


def _definition(slug: str) -> str:
    return get(slug).localized_definition()


_lazy_definition = lazy(_definition, str)


def help_text(slug: str) -> StrPromise:
    """The term's definition as a lazy string, rendered in the language active when it is shown.

    The slug is checked now: a form module naming an unknown term fails when it is imported.
    """
    get(slug)
    # django-stubs types lazy(f, str) as f itself; at run time the result is a lazy proxy.
    return cast("StrPromise", _lazy_definition(slug))
