"""`cybercoop audit verify`: walk the audit chain and report the first broken or missing entry."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import translation

from cybercoop.audit import services


class Command(BaseCommand):
    help = "Audit log tools. `verify`: check the whole hash chain; exits 1 on the first problem."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Walk the chain from the first entry to the last.")
        verify.add_argument("--language", default="ru", choices=["ru", "kk", "en"])

    def handle(self, *args, **options):
        with translation.override(options["language"]):
            report = services.verify_chain()
            message = report.message()
        if report.ok:
            self.stdout.write(message)
            return
        self.stderr.write(message)
        raise SystemExit(1)
