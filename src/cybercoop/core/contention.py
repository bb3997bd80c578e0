"""A transaction the database gave up on because of other work on the same rows: a deadlock it broke, a write it
could not serialise, a lock it did not get in time. The transaction was rolled back whole (each service is one),
so nothing was changed, and the same request may simply be made again: pages and the API answer 503 with
Retry-After instead of a 500 (`core.middleware.ContentionMiddleware`, `api.on_database_error`)."""

from __future__ import annotations

import logging
from typing import Final

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

# PostgreSQL's SQLSTATEs: deadlock_detected, serialization_failure, lock_not_available (lock_timeout).
CONTENTION_SQLSTATES: Final = frozenset({"40P01", "40001", "55P03"})
logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = 2
TITLE: Final = _("Busy: try again")
MESSAGE: Final = _(
    "The system was busy with other work on the same records, and nothing was changed. Try again in a moment."
)


def is_contention(error: BaseException) -> bool:
    """Whether `error` is the database refusing because of concurrent work, not a fault of the request or the code."""
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in CONTENTION_SQLSTATES:  # psycopg 3
        return True
    return "database is locked" in str(error)  # SQLite, past its busy timeout


def busy(request: HttpRequest, error: BaseException, response: HttpResponse) -> HttpResponse:
    """`response` (a page or the API's JSON, status 503) as the answer to a request whose transaction the database
    gave up on: logged, and with Retry-After."""
    logger.warning(
        "%s %s: the database gave up on the transaction, answered 503: %s", request.method, request.path, error
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
