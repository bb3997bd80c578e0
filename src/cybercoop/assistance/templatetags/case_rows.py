"""The rows of the inbox and the outbox, written in Python: a list shows fifty of them, and the template engine's
per-variable lookups were a third of the page's time (bench/cases.py). Same markup as a template would give,
every text escaped by format_html."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag
def case_row(row: dict[str, Any]) -> SafeString:
    """One case of a list: numbers, subject (a link) and urgency, the other side, the state, the next deadline."""
    case = row["case"]  # the list's columns (selectors.LIST_COLUMNS)
    numbers = format_html("{}", case["outgoing_number"] or "—")
    if case["incoming_number"]:
        numbers = format_html("{}<br>{}", numbers, case["incoming_number"])
    urgent = (
        format_html(' <span class="badge badge-urgent" data-testid="urgent">{}</span>', gettext("urgent"))
        if case["urgent"]
        else ""
    )
    clock = row["clock"]
    due = (
        format_html('<span title="{} ({})">{}</span>', row["clock_label"], clock.rule_id, row["due"])
        if clock is not None
        else "—"
    )
    overdue = (
        format_html(' <span class="badge badge-overdue" data-testid="overdue">{}</span>', gettext("overdue"))
        if row["overdue"]
        else ""
    )
    other = row["other_body"]
    return format_html(
        '<tr data-testid="case-row" data-case="{pk}" data-state="{state}">'
        '<td class="mono">{numbers}</td>'
        '<td><a href="{url}">{subject}</a>{urgent}</td>'
        '<td>{body}<br><span class="muted">{party}</span></td>'
        '<td><span class="status case-state-{state}">{state_label}</span></td>'
        "<td>{due}{overdue}</td>"
        "</tr>",
        pk=case["id"],
        state=case["state"],
        numbers=numbers,
        url=reverse("assistance:case", args=[case["id"]]),
        subject=case["subject"],
        urgent=urgent,
        body=other.name,
        party=other.party.name,
        state_label=row["state_label"],
        due=due,
        overdue=overdue,
    )
