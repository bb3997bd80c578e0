"""The one table of who may do what."""

import pytest

from cybercoop.accounts import rules
from cybercoop.core.permissions import Permission


def test_every_role_has_an_entry_in_the_table():
    assert set(rules.ROLE_PERMISSIONS) == set(rules.Role)


@pytest.mark.parametrize("role", list(rules.Role))
def test_only_auditors_read_the_audit_log(role):
    expected = role == rules.Role.AUDITOR
    assert rules.role_has_permission(role, Permission.VIEW_AUDIT_LOG) is expected
    assert rules.role_has_permission(role, Permission.VERIFY_AUDIT_CHAIN) is expected


def test_unknown_roles_and_permissions_hold_nothing():
    assert not rules.role_has_permission("minister", Permission.VIEW_HOME)
    assert not rules.role_has_permission("officer", "audit.delete_everything")


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("cc_Ab3dEf9h_" + "x" * 43, "Ab3dEf9h"),
        ("  cc_Ab3dEf9h_" + "-_" * 21 + "a  ", "Ab3dEf9h"),
        ("cc_Ab3dEf9h_" + "x" * 42, None),
        ("cc_Ab3dEf9_" + "x" * 43, None),
        ("Bearer cc_Ab3dEf9h_" + "x" * 43, None),
        ("", None),
        ("cc_Ab3dEf9h_" + "x" * 42 + "!", None),
    ],
)
def test_token_format(raw, prefix):
    assert rules.parse_token(raw) == prefix
