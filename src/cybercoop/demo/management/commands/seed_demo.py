"""`cybercoop manage seed_demo`: create the demonstration's Parties, bodies, users and cases.

In the multi-node demo a node seeds its own users and their first acts (`--node ID`) before it serves; once
every node serves and its worker runs, `--node ID --play` on each node, side by side, plays the rest of the demo
cases: each node does its users' acts as the other nodes' acts arrive, until every case is where the single-node
demo puts it (cybercoop.demo.cases). `--play` only ever waits on its own node's database, as an operator's node
would; run again, it repeats nothing.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cybercoop.demo import cases, signers
from cybercoop.demo.password import demo_password
from cybercoop.demo.seed import seed

# Where each Party's CA certificate is written for the Secretariat to publish (demo.federation).
AUTHORITIES = "documents/authorities"
# How long `--play` waits, by default, for the other nodes' acts: every case crosses at most four times, each
# crossing a worker pass or two away.
PLAY_SECONDS = 180.0


class Command(BaseCommand):
    help = "Create the demo Parties, competent bodies, a user of every role and the demo cases (idempotent)."

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
        parser.add_argument(
            "--play",
            action="store_true",
            help="Multi-node demo, every node serving: play this node's acts of the demo cases as the other nodes' "
            "acts arrive, until every case is played to its end here (safe to run again).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=PLAY_SECONDS,
            help=f"With --play: seconds to wait for the other nodes' acts (default {PLAY_SECONDS:.0f}).",
        )

    def handle(self, *args, **options):
        password = demo_password(settings.DATA_DIR)
        node = options["node"]
        try:
            logins = seed(password=password, registry=not node, users=not options["registry_only"], node=node)
            if options["play"]:
                cases.play_cases(timeout=options["timeout"])
        except cases.PlayError as error:
            raise CommandError(f"{node or 'this node'}: {error}") from error
        if options["signers"]:
            # After the seeded and played acts (approved and answered unsigned, the clock set back): the heads and
            # deputies then sign with `demo totp` codes.
            signers.prepare([login.username for login in logins], folder=settings.DATA_DIR / AUTHORITIES)
        if options["json"]:
            self.stdout.write(json.dumps([login.__dict__ for login in logins], ensure_ascii=False))
            return
        self.stdout.write(f"{len(logins)} demo users; password for all: {password}")
        for login in logins:
            self.stdout.write(f"  {login.username:<18} {login.role:<12} {login.body:<10} {login.full_name}")
