"""The REST API at /api/v1/: one NinjaAPI, each domain's router mounted, errors in the caller's language."""

import logging
from functools import cached_property
from typing import Any

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import SessionAuth

from cybercoop.accounts.api import ApiTokenAuth
from cybercoop.accounts.api import router as accounts_router
from cybercoop.assistance.api import router as assistance_router
from cybercoop.audit.api import router as audit_router
from cybercoop.core import contention
from cybercoop.core.api import field_name, validation_message
from cybercoop.core.context import get_request_id
from cybercoop.core.errors import DomainError, InvalidInput, RuleViolation
from cybercoop.registry.api import router as registry_router

logger = logging.getLogger(__name__)


class CyberCoopAPI(NinjaAPI):
    """The schema at /api/v1/openapi.json is built once per process and path: building it takes most of a second
    of CPU, and nothing in it changes while the process runs (its text is the same in every language)."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        key = (path_prefix, tuple(sorted((path_params or {}).items())))
        built = self._schemas.get(key)
        if built is None:
            built = self._schemas[key] = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return built

    @cached_property
    def _schemas(self) -> dict[tuple[Any, ...], Any]:
        return {}


api = CyberCoopAPI(
    title="CyberCoop API",
    version="1",
    description=(
        "The API of a CyberCoop node. Authenticate with a personal token "
        "(`Authorization: Bearer cc_…`, issued on the API tokens page or with "
        "`cybercoop manage create_api_token USER`). Errors are JSON: `detail`, and `errors` field by "
        "field, in the caller's interface language."
    ),
    auth=[ApiTokenAuth(), SessionAuth(csrf=True)],
    urls_namespace="api",
    # Swagger UI is served from this node (no CDN); it sets inline styles.
    docs_decorator=csp_update({"style-src": [SELF, UNSAFE_INLINE], "img-src": [SELF, "data:"]}),
)
api.add_router("/", accounts_router)
api.add_router("/audit", audit_router)
api.add_router("/registry", registry_router)
api.add_router("/cases", assistance_router)


def _error(request: HttpRequest, status: int, detail: str, errors=(), rule: str | None = None) -> HttpResponse:
    body = {"detail": detail, "errors": list(errors), "rule": rule, "request_id": get_request_id()}
    return api.create_response(request, body, status=status)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"field": field_name(e.get("loc", ())), "message": validation_message(e)} for e in exc.errors]
    return _error(request, 422, _("Some fields are not valid."), errors)


@api.exception_handler(InvalidInput)
def on_invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    errors = [{"field": field, "message": str(m)} for field, messages in exc.errors.items() for m in messages]
    return _error(request, 422, str(exc.message), errors)


@api.exception_handler(RuleViolation)
def on_rule_violation(request: HttpRequest, exc: RuleViolation) -> HttpResponse:
    errors = [{"field": exc.field, "message": str(exc.message)}] if exc.field else []
    return _error(request, exc.status_code, str(exc.message), errors, rule=exc.rule_id)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = [{"field": exc.field, "message": str(exc.message)}] if exc.field else []
    return _error(request, exc.status_code, str(exc.message), errors)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request, 401, _("Authentication required: send a valid API token as “Authorization: Bearer <token>”.")
    )


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, _("You do not have permission for this operation."))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, _("Not found."))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    messages = {
        400: _("The request body is not valid JSON."),
        405: _("This method is not allowed here."),
        429: _("Too many requests; try again later."),
    }
    return _error(request, exc.status_code, messages.get(exc.status_code, _("The request could not be served.")))


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return _error(request, 400, _("The request body is not valid multipart form data."))


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, _("The request is too large."))


@api.exception_handler(SuspiciousOperation)
def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return _error(request, 400, _("The request could not be served."))


@api.exception_handler(OperationalError)
def on_database_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """A deadlock or lock timeout (`core.contention`): nothing was changed, and the same call may be made again."""
    if not contention.is_contention(exc):
        return on_unexpected(request, exc)
    return contention.busy(request, exc, _error(request, 503, str(contention.MESSAGE)))


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unexpected error in the API")
    return _error(
        request,
        500,
        _("Something went wrong on our side. Quote this reference to the administrator: %(id)s")
        % {"id": get_request_id()},
    )
