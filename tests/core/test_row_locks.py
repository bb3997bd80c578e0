"""Every row lock the code takes is FOR NO KEY UPDATE (docs/architecture.md, "Row locks"): a plain FOR UPDATE blocks
the key-share lock that a committing transaction takes to check each foreign key naming the row, and so deadlocked
an act with the worker once the worker held the audit chain's head (tests/assistance/test_act_locks.py shows it on
PostgreSQL). Read from the source, so that a new lock is held to the rule before it ever meets another session."""

from __future__ import annotations

import ast
from pathlib import Path

import cybercoop

SOURCE = Path(cybercoop.__file__).parent


def _calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [(str(path.relative_to(SOURCE)), node) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return found


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _chain(call: ast.Call) -> list[ast.Call]:
    """The calls of a query's chain, `Model.objects.a(...).b(...).c(...)`, from the last one (`call`) down."""
    chain = [call]
    while isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call):
        call = call.func.value
        chain.append(call)
    return chain


def _row_locks() -> list[tuple[str, int, ast.Call]]:
    return [(path, call.lineno, call) for path, call in _calls() if _method(call) == "select_for_update"]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_row_lock_is_no_key() -> None:
    locks = _row_locks()
    assert len(locks) >= 10, "the scan no longer finds the code's row locks"
    plain = [
        f"{path}:{line}"
        for path, line, call in locks
        if not (isinstance(value := _keyword(call, "no_key"), ast.Constant) and value.value is True)
    ]
    assert not plain, f"select_for_update without no_key=True (a plain FOR UPDATE): {plain}"


def test_a_lock_on_a_row_read_with_its_related_rows_names_its_own_table() -> None:
    """`select_related` with `select_for_update` locks every joined row unless `of` says which: the case's lock took
    its bodies, parties and instrument with it."""
    joined = set()
    for path, call in _calls():
        chain = _chain(call)
        locks = [c for c in chain if _method(c) == "select_for_update"]
        if locks and any(_method(c) == "select_related" for c in chain) and _keyword(locks[0], "of") is None:
            joined.add(f"{path}:{locks[0].lineno}")
    assert not joined, f"a lock that takes the related rows too (give of=('self',)): {sorted(joined)}"
