"""The filter form of the node administrator's delivery screens."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from cybercoop.exchange.selectors import DeliveryFilter


class DeliveryFilterForm(forms.Form):
    """A state and the other node; both optional."""

    state = forms.ChoiceField(label=_("Envelope state"), required=False)
    node = forms.ChoiceField(label=_("Node"), required=False)

    def __init__(self, *args: Any, states: type[models.TextChoices], nodes: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        state, node = cast(forms.ChoiceField, self.fields["state"]), cast(forms.ChoiceField, self.fields["node"])
        state.choices = [("", _("All states")), *states.choices]
        node.choices = [("", _("All nodes")), *nodes]
        state.error_messages["invalid_choice"] = _("Choose a state from the list.")
        node.error_messages["invalid_choice"] = _("Choose a node from the list.")

    def filters(self) -> DeliveryFilter:
        """The filters asked for; none while the form is unbound or invalid."""
        if not self.is_bound or not self.is_valid():
            return DeliveryFilter()
        return DeliveryFilter(state=self.cleaned_data["state"], node=self.cleaned_data["node"])
