"""The accounts API: who am I, my language, my API tokens, my notifications; and token authentication."""

import datetime as dt
import logging
from typing import Annotated, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from ninja import Path, Query, Router, Schema, Status
from ninja.pagination import paginate
from ninja.security import HttpBearer
from pydantic import Field

from cybercoop.accounts import rules, selectors, services, sign_in
from cybercoop.accounts.models import ApiToken, Notification, User
from cybercoop.core import clock
from cybercoop.core.api import ERRORS, BoundedPagination, InputSchema
from cybercoop.core.errors import DomainError
from cybercoop.core.permissions import Permission, require

logger = logging.getLogger(__name__)
router = Router(tags=["accounts"])


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer cc_…`: a personal token, issued on the API tokens page or by the CLI."""

    openapi_description = "Personal API token (cc_…), sent as `Authorization: Bearer <token>`."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = selectors.token_for(raw=token, now=clock.now())
        if found is None:
            # Logged without the token itself; no audit entry, so a flood of bad tokens cannot flood the chain.
            logger.warning("API request with an invalid token refused")
            return None
        user = found.user
        translation.activate(user.language)
        if not rules.token_allows(scope=found.scope, method=request.method or ""):
            raise TokenScopeRefused(
                _("This token may only read: issue a token that may act to change anything."), field="authorization"
            )
        request.user = user
        # A token is the API's second credential: what a session must prove with a TOTP code, it has proved.
        request.authenticated_by_token = True  # type: ignore[attr-defined]
        translation.activate(user.language)
        request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]
        timezone.activate(user.body.zone)
        return user


class TokenScopeRefused(DomainError):
    """A read-only token used for a request that would change something."""

    status_code = 403


class PartyRef(Schema):
    code: str
    name: str


class BodyRef(Schema):
    code: str
    name: str
    party: PartyRef


class MeOut(Schema):
    username: str
    full_name: str
    position: str
    role: str
    role_label: str
    language: str
    time_zone: str
    body: BodyRef


class LanguageIn(InputSchema):
    language: Literal["ru", "kk", "en"] = Field(description="Interface language: ru, kk or en.")


class TokenIn(InputSchema):
    name: str = Field(min_length=1, max_length=100, description="A name to recognise the token by.")
    valid_days: int | None = Field(default=None, ge=1, le=366, description="Days of validity; none = until revoked.")
    scope: Literal["read", "act"] = Field(
        default="read", description="read: GET only (the default); act: everything the owner's role allows."
    )


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scope: str = Field(description="read or act.")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenIssuedOut(TokenOut):
    token: str = Field(description="The token itself. It is shown only in this answer.")


NotificationId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The notification's id.")]


class NotificationFilterIn(InputSchema):
    unread_only: bool = Field(default=False, description="Only the notifications not read yet.")


class NotificationOut(Schema):
    id: int
    subject: str = Field(description="In the recipient's language, as it was when sent.")
    body: str
    url: str = Field(description="A path on this node, or empty.")
    created_at: dt.datetime
    read_at: dt.datetime | None


class ReadAllOut(Schema):
    marked: int = Field(description="How many notifications were unread and are now read.")


def _me(user: User) -> MeOut:
    body = user.body
    return MeOut(
        username=user.username,
        full_name=user.full_name,
        position=user.position,
        role=user.role,
        role_label=str(user.get_role_display()),
        language=user.language,
        time_zone=str(body.zone),
        body=BodyRef(code=body.code, name=body.name, party=PartyRef(code=body.party.code, name=body.party.name)),
    )


def _notification(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.pk,
        subject=notification.subject,
        body=notification.body,
        url=notification.url,
        created_at=notification.created_at,
        read_at=notification.read_at,
    )


def _token(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.pk,
        name=token.name,
        prefix=token.prefix,
        scope=token.scope,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


@router.get("/me", response={200: MeOut, **ERRORS}, summary="Who I am")
def me(request: HttpRequest):
    """The caller's user, body, Party, role and interface language."""
    require(request.user, Permission.USE_API)
    return _me(request.user)


@router.put("/me/language", response={200: MeOut, **ERRORS}, summary="Change my interface language")
def change_language(request: HttpRequest, payload: LanguageIn):
    """Keep a new interface language for the caller; the answer is already in it."""
    require(request.user, Permission.USE_API)
    user = services.set_language(user=request.user, language=payload.language)
    translation.activate(user.language)
    return _me(user)


@router.get("/me/tokens", response={200: list[TokenOut], **ERRORS}, summary="My API tokens")
def list_tokens(request: HttpRequest):
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    return [_token(t) for t in selectors.tokens_of(user=request.user)]


class SecondFactorNeeded(DomainError):
    """A session that has not given the code its account needs may not issue a token (issue 7)."""

    status_code = 403


@router.post("/me/tokens", response={201: TokenIssuedOut, **ERRORS}, summary="Issue an API token")
def issue_token(request: HttpRequest, payload: TokenIn):
    """With a token, or from a session that gave every factor its account needs (the code of its authenticator)."""
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    if not getattr(request, "authenticated_by_token", False) and not sign_in.is_fully_verified(request):
        raise SecondFactorNeeded(
            _("Issuing a token needs a sign-in with the code of your authenticator: sign out, then sign in again.")
        )
    token, raw = services.issue_api_token(
        user=request.user, name=payload.name, valid_days=payload.valid_days, scope=payload.scope
    )
    return Status(201, TokenIssuedOut(**_token(token).model_dump(), token=raw))


@router.post("/me/tokens/{token_id}/revoke", response={200: TokenOut, **ERRORS}, summary="Revoke an API token")
def revoke_token(request: HttpRequest, token_id: int):
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    token = get_object_or_404(selectors.tokens_of(user=request.user), pk=token_id)
    return _token(services.revoke_api_token(token=token, actor=request.user))


@router.get(
    "/me/notifications", response={200: list[NotificationOut], **ERRORS}, summary="My notifications, newest first"
)
@paginate(BoundedPagination)
def list_notifications(request: HttpRequest, filters: Query[NotificationFilterIn]):
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    # A queryset, so the page is cut in the database; the fields map one to one onto NotificationOut.
    return selectors.notifications_of(user=request.user, unread_only=filters.unread_only)


@router.post(
    "/me/notifications/read-all", response={200: ReadAllOut, **ERRORS}, summary="Mark all my notifications as read"
)
def read_all_notifications(request: HttpRequest):
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    return ReadAllOut(marked=services.mark_all_read(user=request.user))


@router.post(
    "/me/notifications/{notification_id}/read",
    response={200: NotificationOut, **ERRORS},
    summary="Mark one of my notifications as read",
)
def read_notification(request: HttpRequest, notification_id: NotificationId):
    """Another user's notification is simply not found (404)."""
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    notification = get_object_or_404(selectors.notifications_of(user=request.user), pk=notification_id)
    return _notification(services.mark_read(user=request.user, notification=notification))
