"""Every change to the registry."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core.errors import InvalidInput
from cybercoop.registry.models import Body, Party


def _validated(instance: Party | Body, message: Any) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        raise InvalidInput(message, errors={k: list(v) for k, v in error.message_dict.items()}) from error


@transaction.atomic
def register_party(
    *, actor: Any, code: str, kind: str, time_zone: str, name_ru: str, name_kk: str = "", name_en: str = ""
) -> Party:
    """Register a Party (or the CSTO as an organisation)."""
    party = Party(code=code, kind=kind, time_zone=time_zone, name_ru=name_ru, name_kk=name_kk, name_en=name_en)
    _validated(party, _("The Party could not be registered."))
    party.save()
    audit.record(action=AuditAction.PARTY_CREATED, actor=actor, target=party, data={"code": code})
    return party


@transaction.atomic
def register_body(
    *,
    actor: Any,
    party: Party,
    code: str,
    kind: str,
    name_ru: str,
    name_kk: str = "",
    name_en: str = "",
    time_zone: str = "",
) -> Body:
    """Register a competent body of a Party (designation history comes with the registry issue)."""
    body = Body(
        party=party,
        code=code,
        kind=kind,
        name_ru=name_ru,
        name_kk=name_kk,
        name_en=name_en,
        time_zone=time_zone,
    )
    _validated(body, _("The competent body could not be registered."))
    body.save()
    audit.record(action=AuditAction.BODY_CREATED, actor=actor, body=body, target=body, data={"code": code})
    return body
