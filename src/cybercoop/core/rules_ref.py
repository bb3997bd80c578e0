"""The rule catalogue (every ID of the Protocol and the recommendations) and the traceability scan.

`rules_catalogue.toml` holds each rule's text in ru, kk and en. Code cites a rule in a comment or a
string (`# P7.4`); a test carries `@pytest.mark.rule("P7.4")`. `scan()` finds both so that
`cybercoop rules report` can show, for every rule, where it is applied and where it is proved.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import get_language

CATALOGUE_PATH = Path(__file__).with_name("rules_catalogue.toml")

# An ID standing on its own: P7.4, P18, R9 (not part of a longer word, number or dotted name).
RULE_ID_PATTERN = re.compile(r"(?<![\w.])([PR]\d{1,2}(?:\.\d{1,2})?)(?![\w]|\.\d)")


@dataclass(frozen=True)
class Rule:
    """One normative provision with its texts in the interface languages."""

    id: str
    document: str
    article: str
    title: dict[str, str]
    text: dict[str, str]
    obligation: str

    def localized_title(self, language: str | None = None) -> str:
        """The title in `language` (default: the active one), falling back to Russian (P13)."""
        return self.title.get(language or get_language() or "ru") or self.title["ru"]

    def localized_text(self, language: str | None = None) -> str:
        """The text in `language` (default: the active one), falling back to Russian (P13)."""
        return self.text.get(language or get_language() or "ru") or self.text["ru"]


@functools.cache
def catalogue() -> dict[str, Rule]:
    """Every rule by ID, in the order of the source documents."""
    with CATALOGUE_PATH.open("rb") as handle:
        data = tomllib.load(handle)
    return {
        rule_id: Rule(
            id=rule_id,
            document=entry["document"],
            article=entry["article"],
            title=dict(entry["title"]),
            text=dict(entry["text"]),
            obligation=entry["obligation"],
        )
        for rule_id, entry in data["rules"].items()
    }


def is_known(rule_id: str) -> bool:
    """True if `rule_id` is in the catalogue."""
    return rule_id in catalogue()


@dataclass(frozen=True)
class Citation:
    """A place in a file that names a rule ID."""

    rule_id: str
    path: str
    line: int
    where: str = ""  # for tests: the test's name


@dataclass
class Traceability:
    """What a scan found: citations in code and rule marks on tests."""

    code: list[Citation] = field(default_factory=list)
    tests: list[Citation] = field(default_factory=list)

    def unknown(self) -> list[Citation]:
        """Citations of IDs the catalogue does not have."""
        return [c for c in [*self.code, *self.tests] if not is_known(c.rule_id)]


def cited_ids(source: str) -> list[tuple[str, int]]:
    """(ID, line) for every rule ID in the comments and strings of Python `source`."""
    found: list[tuple[str, int]] = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type in (tokenize.COMMENT, tokenize.STRING) or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            for offset, text_line in enumerate(token.string.splitlines() or [""]):
                found.extend((m.group(1), token.start[0] + offset) for m in RULE_ID_PATTERN.finditer(text_line))
    return found


def _is_rule_mark(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "rule"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "mark"
    )


def marked_ids(source: str) -> list[tuple[str, int, str]]:
    """(ID, line, test name) for every `pytest.mark.rule(...)` in a test module's `source`."""
    tree = ast.parse(source)
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{scope}::{child.name}" if scope else child.name
            if _is_rule_mark(child):
                assert isinstance(child, ast.Call)
                found.extend(
                    (arg.value, child.lineno, scope or "<module>")
                    for arg in child.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                )
            visit(child, name)

    visit(tree, "")
    return found


def _python_files(roots: Iterable[Path]) -> Iterable[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from sorted(p for p in root.rglob("*.py") if ".venv" not in p.parts)


def scan(code_roots: Iterable[Path], test_roots: Iterable[Path], base: Path) -> Traceability:
    """Scan code for citations and tests for rule marks; paths are reported relative to `base`."""
    result = Traceability()
    for path in _python_files(code_roots):
        relative = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        source = path.read_text(encoding="utf-8")
        result.code.extend(Citation(rule_id, relative, line) for rule_id, line in cited_ids(source))
    for path in _python_files(test_roots):
        relative = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        source = path.read_text(encoding="utf-8")
        result.tests.extend(Citation(rule_id, relative, line, where) for rule_id, line, where in marked_ids(source))
    return result
