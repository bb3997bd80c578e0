"""The access-control matrix (issue 7, P10.1): every page and every API operation, enumerated from the URL conf and
the OpenAPI schema, called by every persona of tests/safeguards/world.py, answers as EXPECTED says (or, for what
takes a `case_id`, as the strict rule for cases says), never with a server error, and never with anything of a case,
message, attachment or API token the persona may not see.

A new URL or operation is picked up by the enumeration: one taking a `case_id` falls under the rule for cases at
once; any other fails until it has a row in EXPECTED. Every request runs in a savepoint rolled back after it, so the
world is the same for each call (a POST that succeeds changes nothing for the next one)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver

from cybercoop.accounts.rules import Role
from cybercoop.api import api
from tests.safeguards.world import ANONYMOUS, CASEWORK, FEDERATION_NODE, PDF, Persona, World

API_PREFIX = "/api/v1"
LOGIN_URL = "accounts:sign_in"  # settings.LOGIN_URL: where nobody signed in is sent
SCHEMA = api.get_openapi_schema()

# --- the endpoints ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One way in: a page's URL with one method, or an operation of the API."""

    kind: str  # "page" or "api"
    method: str
    route: str  # "/cases/<uuid:case_id>/" or "/api/v1/cases/{case_id}"
    params: tuple[tuple[str, str], ...] = ()  # path parameters: (name, type)
    body: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # the operation's requestBody
    query: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)  # its query parameters

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def names(self) -> set[str]:
        return {name for name, _kind in self.params}

    @property
    def is_case(self) -> bool:
        return "case_id" in self.names

    def url(self, values: dict[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            return values[match.group(1)]

        return re.sub(r"\{(\w+)\}", value, re.sub(r"<(?:\w+:)?(\w+)>", value, self.route))


def _routes(entries: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in entries:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern)


def api_operations() -> list[Endpoint]:
    """Every operation of the API's OpenAPI schema."""
    found = []
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            found.append(
                Endpoint(
                    "api",
                    method.upper(),
                    path,
                    params=tuple(
                        (p["name"], p["schema"].get("format", "str")) for p in parameters if p["in"] == "path"
                    ),
                    body=operation.get("requestBody") or {},
                    query=tuple(p for p in parameters if p["in"] == "query"),
                )
            )
    return found


def _as_api_path(route: str) -> str:
    return API_PREFIX + "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.removeprefix("api/v1/"))


def pages() -> list[Endpoint]:
    """Every URL pattern of the URL conf that is not an API operation (the API's own schema and docs pages are),
    each with GET and with POST."""
    operations = {e.route for e in api_operations()}
    found = []
    for route in _routes(get_resolver().url_patterns):
        if route.startswith("api/v1/") and _as_api_path(route) in operations:
            continue
        params = tuple((name, kind or "str") for kind, name in re.findall(r"<(?:(\w+):)?(\w+)>", route))
        found.extend(Endpoint("page", method, "/" + route, params) for method in ("GET", "POST"))
    return found


ENDPOINTS = pages() + api_operations()

# --- what each persona may get ---------------------------------------------------------------------------------

OK, CREATED, NO_CONTENT, FOUND, BAD, UNAUTHORISED, FORBIDDEN, MISSING, NOT_ALLOWED, CONFLICT, INVALID = (
    200,
    201,
    204,
    302,
    400,
    401,
    403,
    404,
    405,
    409,
    422,
)


@dataclass(frozen=True)
class Expect:
    """The statuses allowed: for nobody signed in, for a signed-in persona by role (`signed_in` for the other roles),
    for the persona whose object the path names (`own`: their token, their Party's profile), and when the path
    names something that does not exist (`missing`, by role, "*" for every role)."""

    signed_in: frozenset[int] | set[int]
    anonymous: frozenset[int] | set[int] = frozenset({FOUND})
    roles: dict[str, set[int]] = field(default_factory=dict)
    own: set[int] | None = None
    missing: dict[str, set[int]] = field(default_factory=dict)
    party: str = ""  # the request's query or body names this Party: its users are the owners
    persons: dict[str, set[int]] = field(default_factory=dict)  # by persona: what sets one apart from its role

    def _owns(self, world: World, persona: Persona, variant: Variant) -> bool:
        if self.party:
            return persona.party_code == self.party
        return world.owns(persona, variant.values)

    def allowed(self, world: World, persona: Persona, variant: Variant) -> set[int]:
        if persona.user is None:
            return set(self.anonymous)
        if not variant.real and (persona.role in self.missing or "*" in self.missing):
            return self.missing.get(persona.role, self.missing.get("*", set()))
        if persona.key in self.persons:
            return self.persons[persona.key]
        if self.own is not None and self._owns(world, persona, variant):
            return self.own
        return set(self.roles.get(persona.role, self.signed_in))


def page(signed_in: set[int], **kwargs: Any) -> Expect:
    """A page behind sign-in: nobody signed in is sent to the sign-in page."""
    return Expect(signed_in, **kwargs)


def public(status: set[int]) -> Expect:
    return Expect(status, anonymous=status)


def operation(signed_in: set[int], **kwargs: Any) -> Expect:
    """An API operation: nobody authenticated gets 401."""
    return Expect(signed_in, anonymous={UNAUTHORISED}, **kwargs)


CASEWORKERS = {str(role): {OK} for role in CASEWORK}
NODE_ADMINISTRATORS = {Role.REGISTRAR: {OK}, Role.SECRETARIAT: {OK}}
AUDITORS = {Role.AUDITOR: {OK}}

# The world stores no original of the instrument and no certified copy: their downloads are not found. Requests to
# instruments, Parties and bodies that do not exist are `missing`. API writes are sent with a body made from their
# schema (an empty one too, which is refused with 422 wherever the schema requires a field).
EXPECTED: dict[str, Expect] = {
    # core
    "GET /": page({OK}),
    "POST /": page({NOT_ALLOWED}),
    "GET /rules/": public({OK}),
    "POST /rules/": public({NOT_ALLOWED}),
    "GET /glossary/": public({OK}),
    "POST /glossary/": public({NOT_ALLOWED}),
    "GET /health/": public({OK}),
    "POST /health/": public({NOT_ALLOWED}),
    "GET /public/": public({OK}),
    "POST /public/": public({NOT_ALLOWED}),
    # accounts: signing in and out, the second factor, tokens and notifications (one's own only)
    "GET /accounts/sign-in/": Expect({FOUND}, anonymous={OK}),
    "POST /accounts/sign-in/": Expect({FOUND}, anonymous={OK}),
    "GET /accounts/sign-in/code/": public({FOUND}),  # no sign-in under way: back to the first step
    "POST /accounts/sign-in/code/": public({FOUND}),
    "GET /accounts/sign-in/enrol/": public({FOUND}),
    "POST /accounts/sign-in/enrol/": public({FOUND}),
    "GET /accounts/sign-out/": public({NOT_ALLOWED}),
    "POST /accounts/sign-out/": public({FOUND}),
    "GET /accounts/language/": public({NOT_ALLOWED}),
    "POST /accounts/language/": public({BAD}),
    "GET /accounts/second-factor/": page({OK}),
    "POST /accounts/second-factor/": page({OK}),
    "GET /accounts/tokens/": page({OK}),
    "POST /accounts/tokens/": page({INVALID}),  # an empty form: the token's name is required
    "GET /accounts/tokens/<int:token_id>/revoke/": page({NOT_ALLOWED}),
    "POST /accounts/tokens/<int:token_id>/revoke/": page({MISSING}, own={FOUND}),
    "GET /accounts/notifications/": page({OK}),
    "POST /accounts/notifications/": page({NOT_ALLOWED}),
    "GET /accounts/notifications/read-all/": page({NOT_ALLOWED}),
    "POST /accounts/notifications/read-all/": page({FOUND}),
    "GET /accounts/notifications/<int:notification_id>/read/": page({NOT_ALLOWED}),
    "POST /accounts/notifications/<int:notification_id>/read/": page({MISSING}, own={FOUND}),
    "GET /documents/second-factor/": page({OK}),
    "POST /documents/second-factor/": page({OK}),
    # audit: auditors only
    "GET /audit/": page({FORBIDDEN}, roles=AUDITORS),
    "POST /audit/": page({NOT_ALLOWED}),
    "GET /audit/verify/": page({NOT_ALLOWED}),
    "POST /audit/verify/": page({FORBIDDEN}, roles=AUDITORS),
    # registry: read by everyone; the Secretariat keeps instruments, a Party's registrar its profile and bodies
    "GET /registry/": page({OK}),
    "POST /registry/": page({NOT_ALLOWED}),
    "GET /registry/instruments/new/": page({FORBIDDEN}, roles={Role.SECRETARIAT: {OK}}),
    "POST /registry/instruments/new/": page({FORBIDDEN}, roles={Role.SECRETARIAT: {OK}}),
    "GET /registry/instruments/<slug:code>/": page({OK}, missing={"*": {MISSING}}),
    "POST /registry/instruments/<slug:code>/": page({NOT_ALLOWED}),
    **{
        f"GET /registry/instruments/<slug:code>/{action}/": page({NOT_ALLOWED})
        for action in ("events", "original", "copies")
    },
    **{
        f"POST /registry/instruments/<slug:code>/{action}/": page(
            {FORBIDDEN}, roles={Role.SECRETARIAT: {INVALID}}, missing={Role.SECRETARIAT: {MISSING}}
        )
        for action in ("events", "original", "copies")
    },
    "GET /registry/instruments/<slug:code>/original.pdf": page({MISSING}),
    "POST /registry/instruments/<slug:code>/original.pdf": page({NOT_ALLOWED}),
    "GET /registry/instruments/<slug:code>/copies/<int:copy_id>.pdf": page({MISSING}),
    "POST /registry/instruments/<slug:code>/copies/<int:copy_id>.pdf": page({NOT_ALLOWED}),
    "GET /registry/designations/": page({OK}),
    "POST /registry/designations/": page({FORBIDDEN}, roles={Role.REGISTRAR: {OK}, Role.SECRETARIAT: {OK}}),
    "GET /registry/announcements/": page({OK}),
    "POST /registry/announcements/": page({NOT_ALLOWED}),
    "GET /registry/announcements/<int:acknowledgement_id>/acknowledge/": page({NOT_ALLOWED}),
    # Another Party's announcement is not found; one's own Party's is acknowledged by its head, deputy or registrar.
    "POST /registry/announcements/<int:acknowledgement_id>/acknowledge/": page(
        {MISSING}, own={FORBIDDEN}, missing={"*": {MISSING}}
    ),
    "GET /registry/parties/": page({OK}),
    "POST /registry/parties/": page({NOT_ALLOWED}),
    "GET /registry/parties/<str:code>/": page({OK}, missing={"*": {MISSING}}),
    "POST /registry/parties/<str:code>/": page({FORBIDDEN}, own={FORBIDDEN}, missing={"*": {MISSING}}),
    "GET /registry/parties/<str:code>/bodies/new/": page(
        {FORBIDDEN}, roles={Role.SECRETARIAT: {OK}}, own={FORBIDDEN}, missing={"*": {MISSING}}
    ),
    "POST /registry/parties/<str:code>/bodies/new/": page(
        {FORBIDDEN}, roles={Role.SECRETARIAT: {OK}}, own={FORBIDDEN}, missing={"*": {MISSING}}
    ),
    # cases: lists and drafting for case workers only (a case itself: the rule for cases)
    "GET /cases/incoming/": page({FORBIDDEN}, roles=CASEWORKERS),
    "POST /cases/incoming/": page({NOT_ALLOWED}),
    "GET /cases/outgoing/": page({FORBIDDEN}, roles=CASEWORKERS),
    "POST /cases/outgoing/": page({NOT_ALLOWED}),
    "GET /cases/new/": page({FORBIDDEN}, roles=CASEWORKERS),
    "POST /cases/new/": page({FORBIDDEN}, roles={str(role): {INVALID} for role in CASEWORK}),
    # the node's deliveries: metadata for the registrar and the Secretariat (the world's node has none)
    "GET /deliveries/outgoing/": page({FORBIDDEN}, roles=NODE_ADMINISTRATORS),
    "POST /deliveries/outgoing/": page({NOT_ALLOWED}),
    "GET /deliveries/outgoing/<int:item_id>/": page(
        {FORBIDDEN}, roles={Role.REGISTRAR: {MISSING}, Role.SECRETARIAT: {MISSING}}
    ),
    "POST /deliveries/outgoing/<int:item_id>/": page({NOT_ALLOWED}),
    "GET /deliveries/outgoing/<int:item_id>/retry/": page({NOT_ALLOWED}),
    "POST /deliveries/outgoing/<int:item_id>/retry/": page(
        {FORBIDDEN}, roles={Role.REGISTRAR: {MISSING}, Role.SECRETARIAT: {MISSING}}
    ),
    "GET /deliveries/incoming/": page({FORBIDDEN}, roles=NODE_ADMINISTRATORS),
    "POST /deliveries/incoming/": page({NOT_ALLOWED}),
    # the API's schema and documentation are public; its root is nothing
    "GET /api/v1/openapi.json": public({OK}),
    "POST /api/v1/openapi.json": public({OK}),
    "GET /api/v1/docs": public({OK}),
    "POST /api/v1/docs": public({OK}),
    "GET /api/v1/": public({MISSING}),
    "POST /api/v1/": public({MISSING}),
    # the federation endpoint: for other nodes, which sign what they send; a user's session counts for nothing
    "GET /federation/v1/messages": public({NOT_ALLOWED}),
    "POST /federation/v1/messages": public({BAD}),
    "GET /federation/v1/node": public({OK}),
    "POST /federation/v1/node": public({NOT_ALLOWED}),
    "GET /federation/v1/ping": public({NOT_ALLOWED}),
    "POST /federation/v1/ping": public({BAD}),
    "GET /federation/v1/attachments/<str:sha256>": public({FORBIDDEN}),  # not signed by a node
    "POST /federation/v1/attachments/<str:sha256>": public({NOT_ALLOWED}),
    "GET /federation/v1/directory": public({MISSING}),  # this node keeps no directory
    "POST /federation/v1/directory": public({NOT_ALLOWED}),
    # --- the API (writes: with the body made from the schema) ---
    "GET /api/v1/me": operation({OK}),
    "PUT /api/v1/me/language": operation({OK}),
    "GET /api/v1/me/tokens": operation({OK}),
    "POST /api/v1/me/tokens": operation({CREATED}),
    "POST /api/v1/me/tokens/{token_id}/revoke": operation({MISSING}, own={OK}),
    "GET /api/v1/me/notifications": operation({OK}),
    "POST /api/v1/me/notifications/read-all": operation({OK}),
    "POST /api/v1/me/notifications/{notification_id}/read": operation({MISSING}, own={OK}),
    "GET /api/v1/audit/entries": operation({FORBIDDEN}, roles=AUDITORS),
    "POST /api/v1/audit/verify": operation({FORBIDDEN}, roles=AUDITORS),
    "GET /api/v1/registry/parties": operation({OK}),
    "GET /api/v1/registry/bodies": operation({OK}),
    "POST /api/v1/registry/bodies": operation(
        {FORBIDDEN}, roles={Role.REGISTRAR: {CREATED}, Role.SECRETARIAT: {CREATED}}
    ),
    "GET /api/v1/registry/parties/{code}/profile": operation({OK}, missing={"*": {MISSING}}),
    "PUT /api/v1/registry/parties/{code}/profile": operation({FORBIDDEN}, own={FORBIDDEN}, missing={"*": {MISSING}}),
    "GET /api/v1/registry/instruments": operation({OK}),
    "POST /api/v1/registry/instruments": operation({FORBIDDEN}, roles={Role.SECRETARIAT: {CREATED}}),
    "GET /api/v1/registry/instruments/{code}": operation({OK}, missing={"*": {MISSING}}),
    "GET /api/v1/registry/instruments/{code}/in-force": operation({OK}, missing={"*": {MISSING}}),
    "POST /api/v1/registry/instruments/{code}/events": operation(  # Kazakhstan has signed already
        {FORBIDDEN}, roles={Role.SECRETARIAT: {INVALID}}, missing={Role.SECRETARIAT: {MISSING}}
    ),
    "POST /api/v1/registry/instruments/{code}/original": operation(
        {FORBIDDEN}, roles={Role.SECRETARIAT: {CREATED}}, missing={Role.SECRETARIAT: {MISSING}}
    ),
    "POST /api/v1/registry/instruments/{code}/certified-copies": operation(
        {FORBIDDEN}, roles={Role.SECRETARIAT: {INVALID}}, missing={Role.SECRETARIAT: {MISSING}}
    ),
    # P18: a Party's open cases under the instrument, for the Party's own users and the Secretariat.
    "GET /api/v1/registry/instruments/{code}/obligations": operation(
        {FORBIDDEN}, roles={Role.SECRETARIAT: {OK}}, own={OK}, party="KZ", missing={"*": {MISSING}}
    ),
    "GET /api/v1/registry/designations": operation({OK}),
    # The designation of KZ-NSC the world filed already: refused on its merits, past the permission check.
    "POST /api/v1/registry/designations": operation(
        {FORBIDDEN}, roles={Role.REGISTRAR: {INVALID}, Role.SECRETARIAT: {INVALID}}
    ),
    "GET /api/v1/registry/designations/history": operation({OK}),
    "GET /api/v1/registry/announcements": operation({OK}),
    "POST /api/v1/registry/announcements/{announcement_id}/acknowledge": operation(
        {MISSING}, own={FORBIDDEN}, missing={"*": {MISSING}}
    ),
    "GET /api/v1/registry/announcements/pending": operation({FORBIDDEN}, roles=NODE_ADMINISTRATORS),
    "GET /api/v1/cases/incoming": operation({FORBIDDEN}, roles=CASEWORKERS),
    "GET /api/v1/cases/outgoing": operation({FORBIDDEN}, roles=CASEWORKERS),
    # A draft to the Russian body: the case workers of the other Parties' designated bodies may; Russia's own, and
    # those of the Kazakh body designated only from December, are refused on the merits (past the permission check).
    "POST /api/v1/cases": operation(
        {FORBIDDEN},
        roles={str(role): {CREATED} for role in CASEWORK},
        persons={"ru.officer": {INVALID}, "ru.analyst": {INVALID}, "ru.head": {INVALID}, "kz-nsc.officer": {INVALID}},
    ),
}

# Inside a Party, who acts for it: an announcement is acknowledged, a profile kept, a body registered, a
# designation filed by its registrar; an announcement also by its head or a deputy.
OWN_PARTY: dict[str, dict[str, set[int]]] = {
    "POST /registry/announcements/<int:acknowledgement_id>/acknowledge/": {
        Role.HEAD: {FOUND},
        Role.DEPUTY: {FOUND},
        Role.REGISTRAR: {FOUND},
    },
    "POST /api/v1/registry/announcements/{announcement_id}/acknowledge": {
        Role.HEAD: {OK},
        Role.DEPUTY: {OK},
        Role.REGISTRAR: {OK},
    },
    "POST /registry/parties/<str:code>/": {Role.REGISTRAR: {OK}},
    "GET /registry/parties/<str:code>/bodies/new/": {Role.REGISTRAR: {OK}},
    "POST /registry/parties/<str:code>/bodies/new/": {Role.REGISTRAR: {OK}},
    "PUT /api/v1/registry/parties/{code}/profile": {Role.REGISTRAR: {INVALID}},  # the schema's "x" for a time
}

# Reading a case: its case workers get it, whatever its state.
CASE_READS = {
    "GET /cases/<uuid:case_id>/",
    "GET /api/v1/cases/{case_id}",
    "GET /api/v1/cases/{case_id}/messages",
    "GET /cases/<uuid:case_id>/attachments/<uuid:attachment_id>/",
    "GET /api/v1/cases/{case_id}/attachments/{attachment_id}",
}
# What an insider may get from any other act on a case: done, refused for the role or the state, or bad input.
CASE_ACTS = {OK, CREATED, NO_CONTENT, FOUND, BAD, FORBIDDEN, NOT_ALLOWED, CONFLICT, INVALID}
# What anyone else gets: the same as for a case that does not exist (checked against the random id as well).
CASE_HIDDEN = {BAD, FORBIDDEN, MISSING, NOT_ALLOWED, INVALID}


def case_rule(world: World, endpoint: Endpoint, persona: Persona, variant: Variant) -> set[int]:
    """The strict default for everything that takes a `case_id`."""
    if persona.user is None:
        return {UNAUTHORISED} if endpoint.kind == "api" else {FOUND}
    case = world.cases.get(variant.case or "")
    if case is None or not world.is_insider(persona, case):
        return CASE_HIDDEN
    if endpoint.id in CASE_READS:
        return {OK} if variant.attachment_of_case else {MISSING}
    return CASE_ACTS


def expected(world: World, endpoint: Endpoint, persona: Persona, variant: Variant) -> set[int] | None:
    """The statuses allowed, or None when the endpoint has no rule."""
    if endpoint.is_case:
        return case_rule(world, endpoint, persona, variant)
    if variant.body == "empty":
        return {UNAUTHORISED} if persona.user is None else {INVALID}
    rule = EXPECTED.get(endpoint.id)
    if rule is None:
        return None
    if persona.user is not None and variant.real and endpoint.id in OWN_PARTY and world.owns(persona, variant.values):
        by_role = OWN_PARTY[endpoint.id]
        if persona.role in by_role:
            return by_role[persona.role]
    return rule.allowed(world, persona, variant)


# --- calling -----------------------------------------------------------------------------------------------------

RANDOM_UUID = "00000000-7e57-4000-8000-000000000000"
RANDOM_INT = "987654"
RANDOM_SHA256 = "0" * 63 + "1"
RANDOM_CODE = {"code": "no-such-instrument", "party": "ZZ"}


@dataclass(frozen=True)
class Variant:
    """One request to an endpoint: the path's values, the case they name, and which body an API write sends."""

    values: dict[str, str] = field(default_factory=dict)
    case: str | None = None
    real: bool = True  # False: the path names something that exists nowhere
    attachment_of_case: bool = True  # the attachment named (if any) is one of the named case's
    body: str = ""  # API writes: "filled" (made from the schema) or "empty" ({} or nothing)

    def label(self) -> str:
        return ", ".join(filter(None, [f"case {self.case}" if self.case else "", "" if self.real else "nonexistent"]))


def _path_variants(endpoint: Endpoint, world: World) -> list[Variant]:
    names = endpoint.names
    if endpoint.is_case:
        found = []
        for key, case in world.cases.items():
            values = {"case_id": str(case.id)}
            if "attachment_id" in names:
                values["attachment_id"] = str(case.attachments[0].id) if case.attachments else RANDOM_UUID
            for name in names - {"case_id", "attachment_id"}:
                values[name] = world.values[name][0]
            found.append(
                Variant(values, key, attachment_of_case="attachment_id" not in names or bool(case.attachments))
            )
        found.append(
            Variant({n: world.values[n][0] if n in world.values else RANDOM_UUID for n in names}, None, real=False)
        )
        if "attachment_id" in names:
            # A file of case A asked for under case B: found under no case but its own.
            other = {"case_id": str(world.cases["B"].id), "attachment_id": str(world.cases["A"].attachments[0].id)}
            found.append(Variant(other, "B", attachment_of_case=False))
        return found
    if not names:
        return [Variant()]
    options: dict[str, tuple[list[str], str]] = {}
    for name, kind in endpoint.params:
        if name == "sha256":
            options[name] = ([world.cases["A"].attachments[0].sha256], RANDOM_SHA256)
        elif name == "code":
            which = "party" if "/parties/" in endpoint.route else "code"
            options[name] = (world.values[which], RANDOM_CODE[which])
        else:
            real = world.values.get("acknowledgement_id" if name == "announcement_id" else name, [])
            options[name] = (real, RANDOM_UUID if kind == "uuid" else RANDOM_INT)
    # One parameter at a time takes each of its values and a value that exists nowhere; the others their first real.
    found = []
    first = {name: (real[0] if real else fake) for name, (real, fake) in options.items()}
    for name, (real, fake) in options.items():
        found.extend(Variant({**first, name: value}) for value in real)
        found.append(Variant({**first, name: fake}, real=False))
    return found


def variants(endpoint: Endpoint, world: World) -> list[Variant]:
    found = _path_variants(endpoint, world)
    if endpoint.kind == "api" and endpoint.method != "GET":
        filled = [Variant(v.values, v.case, v.real, v.attachment_of_case, "filled") for v in found]
        # The empty body as well, where the schema requires a field (for a case: case A, and one that does not exist).
        empty = [
            Variant(v.values, v.case, v.real, v.attachment_of_case, "empty")
            for v in found
            if _required(endpoint) and v.case in ("A", None)
        ]
        found = filled + empty
    return found


# --- request bodies made from the schema -------------------------------------------------------------------------

# Real values for fields whose name says what they are, so that a write reaches its permission checks.
FIELD_VALUES = {
    "party": "KZ",
    "party_a": "KZ",
    "party_b": "RU",
    "body": "KZ-NSC",
    "requested_body": "RU-MIA",
    "to_body": "RU-MIA",
    "language": "ru",
    "kind": "designated",
    "code": "NEW-BODY-1",
    "on": "2026-11-20",
    "sent_on": "2026-11-20",
    "effective_on": "2026-12-15",
    "adopted_on": "2026-11-20",
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(schema: dict[str, Any], name: str = "") -> Any:
    """A small value valid for `schema`: what a careful client would send."""
    schema = _resolve(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [_resolve(s) for s in schema[key] if _resolve(s).get("type") != "null"]
            return example(options[0], name)
    if "enum" in schema:
        return FIELD_VALUES.get(name) if FIELD_VALUES.get(name) in schema["enum"] else schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {key: example(schema["properties"][key], key) for key in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"], name)] if schema.get("minItems") else []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    formats = {"date": "2026-11-20", "date-time": "2026-11-20T10:00:00Z", "uuid": RANDOM_UUID}
    if schema.get("format") in formats:
        return FIELD_VALUES.get(name, formats[schema["format"]])
    length = max(1, schema.get("minLength", 1))
    candidates = [FIELD_VALUES.get(name, ""), "x" * length, "0" * length, "X" * length]
    pattern = schema.get("pattern")
    return next(c for c in candidates if c and len(c) >= length and (not pattern or re.search(pattern, c)))


def _body_schema(endpoint: Endpoint) -> tuple[str, dict[str, Any]]:
    content = endpoint.body.get("content", {})
    for media_type, spec in content.items():
        return media_type, _resolve(spec["schema"])
    return "", {}


def _required(endpoint: Endpoint) -> bool:
    return bool(_body_schema(endpoint)[1].get("required"))


def _query(endpoint: Endpoint) -> dict[str, Any]:
    return {p["name"]: example(p["schema"], p["name"]) for p in endpoint.query if p.get("required")}


def _multipart(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    data = {}
    for key, value in values.items():
        if _resolve(schema["properties"][key]).get("format") == "binary":
            data[key] = SimpleUploadedFile(f"{key}.pdf", PDF, content_type="application/pdf")
        else:
            data[key] = value
    return data


# --- one call ----------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    text: str  # the body (JSON also with its non-ASCII text unescaped) and every header
    detail: str  # an API error's sentence
    location: str  # where a redirect goes


def _read(response: Any) -> Answer:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode("utf-8", errors="replace")
    detail = ""
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        text += "\n" + json.dumps(parsed, ensure_ascii=False)
        if isinstance(parsed, dict):
            detail = str(parsed.get("detail", ""))
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return Answer(response.status_code, text + "\n" + headers, detail, response.get("Location", ""))


def call(client: Client, persona: Persona, endpoint: Endpoint, variant: Variant) -> tuple[Answer, str]:
    """The request, in a savepoint rolled back after it; returns the answer and what the request itself said."""
    url = endpoint.url(variant.values)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {persona.token}"} if endpoint.kind == "api" and persona.token else {}
    method = getattr(client, endpoint.method.lower())
    sent = ""
    # The federation endpoint answers as on a node that takes part in the federation (world.py made its keys).
    node_id = FEDERATION_NODE if endpoint.route.startswith("/federation/") else settings.NODE_ID
    with override_settings(NODE_ID=node_id), transaction.atomic():
        if endpoint.kind == "page":
            response = method(url, **headers) if endpoint.method == "GET" else method(url, {}, **headers)
        elif endpoint.method == "GET":
            query = _query(endpoint)
            sent = json.dumps(query)
            response = client.get(url, query, **headers)
        else:
            media_type, schema = _body_schema(endpoint)
            values = example(schema) if variant.body == "filled" and schema else {}
            sent = json.dumps(values)
            if media_type.startswith("multipart/"):
                response = method(url, _multipart(schema, values), **headers)
            elif media_type:
                response = method(url, sent, "application/json", **headers)
            else:
                response = method(url, **headers)
        answer = _read(response)
        transaction.set_rollback(True)
    return answer, url + "\n" + sent


def clients(world: World) -> dict[str, Client]:
    """A client per persona, signed in (as after the password and any code the sign-in asked for) unless anonymous."""
    found = {}
    for key, persona in world.personas.items():
        client = Client(raise_request_exception=False)
        if persona.user is not None:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[key]
        found[key] = client
    return found


# --- the checks --------------------------------------------------------------------------------------------------

# Where the product is known to fail a check: (endpoint id, persona key) -> what fails. Each is left out of the
# matrix and has its own xfail(strict=True) test below, so the fix shows (the test then passes and must be removed).
# Faults this test found, while they are being fixed: (endpoint, persona) → what is wrong. Each pair is an xfail
# (strict) below, so it fails as soon as its fault is fixed and must then be removed from here. None open now.
KNOWN_FAULTS: dict[tuple[str, str], str] = {}


def _content_of_any_case(world: World) -> dict[str, str]:
    return {text: f"content of case {case.key}" for case in world.cases.values() for text in case.content}


def check(world: World, endpoint: Endpoint, persona: Persona, variant: Variant, answer: Answer, sent: str) -> list[str]:
    """What is wrong with one answer (nothing: an empty list)."""
    problems = []
    where = (
        f"{endpoint.id} [{variant.label() or 'as is'}{', ' + variant.body if variant.body else ''}] as {persona.key}"
    )
    if answer.status >= 500:
        problems.append(f"{where}: server error {answer.status}")
    allowed = expected(world, endpoint, persona, variant)
    if allowed is None:
        problems.append(f"{where}: no expectation: add a row to EXPECTED (it answered {answer.status})")
    elif answer.status not in allowed:
        problems.append(f"{where}: {answer.status}, expected one of {sorted(allowed)}")
    if persona.user is None and answer.status == FOUND and not answer.location.startswith(resolve_url(LOGIN_URL)):
        problems.append(f"{where}: redirected to {answer.location!r}, not to the sign-in page")
    forbidden = world.forbidden(persona)
    if answer.status in (FOUND, UNAUTHORISED, FORBIDDEN, MISSING, NOT_ALLOWED) or answer.status >= 500:
        forbidden = {**_content_of_any_case(world), **forbidden}  # a refusal tells nothing of any case
    for text, what in forbidden.items():
        if text in answer.text and text not in sent:
            problems.append(f"{where}: the answer ({answer.status}) holds {what}: {text!r}")
    return problems


def sweep(world: World, endpoint: Endpoint, skip: set[str] = frozenset()) -> list[str]:
    """Every variant of the endpoint by every persona; the problems found."""
    problems: list[str] = []
    per_persona = clients(world)
    all_variants = variants(endpoint, world)
    for key, persona in world.personas.items():
        if key in skip:
            continue
        answers = []
        for variant in all_variants:
            answer, sent = call(per_persona[key], persona, endpoint, variant)
            problems.extend(check(world, endpoint, persona, variant, answer, sent))
            answers.append((variant, answer))
            if endpoint.kind == "page" and answer.status == NOT_ALLOWED and len(answers) == 1:
                break  # the method is refused before anything is looked up: the other values answer the same
        if endpoint.is_case:
            problems.extend(_indistinguishable(world, endpoint, persona, answers))
    return problems


def _indistinguishable(
    world: World, endpoint: Endpoint, persona: Persona, answers: list[tuple[Variant, Answer]]
) -> list[str]:
    """A case the persona may not see answers exactly as a case that does not exist: nothing tells it is there."""
    hidden = {variant.body: answer for variant, answer in answers if not variant.real}
    problems = []
    for variant, answer in answers:
        case = world.cases.get(variant.case or "")
        if case is None or world.is_insider(persona, case) or variant.body not in hidden:
            continue  # (none for a method refused before the case is looked up)
        nothing = hidden[variant.body]
        if (answer.status, answer.detail) != (nothing.status, nothing.detail):
            problems.append(
                f"{endpoint.id} [case {case.key}] as {persona.key}: {answer.status} {answer.detail!r}, but "
                f"{nothing.status} {nothing.detail!r} for a case that does not exist: the difference tells it exists"
            )
    return problems


def _faulty(endpoint: Endpoint) -> set[str]:
    return {key for (endpoint_id, key) in KNOWN_FAULTS if endpoint_id == endpoint.id}


@pytest.mark.rule("P10.1")
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_every_persona_gets_the_expected_answer_and_nothing_it_may_not_see(endpoint, world, db):
    problems = sweep(world, endpoint, skip=_faulty(endpoint))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("endpoint_id", "key"),
    [pytest.param(*pair, marks=pytest.mark.xfail(strict=True, reason=reason)) for pair, reason in KNOWN_FAULTS.items()],
)
def test_known_fault(endpoint_id, key, world, db):
    endpoint = next(e for e in ENDPOINTS if e.id == endpoint_id)
    persona = world.personas[key]
    client = clients(world)[key]
    problems = []
    for variant in variants(endpoint, world):
        answer, sent = call(client, persona, endpoint, variant)
        problems.extend(check(world, endpoint, persona, variant, answer, sent))
    assert not problems, "\n".join(problems)


# --- the enumeration and the checks themselves ---------------------------------------------------------------------


def test_the_enumeration_finds_the_pages_the_api_and_the_federation_endpoint():
    ids = {e.id for e in ENDPOINTS}
    assert {
        "GET /cases/<uuid:case_id>/",
        "POST /cases/<uuid:case_id>/results/",
        "GET /cases/<uuid:case_id>/attachments/<uuid:attachment_id>/",
        "GET /api/v1/cases/{case_id}",
        "POST /api/v1/cases/{case_id}/results",
        "GET /api/v1/audit/entries",
        "GET /federation/v1/node",
        "GET /api/v1/openapi.json",
    } <= ids
    # API operations come from the schema, once each; pages never duplicate them.
    assert "GET /api/v1/cases/<case_id>" not in ids
    assert len(ids) == len(ENDPOINTS)


def test_every_endpoint_has_a_rule():
    """A new page or operation that takes no case_id needs its row in EXPECTED (one that does is covered at once)."""
    missing = sorted(e.id for e in ENDPOINTS if not e.is_case and e.id not in EXPECTED)
    assert not missing, "no expectation for: " + ", ".join(missing)
    stale = (set(EXPECTED) | set(OWN_PARTY) | CASE_READS) - {e.id for e in ENDPOINTS}
    assert not stale, "rules for endpoints that no longer exist: " + ", ".join(sorted(stale))


def test_every_variant_fills_every_path_parameter(world, db):
    for endpoint in ENDPOINTS:
        for variant in variants(endpoint, world):
            url = endpoint.url(variant.values)
            assert not re.search(r"[<>{}]", url), (endpoint.id, url)


@pytest.mark.rule("P10.1")
def test_the_leak_check_finds_a_case_where_it_is_shown(world, db):
    """The markers are what the pages and the API show, so an answer that leaked them would be caught."""
    case = world.cases["A"]
    officer = world.personas["ru.officer"]
    outsider = world.personas["am.officer"]
    marker = next(text for text in case.content if text.startswith("A-SUBJECT-"))
    # The case page links the files of its timeline; the API's case holds the request without its messages.
    for endpoint_id, shows_files in (("GET /cases/<uuid:case_id>/", True), ("GET /api/v1/cases/{case_id}", False)):
        endpoint = next(e for e in ENDPOINTS if e.id == endpoint_id)
        variant = Variant({"case_id": str(case.id)}, "A")
        answer, sent = call(clients(world)["ru.officer"], officer, endpoint, variant)
        assert answer.status == OK
        assert marker in answer.text
        # The same answer given to a user of another Party would be a leak, and is reported as one; the case's
        # id is in the request itself, so only what the answer adds counts.
        problems = check(world, endpoint, outsider, variant, answer, sent)
        assert any(f"holds content of case A: {marker!r}" in p for p in problems), problems
        assert not any(f"an id of case A: {str(case.id)!r}" in p for p in problems), problems
        attachment = str(case.attachments[0].id)
        assert any(f"an id of case A: {attachment!r}" in p for p in problems) == shows_files, problems


def test_the_forbidden_strings_follow_need_to_know(world, db):
    """Case workers of the two bodies see a case; the Parties' auditors its ids (metadata) but not its content;
    a draft stays with its requesting body; everyone else sees nothing of it."""
    a, d = world.cases["A"], world.cases["D"]
    subject_a = next(t for t in a.content if t.startswith("A-SUBJECT-"))
    subject_d = next(t for t in d.content if t.startswith("D-SUBJECT-"))

    def sees(key: str, text: str) -> bool:
        return text not in world.forbidden(world.personas[key])

    assert [sees(key, subject_a) for key in ("ru.head", "kz.deputy", "kz-nsc.officer", "kz.auditor")] == [
        True,
        True,
        False,  # another body of the same Party
        False,  # an auditor reads metadata, not content
    ]
    assert not sees("ru.officer", subject_d)  # a draft stays home
    assert [sees(key, str(a.id)) for key in ("kz.auditor", "am.auditor", "by.officer", ANONYMOUS.key)] == [
        True,
        False,
        False,
        False,
    ]
