"""Reads of the registry."""

from __future__ import annotations

from django.db.models import QuerySet

from cybercoop.registry.models import Body, Party


def parties() -> QuerySet[Party]:
    """All Parties and organisations, by Russian name."""
    return Party.objects.order_by("name_ru")


def bodies(*, party_code: str | None = None) -> QuerySet[Body]:
    """All competent bodies with their Party, optionally of one Party."""
    result = Body.objects.select_related("party").order_by("party__name_ru", "name_ru")
    if party_code:
        result = result.filter(party__code=party_code)
    return result


def get_body(*, code: str) -> Body | None:
    """A body by code, or None."""
    return Body.objects.select_related("party").filter(code=code).first()
