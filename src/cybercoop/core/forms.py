"""Helpers shared by every domain's forms."""

from __future__ import annotations

from django import forms

from cybercoop.core.errors import DomainError, InvalidInput, RuleViolation


def add_service_errors(form: forms.BaseForm, error: DomainError) -> None:
    """Show a service's refusal on the form: each field's messages on that field, the rest above the form."""
    if isinstance(error, InvalidInput):
        for field, messages in error.errors.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, str(message))
        if not error.errors:
            form.add_error(None, str(error.message))
    elif isinstance(error, RuleViolation | DomainError):
        form.add_error(error.field if error.field in form.fields else None, str(error.message))
