"""Domain errors. Views and the API turn them into translated 4xx answers; services never return HTTP."""

from __future__ import annotations

from django.utils.functional import Promise


class DomainError(Exception):
    """A refusal the user can act on; `message` is already translatable text."""

    status_code = 400

    def __init__(self, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class RuleViolation(DomainError):
    """An action the treaty's rules forbid; carries the rule's ID (P7.4 …)."""

    status_code = 409

    def __init__(self, rule_id: str, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.rule_id = rule_id


class InvalidInput(DomainError):
    """Input that fails validation; `errors` maps field names to messages."""

    status_code = 422

    def __init__(self, message: str | Promise, *, errors: dict[str, list[str | Promise]]) -> None:
        super().__init__(message)
        self.errors = errors
