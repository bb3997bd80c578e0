"""Exchange: the messages between competent bodies, their attachments, and the transports that carry them."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "cybercoop.exchange"
    label = "exchange"
    verbose_name = _("Exchange")

    def ready(self) -> None:
        from cybercoop.core import keyring, periodic
        from cybercoop.exchange import registry_messages, services
        from cybercoop.exchange.federation import attachments, directory, outbox

        # Each pass of the worker delivers what is due to other nodes (docs/federation.md, Sender).
        periodic.register("exchange.deliver_outbox")(outbox.deliver_job)
        # Received files no message took, and uploads left unfinished, are removed after a day.
        periodic.register("exchange.sweep_received_attachments")(attachments.sweep)
        # Sealed files whose store rolled back (no attachment names them) are removed after an hour.
        periodic.register("exchange.sweep_orphan_files")(services.sweep_orphan_files_job)
        # `cybercoop keys attachments rotate|rewrap|retire` (docs/security-at-rest.md).
        keyring.register("attachments", services.ROTATION)
        directory.install()
        # A Party's designation notices and acknowledgements go to the Secretariat's node (P4.2, P4.3).
        registry_messages.install()
