"""Documents: official PDFs rendered in Russian, signed PAdES by the head or a deputy, verified on receipt."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "cybercoop.documents"
    label = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        from cybercoop.core import keyring
        from cybercoop.documents import pki

        # `cybercoop keys documents rotate|rewrap|retire` (docs/documents.md).
        keyring.register("documents", pki.ROTATION)
