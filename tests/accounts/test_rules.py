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


# --- the second factor at sign-in (issue 7) ----------------------------------------------------------------------


@pytest.mark.rule("P6.5")
@pytest.mark.parametrize("role", [rules.Role.HEAD, rules.Role.DEPUTY])
def test_heads_and_deputies_must_have_an_authenticator_under_either_policy(role):
    for policy in rules.SecondFactorPolicy:
        assert rules.second_factor_required(role=role, policy=policy)
        assert rules.sign_in_step(role=role, policy=policy, has_device=False) == rules.SignInStep.ENROL


@pytest.mark.parametrize("role", [r for r in rules.Role if r not in rules.SIGNER_ROLES])
def test_the_others_must_only_when_the_policy_is_all(role):
    assert not rules.second_factor_required(role=role, policy="signers")
    assert rules.sign_in_step(role=role, policy="signers", has_device=False) is None
    assert rules.sign_in_step(role=role, policy="all", has_device=False) == rules.SignInStep.ENROL


@pytest.mark.parametrize("role", list(rules.Role))
def test_whoever_has_an_authenticator_gives_its_code(role):
    assert rules.sign_in_step(role=role, policy="signers", has_device=True) == rules.SignInStep.CODE


def test_an_unknown_policy_requires_an_authenticator():
    assert rules.second_factor_required(role=rules.Role.OFFICER, policy="nobody")


def test_an_enrolment_keeps_its_secret_out_of_its_repr():
    enrolment = rules.Enrolment(
        secret="JBSWY3DPEHPK3PXP", url="otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", qr_svg="<svg/>"
    )
    assert "JBSWY3DP" not in repr(enrolment)
