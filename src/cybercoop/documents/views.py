"""The documents domain's pages: enrolling the second factor (TOTP) that signing asks for (P6.5).

The page is the accounts domain's (`accounts.views.second_factor`, also at /accounts/second-factor/): the device that
confirms a signature is the one that opens a sign-in (issue 7), so one authenticator app serves both.
"""

from __future__ import annotations

from cybercoop.accounts.views import second_factor

__all__ = ["second_factor"]
