"""`cybercoop rules report`: every rule ID with the code citing it and the tests marked with it."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cybercoop.core.rules_ref import catalogue, scan

SOURCE_ROOT = settings.PACKAGE_DIR
PROJECT_ROOT = SOURCE_ROOT.parent.parent


class Command(BaseCommand):
    help = "The rule catalogue. `report`: coverage of every rule by code and tests; exits 1 on unknown IDs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        report = sub.add_parser("report", help="List every rule with the code and tests that cite it.")
        report.add_argument("--format", choices=["text", "markdown", "json"], default="text")
        report.add_argument("--code", type=Path, default=SOURCE_ROOT, help="Source folder to scan.")
        report.add_argument("--tests", type=Path, default=PROJECT_ROOT / "tests", help="Tests folder to scan.")
        report.add_argument("--language", choices=["ru", "kk", "en"], default="en")

    def handle(self, *args: Any, **options: Any) -> None:
        found = scan([options["code"]], [options["tests"]], base=PROJECT_ROOT)
        code, tests = defaultdict(list), defaultdict(list)
        for citation in found.code:
            code[citation.rule_id].append(f"{citation.path}:{citation.line}")
        for citation in found.tests:
            tests[citation.rule_id].append(f"{citation.path}::{citation.where}")
        rows = [
            {
                "id": rule.id,
                "title": rule.localized_title(options["language"]),
                "code": sorted(set(code[rule.id])),
                "tests": sorted(set(tests[rule.id])),
            }
            for rule in catalogue().values()
        ]
        unknown = sorted({f"{c.rule_id} ({c.path}:{c.line})" for c in found.unknown()})
        covered = sum(1 for r in rows if r["tests"])
        cited = sum(1 for r in rows if r["code"])
        if options["format"] == "json":
            self.stdout.write(json.dumps({"rules": rows, "unknown": unknown}, ensure_ascii=False, indent=2))
        elif options["format"] == "markdown":
            self.stdout.write("| ID | Rule | Code | Tests |\n|---|---|---|---|")
            for r in rows:
                self.stdout.write(
                    f"| {r['id']} | {r['title']} | {'<br>'.join(r['code']) or '—'} | {'<br>'.join(r['tests']) or '—'} |"
                )
            self.stdout.write(f"\n{cited} of {len(rows)} rules cited in code, {covered} proved by tests.")
        else:
            for r in rows:
                self.stdout.write(f"{r['id']:<6} {r['title']}")
                for place in r["code"]:
                    self.stdout.write(f"         code  {place}")
                for test in r["tests"]:
                    self.stdout.write(f"         test  {test}")
            self.stdout.write(f"\n{cited} of {len(rows)} rules cited in code, {covered} proved by tests.")
        if unknown:
            self.stderr.write("Unknown rule IDs: " + ", ".join(unknown))
            raise SystemExit(1)
