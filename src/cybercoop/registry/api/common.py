"""What the registry API's modules share: path types, messages, and lookups of codes in the input."""

from typing import Annotated

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from ninja import Path, Schema

from cybercoop.core.errors import InvalidInput
from cybercoop.registry import selectors
from cybercoop.registry.models import (
    Body,
    Instrument,
    Party,
)

# Codes in paths are checked before they reach a query: no NUL, nothing longer than the column.
CODE_PATTERN = r"^[A-Za-z0-9_-]+$"
InstrumentCode = Annotated[
    str,
    Path(max_length=64, pattern=CODE_PATTERN, description="The instrument's code, e.g. csto-2014-information-sphere."),
]
PartyCode = Annotated[str, Path(max_length=8, pattern=CODE_PATTERN, description="The Party's code, e.g. KZ.")]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

Errors = dict[str, str | Promise]  # field → the reason it is refused
SOME_FIELDS_NOT_VALID = _("Some fields are not valid.")
UNKNOWN_PARTY = _("Unknown Party code.")
UNKNOWN_BODY = _("Unknown body code.")
UNKNOWN_INSTRUMENT = _("Unknown instrument code.")


# --- lookups: an unknown code in the input is a field error; in the path, a 404 ---------------------------


def _party_or_404(code: str) -> Party:
    party = selectors.get_party(code=code)
    if party is None:
        raise Http404
    return party


def _instrument_or_404(code: str) -> Instrument:
    instrument = selectors.instruments().filter(code=code).first()
    if instrument is None:
        raise Http404
    return instrument


def _refuse(errors: Errors) -> None:
    """One 422 naming every field at fault (an unknown code, a malformed time); nothing is stored."""
    if errors:
        raise InvalidInput(SOME_FIELDS_NOT_VALID, errors={field: [message] for field, message in errors.items()})


def _parties(errors: Errors, **codes: str) -> dict[str, Party]:
    found = {}
    for field, code in codes.items():
        party = selectors.get_party(code=code)
        if party is None:
            errors[field] = UNKNOWN_PARTY
        else:
            found[field] = party
    return found


def _instrument(errors: Errors, field: str, code: str) -> Instrument | None:
    """The instrument named in the input; the Protocol when the field is left empty."""
    instrument = selectors.get_instrument(code=code or selectors.PROTOCOL_CODE)
    if instrument is None:
        errors[field] = UNKNOWN_INSTRUMENT
    return instrument


def _body_by_code(errors: Errors, field: str, code: str) -> Body | None:
    body = selectors.get_body(code=code)
    if body is None:
        errors[field] = UNKNOWN_BODY
    return body


class BodyOut(Schema):
    code: str
    kind: str
    party: str
    name: str
    name_ru: str
    name_kk: str
    name_en: str
    time_zone: str


def _body(body: Body) -> BodyOut:
    return BodyOut(
        code=body.code,
        kind=body.kind,
        party=body.party.code,
        name=body.name,
        name_ru=body.name_ru,
        name_kk=body.name_kk,
        name_en=body.name_en,
        time_zone=str(body.zone),
    )
