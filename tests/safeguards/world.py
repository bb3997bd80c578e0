"""A small world for the access-control tests: users of every role in the two bodies of a case, in another body of
the same Party and in Parties outside it, and three cases whose every identifying string is known.

Case A goes from Kazakhstan to Russia, was received and holds a question and two attachments; case B goes from
Armenia to Russia; case D is a Kazakh draft to Russia, which stays with its requesting body. Each case's subject
and texts carry a distinctive marker, so a test can tell from any answer whether something of it leaked."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cybercoop.accounts import services as accounts
from cybercoop.accounts.models import Notification, User
from cybercoop.accounts.rules import Role
from cybercoop.assistance import services as assistance
from cybercoop.assistance.models import Case, CaseAssignment
from cybercoop.exchange.federation import node
from cybercoop.exchange.models import Attachment, Message
from cybercoop.registry import services as registry
from cybercoop.registry.models import Body, Instrument
from tests.accounts.factories import UserFactory
from tests.assistance.factories import draft, protocol_between
from tests.registry.factories import BodyFactory, PartyFactory

PDF = b"%PDF-1.7\n% an ordinance of the requesting body\n%%EOF\n"


def pdf(marker: str) -> bytes:
    """A PDF of its own (its SHA-256 is one case's alone)."""
    return PDF.replace(b"ordinance", f"ordinance {marker}".encode())


CASEWORK = frozenset({Role.OFFICER, Role.HEAD, Role.DEPUTY})
SEES_EVERY_CASE = frozenset({Role.HEAD, Role.DEPUTY})
FEDERATION_NODE = "kz"


@dataclass(frozen=True)
class Persona:
    """Who calls: a user (with an API token) or nobody signed in."""

    key: str
    user: User | None = None
    token: str = ""  # the raw API token
    token_name: str = ""

    @property
    def role(self) -> str:
        return self.user.role if self.user else ""

    @property
    def body_code(self) -> str:
        return self.user.body.code if self.user else ""

    @property
    def party_code(self) -> str:
        return self.user.body.party.code if self.user else ""


ANONYMOUS = Persona("anonymous")


@dataclass(frozen=True)
class CaseFacts:
    """A case and every string that identifies it (ids) or tells what it is about (content)."""

    key: str
    id: uuid.UUID
    requesting_body: str
    handling_body: str
    is_sent: bool
    content: frozenset[str]  # subject, texts, numbers, file names: only for the users of its two bodies
    ids: frozenset[str]  # the case's, its messages' and attachments' ids and hashes: also for their auditors
    attachments: tuple[Attachment, ...]
    assigned: frozenset[str]  # the usernames of the officers it is assigned to (need to know, P10.1)

    def bodies(self) -> set[str]:
        return {self.requesting_body, self.handling_body} if self.is_sent else {self.requesting_body}

    def parties(self) -> set[str]:
        return {code.split("-")[0] for code in self.bodies()}


@dataclass
class World:
    personas: dict[str, Persona]
    cases: dict[str, CaseFacts]
    instrument: Instrument
    values: dict[str, list[str]] = field(default_factory=dict)  # real values of path parameters, by name
    sessions: dict[str, str] = field(default_factory=dict)  # each user's session key, signed in
    # Whose is the object a path parameter names: persona keys, or a Party's code for what belongs to a Party.
    owners: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def owns(self, persona: Persona, values: dict[str, str]) -> bool:
        """The persona's own object (a token, a notification), or its Party's (an announcement, a profile)."""
        for name, value in values.items():
            owner = self.owners.get(("acknowledgement_id" if name == "announcement_id" else name, value), set())
            if persona.key in owner or persona.party_code in owner:
                return True
        return False

    def is_insider(self, persona: Persona, case: CaseFacts) -> bool:
        """P10.1, need to know: of the case's own bodies (a draft: only its requesting body), the head and the
        deputies, and the officers the case is assigned to."""
        if persona.role not in CASEWORK or persona.body_code not in case.bodies():
            return False
        return persona.role in SEES_EVERY_CASE or persona.key in case.assigned

    def may_see_ids(self, persona: Persona, case: CaseFacts) -> bool:
        """The audit log shows an auditor which objects of the Party's bodies were acted on: metadata, not content."""
        return self.is_insider(persona, case) or (persona.role == Role.AUDITOR and persona.party_code in case.parties())

    def forbidden(self, persona: Persona) -> dict[str, str]:
        """Every string `persona` must never receive, each with what it is."""
        found: dict[str, str] = {}
        for case in self.cases.values():
            if not self.is_insider(persona, case):
                found.update({text: f"content of case {case.key}" for text in case.content})
            if not self.may_see_ids(persona, case):
                found.update({text: f"an id of case {case.key}" for text in case.ids})
        for other in self.personas.values():
            same_party_auditor = persona.role == Role.AUDITOR and persona.party_code == other.party_code
            if other.key != persona.key and other.token_name and not same_party_auditor:
                found[other.token_name] = f"the API token of {other.key}"
                found[other.token] = f"the API token of {other.key}"
        return found


def _marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def _user(username: str, body: Body, role: str, *, desk: bool = False) -> User:
    return UserFactory(
        username=username, body=body, role=role, full_name=f"Пользователь {username}", receives_incoming=desk
    )


def _facts(key: str, case: Case, markers: list[str]) -> CaseFacts:
    case.refresh_from_db()
    messages = list(Message.objects.filter(conversation=case.id))
    attachments = tuple(
        Attachment.objects.filter(message__conversation=case.id).order_by("message__position", "position")
    )
    content = {*markers, case.subject}
    content |= {n for n in (case.outgoing_number, case.incoming_number) if n}
    content |= {a.name for a in attachments}
    ids = {str(case.id), *(str(m.id) for m in messages), *(str(a.id) for a in attachments)}
    ids |= {a.sha256 for a in attachments}
    return CaseFacts(
        key=key,
        id=case.id,
        requesting_body=case.requesting_body.code,
        handling_body=case.handling_body.code,
        is_sent=bool(case.outgoing_number),
        content=frozenset(content),
        ids=frozenset(ids),
        attachments=attachments,
        assigned=frozenset(CaseAssignment.objects.filter(case=case).values_list("user__username", flat=True)),
    )


def build_world() -> World:
    """The personas and the three cases, through the services (as the screens would make them)."""
    kz = BodyFactory(kazakh=True)
    ru = BodyFactory(russian=True)
    kz_other = BodyFactory(party=kz.party, code="KZ-NSC", name_en="National Security Committee of Kazakhstan")
    am = BodyFactory(party=PartyFactory(code="AM", time_zone="Asia/Yerevan"), code="AM-POL")
    by = BodyFactory(party=PartyFactory(code="BY", time_zone="Europe/Minsk"), code="BY-MIA")
    csto = BodyFactory(party=PartyFactory(secretariat=True), code="CSTO-SEC", kind="secretariat")
    instrument = protocol_between(kz, ru, am, by)

    users = {
        "kz.officer": _user("kz.officer", kz, Role.OFFICER),
        "kz.head": _user("kz.head", kz, Role.HEAD),
        "kz.deputy": _user("kz.deputy", kz, Role.DEPUTY),
        "kz.registrar": _user("kz.registrar", kz, Role.REGISTRAR),
        "kz.auditor": _user("kz.auditor", kz, Role.AUDITOR),
        "kz.analyst": _user("kz.analyst", kz, Role.OFFICER),  # assigned case A by the head, not the draft D
        "kz-nsc.officer": _user("kz-nsc.officer", kz_other, Role.OFFICER),  # another body of the same Party
        "ru.officer": _user("ru.officer", ru, Role.OFFICER, desk=True),  # receives Russia's incoming requests
        "ru.analyst": _user("ru.analyst", ru, Role.OFFICER),  # of the requested body, assigned nothing
        "ru.head": _user("ru.head", ru, Role.HEAD),
        "ru.auditor": _user("ru.auditor", ru, Role.AUDITOR),
        "am.officer": _user("am.officer", am, Role.OFFICER),
        "am.head": _user("am.head", am, Role.HEAD),
        "am.auditor": _user("am.auditor", am, Role.AUDITOR),
        "by.officer": _user("by.officer", by, Role.OFFICER),  # a Party in none of the cases
        "csto.secretariat": _user("csto.secretariat", csto, Role.SECRETARIAT),
    }

    # Case A: Kazakhstan to Russia, approved with an ordinance, received, and a question with a file attached.
    a_marks = [_marker("A-SUBJECT"), _marker("A-QUESTION"), _marker("A-FILE")]
    case_a = draft(users["kz.officer"], ru, instrument, subject=f"Фишинг {a_marks[0]}")
    assistance.submit_for_approval(actor=users["kz.officer"], case=case_a)
    case_a = assistance.approve_and_send(
        actor=users["kz.head"], case=case_a, uploads=[SimpleUploadedFile(f"{a_marks[2]}.pdf", pdf(a_marks[2]))]
    )
    case_a = assistance.register_receipt(actor=users["ru.officer"], case=case_a)
    assistance.assign(actor=users["kz.head"], case=case_a, user=users["kz.analyst"])
    assistance.request_information(
        actor=users["ru.officer"],
        case=case_a,
        questions=f"Уточните период {a_marks[1]}",
        uploads=[SimpleUploadedFile(f"{a_marks[1]}.txt", f"журнал {a_marks[1]}".encode())],
    )

    # Case B: Armenia to Russia, sent (Kazakhstan has no part in it).
    b_marks = [_marker("B-SUBJECT"), _marker("B-FILE")]
    case_b = draft(users["am.officer"], ru, instrument, subject=f"Вымогательство {b_marks[0]}")
    assistance.submit_for_approval(actor=users["am.officer"], case=case_b)
    case_b = assistance.approve_and_send(
        actor=users["am.head"], case=case_b, uploads=[SimpleUploadedFile(f"{b_marks[1]}.pdf", pdf(b_marks[1]))]
    )

    # Case D: a Kazakh draft to Russia, never sent: Russia must not learn of it.
    d_marks = [_marker("D-SUBJECT"), _marker("D-SUBSTANCE")]
    case_d = draft(
        users["kz.officer"], ru, instrument, subject=f"Черновик {d_marks[0]}", substance=f"Суть {d_marks[1]}"
    )

    personas = {"anonymous": ANONYMOUS}
    sessions = {}
    for key, user in users.items():
        name = _marker(f"token-{key}")
        _row, raw = accounts.issue_api_token(user=user, name=name, scope="act")
        personas[key] = Persona(key, user, raw, name)
        client = Client()
        client.force_login(user)
        sessions[key] = client.cookies[settings.SESSION_COOKIE_NAME].value

    world = World(
        personas=personas,
        cases={
            "A": _facts("A", case_a, a_marks),
            "B": _facts("B", case_b, b_marks),
            "D": _facts("D", case_d, d_marks),
        },
        instrument=instrument,
        sessions=sessions,
    )
    # A designation of the second Kazakh body, announced to every other Party: Russia's acknowledgement is Russia's.
    notice = registry.file_designation(
        actor=users["kz.registrar"],
        instrument=instrument,
        party=kz.party,
        kind="designated",
        body=kz_other,
        effective_on=dt.date(2026, 12, 1),
    )
    russian_ack = notice.acknowledgements.get(party=ru.party)
    kz_note = Notification.objects.filter(recipient__body=kz).order_by("pk").first()
    ru_note = Notification.objects.filter(recipient__body=ru).order_by("pk").first()
    token = users["kz.officer"].api_tokens.get()
    world.values = {
        "username": ["kz.analyst"],
        "code": [instrument.code],
        "party": ["KZ", "AM"],
        "token_id": [str(token.pk)],
        "notification_id": [str(n.pk) for n in (kz_note, ru_note) if n is not None],
        "acknowledgement_id": [str(russian_ack.pk)],
    }
    world.owners = {
        ("token_id", str(token.pk)): {"kz.officer"},
        **{("notification_id", str(n.pk)): {n.recipient.username} for n in (kz_note, ru_note) if n is not None},
        ("acknowledgement_id", str(russian_ack.pk)): {"RU"},
        ("code", "KZ"): {"KZ"},
        ("code", "AM"): {"AM"},
    }

    # The node's own keys, for the federation endpoint (its answers to callers that are not nodes).
    node.init_node(FEDERATION_NODE)
    return world
