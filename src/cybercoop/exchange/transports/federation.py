"""The federation transport: seal a message for the node serving its recipient and queue it in the outbox."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils.translation import gettext_lazy as _

from cybercoop.core import clock
from cybercoop.core.errors import RuleViolation
from cybercoop.exchange.federation import envelope, node, wire
from cybercoop.exchange.federation.keys import InvalidKey
from cybercoop.exchange.models import OutboxItem, OutboxState


class FederationTransport:
    """The recipient is served by node `peer`: the message leaves in an envelope signed by this node and
    encrypted to the peer, queued in the caller's transaction, so the message, the state change that caused
    it and its outbox row are committed together or not at all. The worker delivers it after commit."""

    name = "federation"

    def __init__(self, *, peer: str) -> None:
        self.peer = peer

    def deliver(self, message: Any) -> None:
        if not self.peer:
            raise RuleViolation("P4.1", _("The directory assigns the receiving body to no node: it cannot be reached."))
        try:
            sender = node.load_keys()
        except node.NodeNotConfigured as error:
            raise RuleViolation(
                "P4.1",
                _("This node has no federation keys yet (cybercoop node init): it cannot send to other nodes."),
            ) from error
        try:
            recipient = node.peer_keys(self.peer)
        except InvalidKey:
            recipient = None
        if recipient is None:
            raise RuleViolation(
                "P4.1",
                _("The directory lists no usable keys for the node serving the receiving body."),
            )
        sealed = envelope.seal(wire.to_wire(message), sender=sender, recipient=recipient)
        now = clock.now()
        OutboxItem.objects.create(
            message=message,
            peer=self.peer,
            envelope=sealed,
            envelope_sha256=hashlib.sha256(sealed.encode("ascii")).hexdigest(),
            state=OutboxState.QUEUED,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
