"""Applying stored assistance messages to the case they belong to (registered with the exchange)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from django.db import transaction

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.models import Case
from cybercoop.core import periodic
from cybercoop.core.permissions import Permission, register_object_rule
from cybercoop.documents import services as documents
from cybercoop.exchange import at_rest
from cybercoop.exchange import dispatch as exchange_dispatch
from cybercoop.registry import selectors as registry
from cybercoop.safeguards.rules import Access

logger = logging.getLogger(__name__)


# The messages that bring a request to a body (P6.1, P7.4): its desk officers are assigned the case.
ASSIGNED_ON_ARRIVAL = frozenset({rules.Kind.REQUEST, rules.Kind.FORWARD})


def apply_message(message: Any) -> None:
    """Bring the case in line with its messages. A request arriving from another node opens the case here."""
    case = Case.objects.filter(pk=message.conversation).first()
    if case is None:
        case = _open_from_request(message)
    case = services.recompute(case=case)
    if message.kind in ASSIGNED_ON_ARRIVAL:
        services.assign_incoming(case=case)
    check_documents(message)
    services.notify_message(case=case, kind=message.kind, recipient_body=message.recipient_body)


def lock_cases(conversations: Collection[str]) -> None:
    """The cases of a batch of arriving messages, locked before any of them is applied and in the order
    `use_in_another_case` takes two (by id). Applied one after the other, the batch would hold the audit chain's
    head from its first message while it waited for the next message's case, and a user acting on that case
    (its lock, then the chain's head) would deadlock with it."""
    list(
        Case.objects.select_for_update(no_key=True)
        .filter(pk__in=conversations)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def check_documents(message: Any) -> None:
    """P6.5: verify the signed document a message names against the sending Party's certificate authorities and
    record the result, on the node that sent it and on the node that received it alike. Never raises: a document
    that fails is flagged on the case page (and the case cannot go on from it), the message is not refused."""
    for attachment in services.signed_documents([message]).values():
        try:
            with transaction.atomic():
                pdf = at_rest.open(attachment)  # decrypted, its SHA-256 checked
                verification = documents.verify_received(pdf=pdf, sending_body=message.sender_body)
                documents.record_check(attachment=attachment, verification=verification)
        except Exception:  # the inbox must take the message even if the check itself breaks
            logger.exception("signed document %s of message %s could not be checked", attachment.pk, message.pk)


def _open_from_request(message: Any) -> Case:
    if message.kind != rules.Kind.REQUEST:
        raise LookupError(f"message {message.id} belongs to no known case")
    body = message.body
    instrument = registry.get_instrument(code=message.instrument)
    if instrument is None:
        raise LookupError(f"unknown instrument {message.instrument!r}")
    return Case.objects.create(
        id=message.conversation,
        state=rules.CaseState.DRAFT,
        requesting_body=message.sender_body,
        requested_body=message.recipient_body,
        handling_body=message.recipient_body,
        instrument=instrument,
        drafted_by=message.sender_user,
        outgoing_number=body.get("outgoing_number", ""),
        urgent=bool(body.get("urgent")),
        subject=body.get("subject", ""),
        scope=body.get("scope", ""),
        purpose=body.get("purpose", ""),
        grounds=body.get("grounds", ""),
        substance=body.get("substance", ""),
        assistance_kinds=body.get("assistance_kinds", []),
        assistance_sought=body.get("assistance_sought", ""),
        identifiers=body.get("identifiers", ""),
        execution_term_days=body.get("execution_term_days"),
        other_information=body.get("other_information", ""),
        offence=body.get("offence", ""),
        dual_criminality_confirmed=bool(body.get("dual_criminality_confirmed")),
        annex_language=body.get("annex_language", ""),
        marking=message.marking,
        purposes=message.purposes,
        created_at=message.created_at,
        updated_at=message.created_at,
    )


def install() -> None:
    """Register the message handler and the object rules; called once from the app's `ready()`."""
    exchange_dispatch.register("assistance.")(apply_message)
    exchange_dispatch.register_locker(lock_cases)
    periodic.register("assistance.process_due_clocks")(services.process_due_clocks)

    def _needs_to_know(user: Any, case: Any) -> bool:  # P10.1: the one policy (safeguards.rules.case_access)
        return selectors.access_to(viewer=user, case=case) >= Access.CONTENT

    for permission in (
        Permission.VIEW_CASE,
        Permission.WORK_ON_CASE,
        Permission.APPROVE_REQUEST,
        Permission.REFUSE_REQUEST,
        Permission.ASSIGN_CASE,
    ):
        register_object_rule(permission)(_needs_to_know)
