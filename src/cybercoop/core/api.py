"""What every domain's API shares: the error schema and translated validation messages."""

from typing import Any

from django.utils.translation import gettext as _
from ninja import Field as NinjaField
from ninja import Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import field_validator
from pydantic_core import PydanticCustomError


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every error answer: a sentence, and field by field what is wrong (in the caller's language)."""

    detail: str
    errors: list[FieldError] = []
    rule: str | None = None
    request_id: str = ""


def _has_bad_text(value: Any) -> str | None:
    """ "null" for a NUL character, "surrogate" for a lone surrogate, anywhere in nested input; else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "null"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "surrogate"
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set):
        for item in value:
            found = _has_bad_text(item)
            if found:
                return found
    return None


class InputSchema(Schema):
    """Base of every API input: text may not hold NUL characters or lone surrogates (PostgreSQL cannot
    store them), at any depth."""

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        found = _has_bad_text(value)
        if found == "null":
            raise PydanticCustomError("null_character", "null characters are not allowed")
        if found == "surrogate":
            raise PydanticCustomError("invalid_text", "text is not valid Unicode")
        return value


class BoundedPagination(LimitOffsetPagination):
    """Limit and offset with upper bounds, so no number out of the database's range reaches a query."""

    class Input(Schema):
        limit: int = NinjaField(50, ge=1, le=200)
        offset: int = NinjaField(0, ge=0, le=10**9)


ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _expected(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("'", "")


def validation_message(error: dict[str, Any]) -> str:
    """A translated sentence for one pydantic error (pydantic's own messages are English only)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    simple = {
        "missing": _("This field is required."),
        "extra_forbidden": _("This field is not expected here."),
        "string_type": _("Enter text."),
        "int_type": _("Enter a whole number."),
        "int_parsing": _("Enter a whole number."),
        "int_from_float": _("Enter a whole number."),
        "bool_type": _("Enter true or false."),
        "bool_parsing": _("Enter true or false."),
        "float_type": _("Enter a number."),
        "float_parsing": _("Enter a number."),
        "datetime_type": _("Enter a date and time such as 2026-11-23T10:00:00Z."),
        "datetime_parsing": _("Enter a date and time such as 2026-11-23T10:00:00Z."),
        "datetime_from_date_parsing": _("Enter a date and time such as 2026-11-23T10:00:00Z."),
        "date_type": _("Enter a date such as 2026-11-23."),
        "date_parsing": _("Enter a date such as 2026-11-23."),
        "date_from_datetime_parsing": _("Enter a date such as 2026-11-23."),
        "model_type": _("Send a JSON object."),
        "model_attributes_type": _("Send a JSON object."),
        "dict_type": _("Send a JSON object."),
        "list_type": _("Send a JSON list."),
        "json_invalid": _("The request body is not valid JSON."),
        "uuid_parsing": _("Enter a valid UUID."),
        "uuid_type": _("Enter a valid UUID."),
        "null_character": _("Null characters are not allowed."),
        "invalid_text": _("The text is not valid Unicode."),
        "timezone_aware": _("Give the time with its offset from UTC, such as 2026-11-23T10:00:00Z."),
        "time_type": _("Enter a time such as 09:00."),
        "time_parsing": _("Enter a time such as 09:00."),
        "string_pattern_mismatch": _("This value has characters that are not allowed here."),
    }
    if kind in simple:
        return simple[kind]
    if kind == "string_too_long":
        return _("At most %(count)s characters.") % {"count": ctx.get("max_length")}
    if kind == "too_long":
        return _("At most %(count)s items.") % {"count": ctx.get("max_length")}
    if kind == "string_too_short":
        return _("At least %(count)s characters.") % {"count": ctx.get("min_length")}
    if kind in {"greater_than_equal", "greater_than"}:
        return _("Must be at least %(limit)s.") % {"limit": ctx.get("ge", ctx.get("gt"))}
    if kind in {"less_than_equal", "less_than"}:
        return _("Must be at most %(limit)s.") % {"limit": ctx.get("le", ctx.get("lt"))}
    if kind in {"literal_error", "enum"}:
        return _("Choose one of: %(choices)s.") % {"choices": _expected(ctx)}
    return _("This value is not valid.")


def field_name(location: list[Any] | tuple[Any, ...]) -> str:
    """`language` from pydantic's ("body", "payload", "language"); dotted for nested fields."""
    parts = [
        str(p)
        for p in location
        if p not in ("body", "query", "path", "header", "cookie", "payload", "filters", "form", "file")
    ]
    return ".".join(parts) or "__all__"
