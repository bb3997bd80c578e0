"""The `cybercoop` command."""

import io
from contextlib import redirect_stdout

import pytest
from django.core.management import CommandError, call_command

from cybercoop import cli
from cybercoop.accounts import selectors


def test_help_lists_the_commands():
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["--help"])
    for command in ("serve", "worker", "demo", "audit", "rules", "i18n", "manage"):
        assert command in out.getvalue()


def test_no_command_prints_help_and_fails():
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "cybercoop" in out.getvalue()


def test_create_api_token_prints_a_working_token(kz_officer, clock):
    out = io.StringIO()
    call_command("create_api_token", "kz.officer", "--name", "nightly export", "--days", "7", stdout=out)
    raw = out.getvalue().strip()
    assert selectors.user_for_token(raw=raw, now=clock.now()) == kz_officer
    token = kz_officer.api_tokens.get()
    assert token.name == "nightly export"
    assert (token.expires_at - token.created_at).days == 7


def test_create_api_token_refuses_an_unknown_user_or_bad_days(kz_officer):
    with pytest.raises(CommandError, match="no active user"):
        call_command("create_api_token", "nobody")
    with pytest.raises(CommandError, match="valid_days"):
        call_command("create_api_token", "kz.officer", "--days", "0")
    assert not kz_officer.api_tokens.exists()
