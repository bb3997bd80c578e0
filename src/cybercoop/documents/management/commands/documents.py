"""`cybercoop documents …`: the signers' keys and certificates of official documents (P6.5).

documents ca PARTY                     create a certificate authority for PARTY's signers (a demo or a test); print it
documents ca PARTY --register CA.pem   register the CA certificate of PARTY's own PKI instead (no private key here)
documents issue USERNAME [--days N]    issue a signing certificate to a head or deputy, from their Party's CA
documents import USERNAME FILE.p12     import a PKCS#12 of the Party's own PKI; the password comes from
                                       CYBERCOOP_PKCS12_PASSWORD, or is asked for at a prompt
documents show PARTY                   the Party's authorities and its signers' certificates in use

Private keys are encrypted at rest with the node's documents key (CYBERCOOP_DOCUMENTS_KEY, created on first use).
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cybercoop.accounts.models import User
from cybercoop.core.errors import DomainError, InvalidInput
from cybercoop.documents import pki
from cybercoop.documents.models import SignerCredential
from cybercoop.registry.models import Party

PASSWORD_VARIABLE = "CYBERCOOP_PKCS12_PASSWORD"  # noqa: S105 - the name of a variable, not a password


class Command(BaseCommand):
    help = "Signers' keys and certificates: `ca PARTY`, `issue USERNAME`, `import USERNAME FILE.p12`, `show PARTY`."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ca = sub.add_parser("ca", help="Create a certificate authority for a Party's signers, and print it (PEM).")
        ca.add_argument("party", help="The Party's code (KZ, RU …).")
        ca.add_argument("--register", metavar="CA_FILE", help="Register this CA certificate of the Party's own PKI.")
        issue = sub.add_parser("issue", help="Issue a signing certificate to the head or a deputy of a body.")
        issue.add_argument("username")
        issue.add_argument("--days", type=int, default=pki.SIGNER_VALID_DAYS, help="Validity (default two years).")
        imported = sub.add_parser("import", help="Import a signer's PKCS#12 (.p12, .pfx) from the Party's own PKI.")
        imported.add_argument("username")
        imported.add_argument("file", help="The PKCS#12 file.")
        show = sub.add_parser("show", help="A Party's authorities and its signers' certificates in use.")
        show.add_argument("party")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except InvalidInput as error:
            raise CommandError(_errors(error)) from error
        except DomainError as error:
            raise CommandError(str(error.message)) from error

    def _ca(self, options: dict[str, Any]) -> None:
        party = _party(options["party"])
        if options["register"]:
            authority = pki.register_party_ca(party, _read(options["register"]))
        else:
            authority = pki.create_party_ca(party)
        self.stdout.write(authority.certificate_pem)
        self.stderr.write(f"{authority.subject} (SHA-256 {authority.fingerprint_sha256}) until {authority.not_after}")

    def _issue(self, options: dict[str, Any]) -> None:
        credential = pki.issue_signer(_user(options["username"]), valid_days=options["days"])
        self._describe(credential)

    def _import(self, options: dict[str, Any]) -> None:
        user = _user(options["username"])
        password = os.environ.get(PASSWORD_VARIABLE)
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError(f"set {PASSWORD_VARIABLE}, or run this at a terminal to be asked for the password")
            password = getpass.getpass("PKCS#12 password: ")
        credential = pki.import_pkcs12(user, _read(options["file"]), password)
        self._describe(credential)

    def _show(self, options: dict[str, Any]) -> None:
        party = _party(options["party"])
        for authority in pki.authorities_of(party):
            kind = "with key" if authority.has_private_key else "certificate only"
            self.stdout.write(
                f"CA {authority.fingerprint_sha256} {authority.subject} until {authority.not_after} ({kind})"
            )
        for credential in SignerCredential.objects.filter(body__party=party, superseded_at=None).select_related("user"):
            self._describe(credential)

    def _describe(self, credential: SignerCredential) -> None:
        self.stdout.write(
            f"{credential.user.username}: {credential.subject}, serial {credential.serial}, "
            f"valid {credential.not_before:%Y-%m-%d} to {credential.not_after:%Y-%m-%d} ({credential.source})"
        )


def _party(code: str) -> Party:
    try:
        return Party.objects.get(code=code)
    except Party.DoesNotExist:
        raise CommandError(f"no Party {code!r}") from None


def _user(username: str) -> User:
    try:
        return User.objects.select_related("body__party").get(username=username)
    except User.DoesNotExist:
        raise CommandError(f"no user {username!r}") from None


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}") from error


def _errors(error: InvalidInput) -> str:
    fields = "; ".join(f"{name}: {' '.join(str(t) for t in texts)}" for name, texts in error.errors.items())
    return f"{error.message} {fields}".strip()
