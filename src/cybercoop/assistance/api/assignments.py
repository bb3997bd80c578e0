"""Need to know (P10.1): who of the caller's body works on a case, and, for the head and the deputies, assigning
and withdrawing officers. Only the caller's own body's people are listed: addressee lists are confidential."""

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Path, Router, Schema, Status
from pydantic import Field

from cybercoop.accounts import selectors as accounts
from cybercoop.assistance import selectors, services
from cybercoop.assistance.api.common import CaseId, Errors, refuse, visible_case
from cybercoop.assistance.models import CaseAssignment
from cybercoop.core.api import ERRORS, InputSchema
from cybercoop.core.permissions import Permission, require

router = Router(tags=["cases"])

Username = Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]


class AssignmentOut(Schema):
    user: str = Field(description="The officer's user name.")
    full_name: str
    how: str = Field(description="drafted, incoming (receives the body's incoming requests) or assigned.")
    assigned_by: str | None = Field(description="Who assigned the officer (none when automatic).")
    assigned_at: dt.datetime


class AssignmentIn(InputSchema):
    user: Username = Field(description="The user name of an active officer of the caller's body.")


def _out(item: CaseAssignment) -> AssignmentOut:
    return AssignmentOut(
        user=item.user.username,
        full_name=item.user.full_name,
        how=item.how,
        assigned_by=item.assigned_by.username if item.assigned_by else None,
        assigned_at=item.assigned_at,
    )


def _officer(request: HttpRequest, username: str) -> object:
    """An officer of the caller's body by user name; anyone else (another body's included) is the same field
    error, so the answer says nothing of other bodies' people."""
    user = accounts.users(username=username, body_id=request.user.body_id).first()
    errors: Errors = {}
    if user is None:
        errors["user"] = _("Choose an active officer of your body.")
    refuse(errors, services.ASSIGNMENT_NOT_CHANGED)
    return user


@router.get("/{case_id}/assignments", response={200: list[AssignmentOut], **ERRORS}, summary="Who works on a case")
def list_assignments(request: HttpRequest, case_id: CaseId):
    """The officers of the caller's body the case is assigned to; the head and the deputies see it anyway."""
    case = visible_case(request, case_id)
    return [_out(item) for item in selectors.assignments(case=case, body_id=request.user.body_id)]


@router.post("/{case_id}/assignments", response={201: AssignmentOut, **ERRORS}, summary="Assign an officer")
def assign(request: HttpRequest, case_id: CaseId, payload: AssignmentIn):
    """The head or a deputy assigns an officer of the body to the case; the officer is told and from then on sees
    it (P10.1)."""
    case = visible_case(request, case_id)
    require(request.user, Permission.ASSIGN_CASE, case)
    item = services.assign(actor=request.user, case=case, user=_officer(request, payload.user))
    return Status(201, _out(item))


@router.delete(
    "/{case_id}/assignments/{username}", response={204: None, **ERRORS}, summary="Withdraw an officer's assignment"
)
def withdraw(request: HttpRequest, case_id: CaseId, username: Path[Username]):
    """The head or a deputy withdraws an officer from the case: from then on the officer no longer sees it."""
    case = visible_case(request, case_id)
    require(request.user, Permission.ASSIGN_CASE, case)
    services.unassign(actor=request.user, case=case, user=_officer(request, username))
    return Status(204, None)
