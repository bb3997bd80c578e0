"""`cybercoop manage reset_second_factor USER --reason TEXT`: remove a user's authenticator (a lost phone)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cybercoop.accounts import selectors, services
from cybercoop.core.errors import InvalidInput


class Command(BaseCommand):
    help = "Remove USER's authenticator (TOTP) so that they enrol a new one at their next sign-in; audited."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why (lost or stolen phone, …): kept in the audit log.")

    def handle(self, *args, **options):
        user = selectors.get_user(username=options["username"])
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            removed = services.reset_second_factor(user=user, reason=options["reason"])
        except InvalidInput as error:
            details = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in error.errors.items())
            raise CommandError(details) from error
        self.stdout.write(f"{user.username}: {removed} authenticator(s) removed; a new one is enrolled at sign-in")
