"""`cybercoop manage seed_demo`: create the demonstration's Parties, bodies and users."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from cybercoop.demo import signers
from cybercoop.demo.password import demo_password
from cybercoop.demo.seed import seed

# Where each Party's CA certificate is written for the Secretariat to publish (demo.federation).
AUTHORITIES = "documents/authorities"


class Command(BaseCommand):
    help = "Create the demo Parties, competent bodies and a user of every role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the logins as JSON.")
        parser.add_argument(
            "--registry-only", action="store_true", help="Multi-node demo, Secretariat: the registry, no users."
        )
        parser.add_argument(
            "--signers",
            action="store_true",
            help="Also make the heads and deputies signers (P6.5): their Party's CA, a certificate, a demo TOTP.",
        )
        parser.add_argument(
            "--node",
            default="",
            help="Multi-node demo: the users of the bodies served by this node, and their requests.",
        )

    def handle(self, *args, **options):
        password = demo_password(settings.DATA_DIR)
        node = options["node"]
        logins = seed(password=password, registry=not node, users=not options["registry_only"], node=node)
        if options["signers"]:
            # After the seeded requests (approved unsigned): the heads and deputies then sign with `demo totp` codes.
            signers.prepare([login.username for login in logins], folder=settings.DATA_DIR / AUTHORITIES)
        if options["json"]:
            self.stdout.write(json.dumps([login.__dict__ for login in logins], ensure_ascii=False))
            return
        self.stdout.write(f"{len(logins)} demo users; password for all: {password}")
        for login in logins:
            self.stdout.write(f"  {login.username:<18} {login.role:<12} {login.body:<10} {login.full_name}")
