"""Need to know (P10.1) and markings (P10.1, P10.3), as pure decisions over facts.

Who sees a case: only users of its two bodies (the requesting body, and the body executing the request once it
is sent), and within a body only the users the case is assigned to, plus the head and the deputies, who see every
case of their body and assign the others. Auditors see a case's metadata (that it exists, its number, its state,
who did what and when: the audit log), never its content. Everyone else: nothing, not even that it exists.
"""

from __future__ import annotations

from enum import IntEnum

from cybercoop.accounts.rules import Role
from cybercoop.exchange.rules import Marking


class Access(IntEnum):
    """How much of a case a user may see; ordered, so `access >= Access.CONTENT` reads naturally."""

    NONE = 0
    METADATA = 1  # the audit log's facts: number, state, dates, bodies, who acted; no text, no file
    CONTENT = 2


# The head and the deputies answer for every case of their body (they sign, P6.5, P9.2), so they see them all.
SEES_EVERY_CASE_OF_THE_BODY = frozenset({Role.HEAD, Role.DEPUTY})
# An officer sees the cases assigned to them: those they drafted, those that arrived while they received the
# body's incoming requests, and those the head or a deputy assigned to them.
SEES_ASSIGNED_CASES = frozenset({Role.OFFICER})
SEES_METADATA = frozenset({Role.AUDITOR})
# Who may be assigned a case: the roles that work on cases.
ASSIGNABLE = SEES_EVERY_CASE_OF_THE_BODY | SEES_ASSIGNED_CASES


def case_access(*, role: str, of_a_party_body: bool, assigned: bool) -> Access:
    """The one decision: how much of a case a user of `role` sees. `of_a_party_body`: the user works in one of the
    case's two bodies (the requested body only once the request is sent); `assigned`: the case is assigned to the
    user."""
    if not of_a_party_body:
        return Access.NONE
    if role in SEES_EVERY_CASE_OF_THE_BODY:
        return Access.CONTENT
    if role in SEES_ASSIGNED_CASES:
        return Access.CONTENT if assigned else Access.NONE
    if role in SEES_METADATA:
        return Access.METADATA
    return Access.NONE


def needs_assignment(role: str) -> bool:
    """True if a user of `role` sees a case's content only when it is assigned to them."""
    return role in SEES_ASSIGNED_CASES


# --- markings ---------------------------------------------------------------------------------------------------

# From the least to the most restricted. A state secret is not on the scale: it never enters the system (P10.3).
MARKING_ORDER: tuple[str, ...] = (Marking.PUBLIC, Marking.OFFICIAL, Marking.CONFIDENTIAL)


def is_lowering(current: str, new: str) -> bool:
    """True if `new` is a less restricted marking than `current`."""
    return MARKING_ORDER.index(new) < MARKING_ORDER.index(current)


# Who may lower a case's marking once it is sent: the head or a deputy of the requesting body, whose request set it
# and signed it (P6.5). Raising it protects the information more, so whoever works on the case may.
LOWERS_MARKING = SEES_EVERY_CASE_OF_THE_BODY


def may_change_marking(*, role: str, requesting_side: bool, lowering: bool) -> bool:
    """True if a user who sees the case's content may change its marking this way."""
    if not lowering:
        return role in ASSIGNABLE
    return requesting_side and role in LOWERS_MARKING
