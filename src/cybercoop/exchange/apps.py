"""Exchange: the messages between competent bodies, their attachments, and the transports that carry them."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "cybercoop.exchange"
    label = "exchange"
    verbose_name = _("Exchange")
