"""`cybercoop manage create_api_token USER`: issue a personal API token from the command line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cybercoop.accounts import selectors, services
from cybercoop.core.errors import InvalidInput


class Command(BaseCommand):
    help = "Issue a personal API token for USER and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="A name to recognise the token by.")
        parser.add_argument("--days", type=int, default=None, help="Days of validity (default: until revoked).")
        parser.add_argument(
            "--scope",
            choices=["read", "act"],
            default="read",
            help="read: GET only (the default); act: everything the user's role allows.",
        )

    def handle(self, *args, **options):
        user = selectors.get_user(username=options["username"])
        if user is None or not user.is_active:
            raise CommandError(f"no active user named {options['username']!r}")
        try:
            _token, raw = services.issue_api_token(
                user=user, name=options["name"], valid_days=options["days"], scope=options["scope"]
            )
        except InvalidInput as error:
            details = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in error.errors.items())
            raise CommandError(details) from error
        self.stdout.write(raw)
