"""The registry API: Parties and competent bodies (read-only in this version)."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from cybercoop.core.api import ERRORS, InputSchema
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import selectors

router = Router(tags=["registry"])


class PartyOut(Schema):
    code: str
    kind: str
    name: str
    name_ru: str
    name_kk: str
    name_en: str
    time_zone: str


class BodyOut(Schema):
    code: str
    kind: str
    party: str
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
    party = filters.party
    return [
        BodyOut(
            code=b.code,
            kind=b.kind,
            party=b.party.code,
            name=b.name,
            name_ru=b.name_ru,
            name_kk=b.name_kk,
            name_en=b.name_en,
            time_zone=str(b.zone),
        )
        for b in selectors.bodies(party_code=party or None)
    ]
