"""`cybercoop i18n extract|compile|check`: keep the ru, kk and en catalogues complete."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cybercoop.core import i18n


class Command(BaseCommand):
    help = "Translations: extract messages into the catalogues, compile them, or check they are complete."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("extract", help="Add new messages to ru/kk/en .po files and drop unused ones.")
        sub.add_parser("compile", help="Compile the .po files into .mo files.")
        sub.add_parser("check", help="Fail if any message is missing, untranslated, fuzzy or obsolete.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "extract":
            for language, (added, removed) in i18n.update_catalogues().items():
                self.stdout.write(f"{language}: {added} added, {removed} removed")
        elif action == "compile":
            i18n.compile_catalogues()
            self.stdout.write("compiled " + ", ".join(i18n.LANGUAGES))
        else:
            problems = i18n.check()
            for kind in ("missing", "untranslated", "fuzzy", "obsolete"):
                for language, msgids in getattr(problems, kind).items():
                    for msgid in msgids:
                        self.stderr.write(f"{language}: {kind}: {msgid!r}")
            for language in problems.stale_mo:
                self.stderr.write(f"{language}: the .mo file is out of date; run `cybercoop i18n compile`")
            if problems:
                raise SystemExit(1)
            self.stdout.write("catalogues complete: " + ", ".join(i18n.LANGUAGES))
