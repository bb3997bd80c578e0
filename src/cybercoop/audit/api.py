"""The audit API: the log with filters, and a check of the chain (auditors only)."""

import datetime as dt

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from cybercoop.audit import selectors, services
from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core.api import ERRORS, BoundedPagination, InputSchema
from cybercoop.core.permissions import Permission, require

router = Router(tags=["audit"])


class EntryOut(Schema):
    seq: int
    at: dt.datetime
    actor: str
    body: str
    action: str
    action_label: str
    object_type: str
    object_id: str
    data: dict
    request_id: str
    prev_hash: str
    hash: str

    @staticmethod
    def from_entry(entry: AuditEntry) -> "EntryOut":
        return EntryOut(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor_label,
            body=entry.body_label,
            action=entry.action,
            action_label=entry.action_label,
            object_type=entry.object_type,
            object_id=entry.object_id,
            data=entry.data,
            request_id=entry.request_id,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


class EntryFilterIn(InputSchema):
    action: AuditAction | None = Field(default=None, description="Only this action.")
    actor: str = Field(default="", max_length=150, description="Only this user name.")
    body: str = Field(default="", max_length=32, description="Only this body (its code, e.g. KZ-MIA).")
    object_type: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=64)
    since: dt.datetime | None = Field(default=None, description="From this instant (inclusive).")
    until: dt.datetime | None = Field(default=None, description="Before this instant.")


class ChainReportOut(Schema):
    ok: bool
    checked: int
    problem: str | None
    seq: int | None
    message: str


@router.get("/entries", response={200: list[EntryOut], **ERRORS}, summary="Audit entries, newest first")
@paginate(BoundedPagination)
def list_entries(request: HttpRequest, filters: Query[EntryFilterIn]):
    require(request.user, Permission.VIEW_AUDIT_LOG)
    selected = selectors.visible_entries(
        viewer=request.user,
        filters=selectors.EntryFilter(
            action=filters.action.value if filters.action else "",
            actor=filters.actor.strip(),
            body=filters.body.strip(),
            object_type=filters.object_type,
            object_id=filters.object_id,
            since=filters.since,
            until=filters.until,
        ),
    )
    services.record(action=AuditAction.LOG_VIEWED, actor=request.user, data={"via": "api"})
    return [EntryOut.from_entry(e) for e in selected]


@router.post("/verify", response={200: ChainReportOut, **ERRORS}, summary="Verify the audit chain")
def verify(request: HttpRequest):
    require(request.user, Permission.VERIFY_AUDIT_CHAIN)
    report = services.verify_chain(actor=request.user)
    return ChainReportOut(
        ok=report.ok,
        checked=report.checked,
        problem=report.problem.value if report.problem else None,
        seq=report.seq,
        message=report.message(),
    )
