"""Logging helpers: every line carries the request id."""

from __future__ import annotations

import logging

from cybercoop.core.context import get_request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record so the formatter can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
