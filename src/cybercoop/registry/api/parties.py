"""Parties, their bodies and their profiles."""

import datetime as dt
import re
from typing import Annotated

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from cybercoop.core.api import ERRORS, InputSchema
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import rules, selectors, services
from cybercoop.registry.api.common import (
    BodyOut,
    Errors,
    PartyCode,
    _body,
    _parties,
    _party_or_404,
    _refuse,
)
from cybercoop.registry.models import (
    PartyProfile,
)

router = Router()

# --- Parties and bodies -------------------------------------------------------------------------------


class PartyOut(Schema):
    code: str
    kind: str
    name: str
    name_ru: str
    name_kk: str
    name_en: str
    time_zone: str


@router.get("/parties", response={200: list[PartyOut], **ERRORS}, summary="Parties")
def list_parties(request: HttpRequest):
    require(request.user, Permission.VIEW_REGISTRY)
    return [
        PartyOut(
            code=p.code,
            kind=p.kind,
            name=p.name,
            name_ru=p.name_ru,
            name_kk=p.name_kk,
            name_en=p.name_en,
            time_zone=p.time_zone,
        )
        for p in selectors.parties()
    ]


class BodyFilterIn(InputSchema):
    party: str = Field(default="", max_length=8, description="Only the bodies of this Party (its code).")


@router.get("/bodies", response={200: list[BodyOut], **ERRORS}, summary="Competent bodies")
def list_bodies(request: HttpRequest, filters: Query[BodyFilterIn]):
    require(request.user, Permission.VIEW_REGISTRY)
    return [_body(b) for b in selectors.bodies(party_code=filters.party or None)]


class BodyIn(InputSchema):
    party: str = Field(min_length=1, max_length=8, description="The Party's code, e.g. KZ.")
    code: str = Field(min_length=1, max_length=32, description="For example, KZ-MIA.")
    kind: rules.BodyKind
    name_ru: str = Field(max_length=300)
    name_kk: str = Field(default="", max_length=300)
    name_en: str = Field(default="", max_length=300)
    time_zone: str = Field(default="", max_length=64, description="Empty: the Party's time zone.")


@router.post("/bodies", response={201: BodyOut, **ERRORS}, summary="Register a competent body")
def register_body(request: HttpRequest, payload: BodyIn):
    """A Party's registrar (or the Secretariat) registers one of its bodies, to be designated (P4.2, R5, R7)."""
    require(request.user, Permission.REGISTER_BODY)
    errors: Errors = {}
    found = _parties(errors, party=payload.party)
    _refuse(errors)
    party = found["party"]
    body = services.register_body(
        actor=request.user,
        party=party,
        code=payload.code,
        kind=payload.kind.value,
        name_ru=payload.name_ru,
        name_kk=payload.name_kk,
        name_en=payload.name_en,
        time_zone=payload.time_zone,
    )
    return Status(201, _body(body))


# --- Party profiles ----------------------------------------------------------------------------------


class ProfileOut(Schema):
    party: str
    time_zone: str
    accepted_languages: list[str] = Field(description="Accepted besides Russian, which is always accepted (P13).")
    signature_required: bool
    dual_criminality_required: bool
    evidence_use_limits: str
    working_days: list[int] = Field(description="ISO weekdays, 1 = Monday.")
    office_opens_at: str = Field(description="HH:MM, in the Party's time zone.")
    office_closes_at: str = Field(description="HH:MM, in the Party's time zone.")
    contact_name: str
    contact_phone: str
    contact_email: str
    updated_at: dt.datetime | None
    updated_by: str | None


class ProfileIn(InputSchema):
    accepted_languages: list[Annotated[str, Field(max_length=8)]] = Field(
        max_length=len(services.PROFILE_LANGUAGES),
        description="Besides Russian: " + ", ".join(services.PROFILE_LANGUAGES) + ".",
    )
    signature_required: bool
    dual_criminality_required: bool
    evidence_use_limits: str = Field(max_length=4000)
    working_days: list[int] = Field(max_length=7, description="ISO weekdays, 1 = Monday … 7 = Sunday.")
    office_opens_at: str = Field(max_length=16, description="HH:MM, e.g. 09:00.", examples=["09:00"])
    office_closes_at: str = Field(max_length=16, description="HH:MM, e.g. 18:00.", examples=["18:00"])
    contact_name: str = Field(max_length=200)
    contact_phone: str = Field(max_length=50)
    contact_email: str = Field(max_length=254)


def _hh_mm(value: str) -> dt.time | None:
    """A time of day written HH:MM (00:00 to 23:59), or None."""
    match = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])", value)
    return dt.time(int(match[1]), int(match[2])) if match else None


def _profile(profile: PartyProfile) -> ProfileOut:
    return ProfileOut(
        party=profile.party.code,
        time_zone=profile.party.time_zone,
        accepted_languages=list(profile.accepted_languages),
        signature_required=profile.signature_required,
        dual_criminality_required=profile.dual_criminality_required,
        evidence_use_limits=profile.evidence_use_limits,
        working_days=list(profile.working_days),
        office_opens_at=profile.office_opens_at.strftime("%H:%M"),
        office_closes_at=profile.office_closes_at.strftime("%H:%M"),
        contact_name=profile.contact_name,
        contact_phone=profile.contact_phone,
        contact_email=profile.contact_email,
        updated_at=profile.updated_at,
        updated_by=profile.updated_by.username if profile.updated_by is not None else None,
    )


@router.get("/parties/{code}/profile", response={200: ProfileOut, **ERRORS}, summary="A Party's profile")
def get_profile(request: HttpRequest, code: PartyCode):
    """What the Party's bodies require of an incoming request (for the request form's pre-flight checks)."""
    require(request.user, Permission.VIEW_REGISTRY)
    return _profile(selectors.profile(party=_party_or_404(code)))


@router.put("/parties/{code}/profile", response={200: ProfileOut, **ERRORS}, summary="Keep a Party's profile")
def update_profile(request: HttpRequest, code: PartyCode, payload: ProfileIn):
    """The Party's registrar replaces its profile with the full set of fields sent."""
    party = _party_or_404(code)
    require(request.user, Permission.EDIT_PARTY_PROFILE, party)
    values = payload.model_dump()
    errors: Errors = {}
    for field in ("office_opens_at", "office_closes_at"):
        values[field] = _hh_mm(values[field])
        if values[field] is None:
            errors[field] = _("Enter a time such as 09:00.")
    _refuse(errors)
    profile = services.update_party_profile(actor=request.user, party=party, **values)
    return _profile(profile)
