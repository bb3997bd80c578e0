"""Badges of the delivery screens: the registry's status colours for the federation's states."""

from __future__ import annotations

from django import template

from cybercoop.exchange.models import InboundState, OutboxState

register = template.Library()

# Green once the other node has its word on it, amber while under way, red when it did not go through.
OUTGOING_BADGES = {
    OutboxState.QUEUED: "status-notified",
    OutboxState.SENT: "status-withdrawal_pending",
    OutboxState.RECEIPTED: "status-in_force",
    OutboxState.FAILED: "status-withdrawn",
    OutboxState.REJECTED: "status-withdrawn",
}
INCOMING_BADGES = {
    InboundState.APPLIED: "status-in_force",
    InboundState.WAITING: "status-withdrawal_pending",
    InboundState.REJECTED: "status-withdrawn",
}


@register.filter
def outgoing_badge(state: str) -> str:
    """The badge class of an outgoing envelope's state."""
    return OUTGOING_BADGES.get(state, "")  # type: ignore[call-overload]


@register.filter
def incoming_badge(state: str) -> str:
    """The badge class of an incoming envelope's state."""
    return INCOMING_BADGES.get(state, "")  # type: ignore[call-overload]
