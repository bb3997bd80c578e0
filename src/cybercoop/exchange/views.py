"""The node administrator's screens of the federation: every envelope sent to other nodes and every one received
from them, each with its own state (docs/federation.md, Screens), and "retry now" for a failed delivery.

They show metadata only (kinds, bodies, nodes, times, states, the nodes' reasons), never a message's content, so
reading them is not audited; retrying is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cybercoop.core.errors import DomainError
from cybercoop.core.paging import CappedPaginator
from cybercoop.core.permissions import Permission, require
from cybercoop.exchange import selectors, services
from cybercoop.exchange.federation import envelope, node
from cybercoop.exchange.federation.envelope import Rejected
from cybercoop.exchange.federation.keys import InvalidKey
from cybercoop.exchange.forms import DeliveryFilterForm
from cybercoop.exchange.models import InboundState, OutboxItem, OutboxState
from cybercoop.registry import selectors as registry

PAGE_SIZE = 50


def _other_nodes() -> list[tuple[str, str]]:
    """The filter's choice of nodes: every node the directory lists or listed, but this one."""
    this = node.this_node_id()
    return [(n.code, f"{n.name} ({n.code})") for n in registry.nodes(include_withdrawn=True) if n.code != this]


def _list_page(
    request: HttpRequest, *, template: str, states: Any, rows: Any, counts: dict[str, int], form: DeliveryFilterForm
) -> HttpResponse:
    page = CappedPaginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    labels = dict(states.choices)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "counts": [{"state": state, "label": labels[state], "count": count} for state, count in counts.items()],
    }
    return render(request, template, context, status=400 if form.errors else 200)


@login_required
@require_GET
def outgoing(request: HttpRequest) -> HttpResponse:
    """Every envelope this node sends to other nodes, with its state, attempts and errors, newest first."""
    require(request.user, Permission.VIEW_DELIVERIES)
    form = DeliveryFilterForm(request.GET or None, states=OutboxState, nodes=_other_nodes())
    rows = selectors.outgoing(viewer=request.user, filters=form.filters())
    return _list_page(
        request,
        template="exchange/outgoing.html",
        states=OutboxState,
        rows=rows,
        counts=selectors.outgoing_counts(viewer=request.user),
        form=form,
    )


@login_required
@require_GET
def incoming(request: HttpRequest) -> HttpResponse:
    """Every envelope other nodes sent here: applied, waiting for an earlier message, or rejected with the reason."""
    require(request.user, Permission.VIEW_DELIVERIES)
    form = DeliveryFilterForm(request.GET or None, states=InboundState, nodes=_other_nodes())
    rows = selectors.incoming(viewer=request.user, filters=form.filters())
    return _list_page(
        request,
        template="exchange/incoming.html",
        states=InboundState,
        rows=rows,
        counts=selectors.incoming_counts(viewer=request.user),
        form=form,
    )


def _outgoing_item(request: HttpRequest, item_id: int) -> OutboxItem:
    item = selectors.get_outgoing(viewer=request.user, item_id=item_id)
    if item is None:
        raise Http404
    return item


def _receipt(item: OutboxItem) -> dict[str, Any]:
    """What the stored receipt says, once it verifies with the keys the directory now lists for its node; or why
    it does not. A receipt is the receiving node's signed word, so it is shown only as verified."""
    if not item.receipt:
        return {"stored": False}
    shown: dict[str, Any] = {"stored": True, "length": len(item.receipt)}
    try:
        keys = node.peer_keys(item.peer)
    except InvalidKey as error:
        keys, shown["problem"] = None, str(error)
    if keys is None:
        shown.setdefault("problem", f"the directory lists no node {item.peer!r}")
        return shown
    try:
        claims = envelope.verify_receipt(
            item.receipt,
            expected_message_id=str(item.message_id),
            expected_envelope_sha256=item.envelope_sha256,
            signer=keys,
        )
    except Rejected as error:
        shown["problem"] = f"{error.reason}: {error.message}"
        return shown
    shown["claims"] = {**claims, "received_at": dt.datetime.fromisoformat(claims["received_at"])}
    return shown


def _outgoing_page(request: HttpRequest, item: OutboxItem, *, status: int = 200) -> HttpResponse:
    context = {
        "item": item,
        "message": item.message,
        "receipt": _receipt(item),
        "history": selectors.delivery_history(message_id=item.message_id),
        "may_retry": item.state in services.RETRYABLE_STATES and request.user.has_perm(Permission.RETRY_DELIVERY),
    }
    return render(request, "exchange/outgoing_item.html", context, status=status)


@login_required
@require_GET
def outgoing_item(request: HttpRequest, item_id: int) -> HttpResponse:
    """One outgoing envelope: its message's metadata, its delivery, the receipt, and its history in the audit log."""
    require(request.user, Permission.VIEW_DELIVERIES)
    return _outgoing_page(request, _outgoing_item(request, item_id))


@login_required
@require_POST
def retry(request: HttpRequest, item_id: int) -> HttpResponse:
    """Retry now: the envelope is due at once instead of after its backoff (audited)."""
    require(request.user, Permission.RETRY_DELIVERY)
    item = _outgoing_item(request, item_id)
    try:
        services.retry_delivery(item=item, actor=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
        return _outgoing_page(request, item, status=409)
    messages.success(request, _("The envelope will be sent again on the worker's next pass."))
    return redirect("exchange:outgoing_item", item_id=item.pk)
