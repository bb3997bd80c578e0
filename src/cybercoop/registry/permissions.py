"""Object-level rules of the registry: who may act for which Party (registered in `RegistryConfig.ready`)."""

from __future__ import annotations

from typing import Any

from cybercoop.accounts.rules import Role
from cybercoop.core.permissions import Permission, register_object_rule


def _acts_for(user: Any, party: Any) -> bool:
    """The Secretariat acts for any Party (it records what Parties notify it); others only for their own."""
    return user.role == Role.SECRETARIAT or user.body.party_id == party.pk


def install() -> None:
    """Register the rules; called once from the app's `ready()`."""

    @register_object_rule(Permission.FILE_DESIGNATION)
    def _file_designation(user: Any, party: Any) -> bool:  # P4.2: only that Party's registrar
        return _acts_for(user, party)

    @register_object_rule(Permission.REGISTER_BODY)
    def _register_body(user: Any, party: Any) -> bool:
        return _acts_for(user, party)

    @register_object_rule(Permission.EDIT_PARTY_PROFILE)
    def _edit_profile(user: Any, party: Any) -> bool:
        return bool(user.body.party_id == party.pk)

    @register_object_rule(Permission.ACKNOWLEDGE_ANNOUNCEMENT)
    def _acknowledge(user: Any, acknowledgement: Any) -> bool:  # P4.3: each Party acknowledges for itself
        return bool(user.body.party_id == acknowledgement.party_id)

    @register_object_rule(Permission.VIEW_ACKNOWLEDGEMENTS)
    def _view_acknowledgements(user: Any, notice: Any) -> bool:
        return _acts_for(user, notice.party)
