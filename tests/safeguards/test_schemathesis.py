"""schemathesis over the whole API (issue 7): every operation of the OpenAPI schema, called through the node's WSGI
application with generated input, never answers with a server error and always answers as the schema says (status
code, content type and body).

Generated path parameters name nothing (a random case id is simply not found), so most examples name the world's
objects instead (tests/safeguards/world.py) and are sent by a user who may act on them: the generated bodies then
reach the services. Every test runs in its own savepoint, so what an example changes is gone after the operation."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.safeguards.world import World


class InTestTransaction(WSGIHandler):
    """The node's WSGI application, as Django's test client runs it: a request does not close the database
    connection when it ends (on PostgreSQL that would end the test's transaction, and the world with it)."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = super().__call__(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()  # sends request_finished
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


# The schema as the node serves it: what a client of the API reads.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", InTestTransaction())
# A few examples per operation, so that the whole API takes well under two minutes (test_access_matrix.py calls
# every operation as every persona besides). Deterministic: the same examples on every run.
schema.config.generation.update(max_examples=8, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "fuzzing"])

# Who calls each part of the API: a user whose role gets past its permission checks.
CALLERS = {
    "/api/v1/audit/": "kz.auditor",
    "/api/v1/registry/instruments": "csto.secretariat",
    "/api/v1/registry/": "kz.registrar",
}
# On a case: the case workers of both sides, on the received case A and on the draft D.
CASE_CALLERS = [(who, case) for who in ("kz.officer", "kz.head", "ru.officer", "ru.head") for case in ("A", "D")]


def _pick(case: schemathesis.Case, choices: int) -> int:
    """A choice that follows the generated example (so it is the same on every run)."""
    return zlib.crc32(repr((case.body, case.query, case.path_parameters)).encode()) % choices


def name_the_world(case: schemathesis.Case, world: World) -> str:
    """Point most examples at the world's objects; the persona who sends it."""
    path = case.operation.path
    params = case.path_parameters if case.path_parameters is not None else {}
    if "case_id" in params:
        choice = _pick(case, len(CASE_CALLERS) + 1)
        if choice == len(CASE_CALLERS):
            return "kz.officer"  # as generated: a case that does not exist
        who, key = CASE_CALLERS[choice]
        facts = world.cases[key]
        params["case_id"] = str(facts.id)
        if "attachment_id" in params and facts.attachments:
            params["attachment_id"] = str(facts.attachments[0].id)
        return who
    who = next((who for prefix, who in CALLERS.items() if path.startswith(prefix)), "kz.officer")
    user = world.personas[who].user
    if "code" in params:
        params["code"] = "KZ" if "/parties/" in path else world.instrument.code
    if "token_id" in params and user is not None:
        params["token_id"] = user.api_tokens.values_list("pk", flat=True).first()
    if "notification_id" in params and user is not None:
        params["notification_id"] = user.notifications.values_list("pk", flat=True).first() or 1
    if "announcement_id" in params:
        params["announcement_id"] = int(world.values["acknowledgement_id"][0])
    return who


@pytest.mark.rule("P10.1")
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_api_answers_as_its_schema_says_and_never_fails(case, world, db):
    token = world.personas[name_the_world(case, world)].token
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error, response_schema_conformance]
    )
