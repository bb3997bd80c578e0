"""`cybercoop archive check`: hash every archived document again; name each one whose file is missing or altered."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import translation
from django.utils.translation import gettext as _

from cybercoop.audit import archive


class Command(BaseCommand):
    help = (
        "Archive of official documents. `check`: hash every archived file again; exits 1 if any is missing or "
        "altered. Files without a record (left by rolled-back transactions) are listed; `--sweep` removes them."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="Hash every archived document's file again.")
        check.add_argument("--language", default="ru", choices=["ru", "kk", "en"])
        check.add_argument(
            "--sweep",
            action="store_true",
            help="Remove the files without a record that are over an hour old (recorded in the audit log).",
        )

    def handle(self, *args, **options):
        with translation.override(options["language"]):
            problems = archive.check()
            damaged = [problem for problem in problems if problem.is_damage]
            orphans = [problem for problem in problems if not problem.is_damage]
            for problem in damaged:
                self.stderr.write(problem.message())
            for problem in orphans:
                self.stdout.write(problem.message())
            if options["sweep"] and orphans:
                removed = archive.sweep_orphans()
                self.stdout.write(_("Files without a record removed: %(count)d.") % {"count": len(removed)})
            total = archive.count()
            if damaged:
                self.stderr.write(
                    _("Archive damaged: %(damaged)d of %(count)d documents.")
                    % {"damaged": len(damaged), "count": total}
                )
                raise SystemExit(1)
            self.stdout.write(_("Archive intact: %(count)d documents.") % {"count": total})
