"""Exchange: the messages between competent bodies, their attachments, and the transports that carry them."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "cybercoop.exchange"
    label = "exchange"
    verbose_name = _("Exchange")

    def ready(self) -> None:
        from cybercoop.core import periodic
        from cybercoop.exchange.federation import directory, outbox

        # Each pass of the worker delivers what is due to other nodes (docs/federation.md, Sender).
        periodic.register("exchange.deliver_outbox")(outbox.deliver_due)
        directory.install()
