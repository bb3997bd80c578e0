"""Seeding the demonstration through the domains' services, so every seeded row is audited too."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from cybercoop.accounts import selectors as account_selectors
from cybercoop.accounts import services as account_services
from cybercoop.demo import data
from cybercoop.registry import selectors as registry_selectors
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import Party


@dataclass(frozen=True)
class Login:
    username: str
    role: str
    body: str
    full_name: str


@transaction.atomic
def seed(*, password: str) -> list[Login]:
    """Create what is missing of the demo's Parties, bodies and users; safe to run again."""
    parties: dict[str, Party] = {p.code: p for p in registry_selectors.parties()}
    for code, kind, zone, name_ru, name_kk, name_en in data.PARTIES:
        if code not in parties:
            parties[code] = registry_services.register_party(
                actor=None,
                code=code,
                kind=kind,
                time_zone=zone,
                name_ru=name_ru,
                name_kk=name_kk,
                name_en=name_en,
            )
    for party_code, code, kind, name_ru, name_kk, name_en in data.BODIES:
        if registry_selectors.get_body(code=code) is None:
            registry_services.register_body(
                actor=None,
                party=parties[party_code],
                code=code,
                kind=kind,
                name_ru=name_ru,
                name_kk=name_kk,
                name_en=name_en,
            )
    logins = []
    for username, body_code, role, full_name, position in data.USERS:
        body = registry_selectors.get_body(code=body_code)
        if account_selectors.get_user(username=username) is None:
            account_services.create_user(
                actor=None,
                username=username,
                full_name=full_name,
                position=position,
                body=body,
                role=role,
                password=password,
            )
        logins.append(Login(username=username, role=role, body=body_code, full_name=full_name))
    return logins
