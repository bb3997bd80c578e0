"""The request screens through real requests: the lists, drafting, the case page with only the actions allowed
now, one endpoint per action, downloads and the home page's deadlines. Assertions rest on data-testid
attributes, URLs, status codes and stored data, not on translated text."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.assistance import rules, services, views
from cybercoop.assistance.models import Case, Clock
from cybercoop.audit.models import AuditEntry
from cybercoop.core import paging
from cybercoop.exchange.models import Attachment, Message
from tests.assistance.factories import REQUEST_FIELDS, designate, draft, sent
from tests.registry.factories import BodyFactory

UTC = dt.UTC
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def page(case, action=""):
    return f"/cases/{case.pk}/" + (f"{action}/" if action else "")


def actions_on(html):
    """The actions the case page offers, by their data-testid."""
    return set(re.findall(r'data-testid="action-([a-z-]+)"', html))


def section(html, testid):
    """The markup from the element with this data-testid to the end of its section."""
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.find("</section>", start)]


def counts():
    return (
        Message.objects.count(),
        Clock.objects.count(),
        AuditEntry.objects.exclude(action="assistance:case:viewed").count(),
    )


@pytest.fixture
def received(protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    """A request sent by the Kazakh body and registered by the Russian one."""
    return services.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))


# --- the lists ----------------------------------------------------------------------------------------------


def test_the_lists_need_sign_in_and_the_right_to_see_cases(client, kz_auditor, kz_officer):
    assert client.get("/cases/incoming/").status_code == 302
    client.force_login(kz_auditor)
    for url in ("/cases/incoming/", "/cases/outgoing/", "/cases/new/"):
        assert client.get(url).status_code == 403, url
    client.force_login(kz_officer)
    html = client.get("/").content.decode()
    assert all(f'href="{url}"' in html for url in ("/cases/incoming/", "/cases/outgoing/", "/cases/new/"))


def _listed(client, url, **query):
    r = client.get(url, query)
    assert r.status_code == 200
    return re.findall(r'data-testid="case-row" data-case="([0-9a-f-]+)"', r.content.decode())


def test_the_inbox_and_outbox_filter_and_search(client, protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    plain = sent(kz_officer, kz_head, ru_body, protocol)
    urgent = services.send_urgent(
        actor=kz_officer,
        case=draft(kz_officer, ru_body, protocol, urgent=True, subject="Вымогательство", identifiers="wallet bc1qxy"),
    )
    mine = draft(kz_officer, ru_body, protocol, subject="Черновик")
    client.force_login(ru_officer)
    assert set(_listed(client, "/cases/incoming/")) == {str(plain.pk), str(urgent.pk)}  # a draft stays home
    assert _listed(client, "/cases/incoming/", urgent="yes") == [str(urgent.pk)]
    assert _listed(client, "/cases/incoming/", urgent="no") == [str(plain.pk)]
    assert _listed(client, "/cases/incoming/", text="bc1qxy") == [str(urgent.pk)]
    assert _listed(client, "/cases/incoming/", text=plain.outgoing_number) == [str(plain.pk)]
    assert _listed(client, "/cases/incoming/", text=plain.outgoing_number.lower()) == [str(plain.pk)]  # a whole number
    assert _listed(client, "/cases/incoming/", text=plain.outgoing_number[-8:]) == [str(plain.pk)]  # a fragment
    assert len(_listed(client, "/cases/incoming/", party="KZ")) == 2
    assert _listed(client, "/cases/incoming/", party="AM") == []
    assert _listed(client, "/cases/incoming/", state="in_execution") == []
    assert len(_listed(client, "/cases/incoming/", state="sent")) == 2
    assert _listed(client, "/cases/outgoing/") == []
    client.force_login(kz_officer)
    assert set(_listed(client, "/cases/outgoing/")) == {str(plain.pk), str(urgent.pk), str(mine.pk)}
    assert _listed(client, "/cases/outgoing/", state="draft") == [str(mine.pk)]
    assert _listed(client, "/cases/incoming/") == []


@pytest.mark.rule("P6.4")
def test_the_lists_count_and_filter_overdue_cases(client, protocol, kz_officer, kz_head, ru_officer, ru_body, clock):
    urgent = services.send_urgent(actor=kz_officer, case=draft(kz_officer, ru_body, protocol, urgent=True))
    client.force_login(kz_officer)
    html = client.get("/cases/outgoing/").content.decode()
    assert 'data-testid="due-soon-count" data-count="1"' in html  # 72 hours: within three days
    assert 'data-testid="overdue-count" data-count="0"' in html
    clock.advance(dt.timedelta(hours=73))
    html = client.get("/cases/outgoing/").content.decode()
    assert 'data-testid="overdue-count" data-count="1"' in html
    assert 'data-testid="overdue"' in html
    assert _listed(client, "/cases/outgoing/", overdue="on") == [str(urgent.pk)]
    # The requested side sees the request flagged too.
    client.force_login(ru_officer)
    assert _listed(client, "/cases/incoming/", overdue="on") == [str(urgent.pk)]
    # The written confirmation closes the clock (P6.4): nothing is owed, nothing is counted or listed overdue.
    services.confirm_urgent(actor=kz_head, case=urgent)
    assert Case.objects.get(pk=urgent.pk).next_due_at is None
    assert _listed(client, "/cases/incoming/", overdue="on") == []
    assert 'data-testid="overdue-count" data-count="0"' in client.get("/cases/incoming/").content.decode()


def test_a_long_list_counts_up_to_the_cap_and_says_there_are_more(
    client, protocol, kz_officer, kz_head, ru_body, monkeypatch
):
    monkeypatch.setattr(paging, "LIST_CAP", 2)
    for _ in range(3):
        draft(kz_officer, ru_body, protocol)
    client.force_login(kz_officer)
    html = client.get("/cases/outgoing/").content.decode()
    assert 'data-testid="list-count" data-count="2" data-capped="true"' in html
    assert len(_listed(client, "/cases/outgoing/")) == 2  # (a page of 50 shows what is counted)
    monkeypatch.setattr(paging, "LIST_CAP", 3)
    html = client.get("/cases/outgoing/").content.decode()
    assert 'data-testid="list-count" data-count="3">' in html
    assert len(_listed(client, "/cases/outgoing/")) == 3


def test_a_search_pages_without_counting(client, protocol, kz_officer, ru_body, monkeypatch):
    """A search reads one row more than a page to know whether another follows; it never counts all matches."""
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    made = [draft(kz_officer, ru_body, protocol, subject=f"Фишинг {n}") for n in range(5)]
    draft(kz_officer, ru_body, protocol, subject="Вымогательство")
    client.force_login(kz_officer)
    seen = []
    for number in (1, 2, 3):
        html = client.get("/cases/outgoing/", {"text": "Фишинг", "page": number}).content.decode()
        assert 'data-testid="list-count" data-count=""' in html  # no total
        assert (f"page={number + 1}" in html) == (number < 3)  # "Older" while more follow
        seen += _listed(client, "/cases/outgoing/", text="Фишинг", page=number)
    assert sorted(seen) == sorted(str(c.pk) for c in made)
    assert _listed(client, "/cases/outgoing/", text="Фишинг", page="x") == _listed(
        client, "/cases/outgoing/", text="Фишинг"
    )  # a page that is not a number is the first


# --- drafting ----------------------------------------------------------------------------------------------


def _draft_data(ru_body, protocol, **overrides):
    data = {
        "requested_body": ru_body.pk,
        "instrument": protocol.pk,
        **REQUEST_FIELDS,
        "execution_term_days": "",
        "purposes": "Уголовное дело № 261500031000217\nРозыск похищенных средств",
    }
    data.update(overrides)
    return data


@pytest.mark.rule("P6.2")
def test_a_draft_is_created_through_the_form(client, protocol, kz_officer, ru_body, clock):
    client.force_login(kz_officer)
    r = client.get("/cases/new/")
    assert r.status_code == 200
    assert f'value="{protocol.pk}" selected' in r.content.decode()  # the Protocol by default
    r = client.post("/cases/new/", _draft_data(ru_body, protocol, urgent="on"))
    case = Case.objects.get()
    assert r.status_code == 302
    assert r["Location"] == page(case)
    assert (case.state, case.requested_body, case.drafted_by, case.urgent) == ("draft", ru_body, kz_officer, True)
    assert case.assistance_kinds == ["operational_search", "procedural_actions"]
    assert case.purposes == ["Уголовное дело № 261500031000217", "Розыск похищенных средств"]
    assert case.execution_term_days is None


@pytest.mark.rule("P6.2")
def test_a_draft_with_missing_fields_is_refused_field_by_field_in_russian_and_nothing_is_stored(
    client, protocol, kz_officer, ru_body, clock
):
    client.force_login(kz_officer)
    r = client.post(
        "/cases/new/", _draft_data(ru_body, protocol, subject="", purpose="", scope="", assistance_kinds=[])
    )
    assert r.status_code == 422
    html = r.content.decode()
    assert html.count("Обязательное поле.") >= 4  # Django's own Russian message, field by field
    for field in ("subject", "purpose"):
        assert f'id="id_{field}-error"' in html, field
    assert html.count('class="field field-error"') == 4  # subject, scope, purpose, assistance_kinds
    assert not Case.objects.exists()


@pytest.mark.rule("P4.2")
def test_a_draft_to_a_body_that_is_not_designated_is_refused_on_its_field(client, protocol, kz_officer, ru_body):
    undesignated = BodyFactory(party=ru_body.party, code="RU-XYZ")
    client.force_login(kz_officer)
    r = client.post("/cases/new/", _draft_data(undesignated, protocol))
    assert r.status_code == 422
    assert 'id="id_requested_body-error"' in r.content.decode()
    assert not Case.objects.exists()


def test_a_draft_is_edited_only_while_it_is_a_draft(client, protocol, kz_officer, kz_head, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    client.force_login(kz_officer)
    assert client.get(page(case, "edit")).status_code == 200
    r = client.post(page(case, "edit"), _draft_data(ru_body, protocol, subject="Новая тема", execution_term_days="20"))
    assert r.status_code == 302
    case.refresh_from_db()
    assert (case.subject, case.execution_term_days) == ("Новая тема", 20)
    services.submit_for_approval(actor=kz_officer, case=case)
    r = client.get(page(case, "edit"))
    assert (r.status_code, r["Location"]) == (302, page(case))


# --- the case page: only what is allowed now -----------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_draft_offers_its_body_the_draft_steps_by_role(client, protocol, kz_officer, kz_head, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    client.force_login(kz_officer)
    assert actions_on(client.get(page(case)).content.decode()) == {"edit", "submit", "discard"}
    client.force_login(kz_head)
    assert actions_on(client.get(page(case)).content.decode()) == {"edit", "submit", "approve", "discard"}
    services.submit_for_approval(actor=kz_officer, case=case)
    assert actions_on(client.get(page(case)).content.decode()) == {"return", "approve", "discard"}
    client.force_login(kz_officer)
    assert actions_on(client.get(page(case)).content.decode()) == {"discard"}


@pytest.mark.rule("P7.2", "P7.8")
def test_the_case_page_shows_each_user_only_the_actions_allowed_now(
    client, protocol, kz_officer, kz_head, ru_officer, ru_head, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    client.force_login(kz_officer)
    assert actions_on(client.get(page(case)).content.decode()) == {"participation-request", "marking"}  # no "receipt"
    client.force_login(ru_officer)
    assert actions_on(client.get(page(case)).content.decode()) == {"receipt"}
    case = services.register_receipt(actor=ru_officer, case=case)
    officer = {"delay", "info-request", "postpone", "conditions", "results"}  # forwarding needs a second body
    assert actions_on(client.get(page(case)).content.decode()) == officer
    client.force_login(ru_head)
    assert actions_on(client.get(page(case)).content.decode()) == officer | {"refuse"}  # P9.2: signatories refuse
    services.send_results(actor=ru_officer, case=case, summary="Результаты прилагаются.")
    for user in (ru_officer, ru_head):
        client.force_login(user)
        html = client.get(page(case)).content.decode()
        assert actions_on(html) == set(), user
        assert 'data-testid="no-actions"' in html
    for user in (kz_officer, kz_head):  # the information it received stays marked: the requesting body may change it
        client.force_login(user)
        assert actions_on(client.get(page(case)).content.decode()) == {"marking"}, user


def test_an_outsider_finds_neither_the_case_nor_its_attachments(
    client, protocol, kz_officer, kz_head, ru_body, outsider, clock
):
    case = services.approve_and_send(
        actor=kz_head,
        case=draft(kz_officer, ru_body, protocol),
        uploads=[SimpleUploadedFile("ordinance.pdf", PDF)],
    )
    attachment = Attachment.objects.get()
    client.force_login(outsider)
    assert client.get(page(case)).status_code == 404
    assert client.get(page(case, f"attachments/{attachment.pk}")).status_code == 404
    assert client.post(page(case, "receipt"), {}).status_code == 404
    assert not AuditEntry.objects.filter(action="assistance:case:viewed").exists()


@pytest.mark.rule("P10.1")
def test_reading_a_case_is_recorded_without_its_content(client, protocol, kz_officer, ru_body, clock):
    case = draft(kz_officer, ru_body, protocol)
    client.force_login(kz_officer)
    assert client.get(page(case)).status_code == 200
    entry = AuditEntry.objects.get(action="assistance:case:viewed")
    assert (entry.actor, entry.object_id, entry.data) == (kz_officer, str(case.pk), {})


@pytest.mark.rule("P6.2")
def test_preflight_warns_of_a_request_without_identifiers(client, protocol, kz_officer, ru_body, clock):
    complete = draft(kz_officer, ru_body, protocol)
    bare = draft(kz_officer, ru_body, protocol, identifiers="")
    client.force_login(kz_officer)
    warnings = section(client.get(page(bare)).content.decode(), "preflight")
    assert 'data-warning="identifiers"' in warnings
    assert 'data-warning="signature"' in warnings  # the requested Party's profile (default: signature required)
    assert 'data-warning="identifiers"' not in section(client.get(page(complete)).content.decode(), "preflight")


# --- the clocks ------------------------------------------------------------------------------------------------


@pytest.mark.rule("P7.2")
def test_a_clock_is_shown_in_both_zones_and_explained_with_its_rule(
    client, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    clock.set(dt.datetime(2026, 11, 24, 7, 0, tzinfo=UTC))  # 10:00 in Moscow
    client.force_login(ru_officer)
    r = client.post(page(case, "receipt"), {"received_at": ""})
    assert (r.status_code, r["Location"]) == (302, page(case))
    client.force_login(kz_officer)  # the viewer is in Almaty, the acting body in Moscow
    html = client.get(page(case)).content.decode()
    row = html.split('data-testid="clock" data-kind="execution"')[1].split("</tr>")[0]
    assert 'data-rule="P7.2"' in row
    assert 'data-status="running"' in row
    assert 'data-due="2026-12-25T02:00:00+05:00"' in row  # 21:00 UTC on 24 December, in Almaty
    assert "24.12.2026 24:00" in row  # the acting body's own reading of the same instant
    assert "25.12.2026 02:00" in row  # the viewer's
    explanation = row.split('data-testid="clock-explanation">')[1].split("</span>")[0]
    assert "24:00" in explanation
    assert "24" in explanation.replace("24:00", "")
    assert "30" in explanation
    assert explanation.rstrip().endswith("(P7.2)")
    kz_officer.language = "en"  # the msgids are English: the sentence as the issue words it
    kz_officer.save()
    html = client.get(page(case)).content.decode()
    row = html.split('data-testid="clock" data-kind="execution"')[1].split("</tr>")[0]
    assert "by 24:00 on 24 December, Moscow time: 30 days from receipt on 24 November (P7.2)" in row


# --- each action through its endpoint -----------------------------------------------------------------------


@pytest.mark.rule("P6.1", "P6.5")
def test_a_request_is_submitted_returned_approved_and_sent_through_the_endpoints(
    client, protocol, kz_officer, kz_head, ru_body, clock
):
    case = draft(kz_officer, ru_body, protocol)
    client.force_login(kz_officer)
    assert client.post(page(case, "submit")).status_code == 302
    case.refresh_from_db()
    assert case.state == "awaiting_approval"
    assert client.post(page(case, "approve")).status_code == 403  # P6.5: only the head or a deputy
    client.force_login(kz_head)
    r = client.post(page(case, "return"), {"comment": ""})
    assert r.status_code == 422
    assert 'data-testid="action-return" open' in r.content.decode()
    assert client.post(page(case, "return"), {"comment": "Уточните период"}).status_code == 302
    client.force_login(kz_officer)
    assert 'data-testid="return-comment"' in client.get(page(case)).content.decode()
    client.post(page(case, "submit"))
    client.force_login(kz_head)
    r = client.post(page(case, "approve"), {"attachments": [SimpleUploadedFile("ordinance.pdf", PDF)]})
    assert r.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.approved_by) == ("sent", kz_head)
    assert Message.objects.get().attachments.get().name == "ordinance.pdf"


@pytest.mark.rule("P6.4")
def test_an_urgent_request_is_sent_at_once_and_confirmed_by_the_head(
    client, protocol, kz_officer, kz_head, ru_body, clock
):
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    client.force_login(kz_officer)
    assert "send-urgent" in actions_on(client.get(page(case)).content.decode())
    assert client.post(page(case, "send-urgent")).status_code == 302
    assert "confirm-urgent" not in actions_on(client.get(page(case)).content.decode())
    client.force_login(kz_head)
    assert "confirm-urgent" in actions_on(client.get(page(case)).content.decode())
    assert client.post(page(case, "confirm-urgent")).status_code == 302
    assert Clock.objects.get(case=case, kind="urgent_confirmation").status == "met"


@pytest.mark.rule("P7.2")
def test_receipt_through_its_endpoint_starts_execution(client, received, ru_officer):
    assert received.state == rules.CaseState.IN_EXECUTION  # registered by the fixture through the service
    case = received
    client.force_login(ru_officer)
    html = client.get(page(case)).content.decode()
    assert 'data-testid="incoming-number"' in html
    assert 'data-kind="assistance.receipt"' in section(html, "timeline")


@pytest.mark.rule("P7.2")
def test_a_receipt_dated_in_the_future_is_refused_on_its_field(
    client, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    client.force_login(ru_officer)
    before = counts()
    r = client.post(page(case, "receipt"), {"received_at": "2027-01-01T10:00"})
    assert r.status_code == 422
    assert 'id="receipt-received_at-error"' in r.content.decode()
    assert counts() == before
    case.refresh_from_db()
    assert case.state == "sent"


@pytest.mark.rule("P7.5")
def test_additional_information_is_asked_and_given_through_the_endpoints(client, received, kz_officer, ru_officer):
    case = received
    client.force_login(ru_officer)
    r = client.post(page(case, "info-request"), {"questions": "Уточните номера карт потерпевших."})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == "awaiting_information"
    client.force_login(kz_officer)
    assert "info-reply" in actions_on(client.get(page(case)).content.decode())
    r = client.post(
        page(case, "info-reply"),
        {"answer": "Список карт прилагается.", "attachments": [SimpleUploadedFile("cards.txt", b"4400 0000")]},
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == "in_execution"
    html = client.get(page(case)).content.decode()
    timeline = section(html, "timeline")
    assert re.findall(r'data-testid="message" data-kind="([a-z._]+)"', timeline) == [
        "assistance.request",
        "assistance.receipt",
        "assistance.info_request",
        "assistance.info_reply",
    ]
    assert "Уточните номера карт потерпевших." in timeline
    assert "cards.txt" in timeline


@pytest.mark.rule("P7.6")
def test_execution_is_postponed_through_its_endpoint(client, received, ru_officer):
    client.force_login(ru_officer)
    before = counts()
    r = client.post(page(received, "postpone"), {"until": "2026-11-01", "reason": "Идёт расследование"})
    assert r.status_code == 422  # the new date must be after today
    assert 'id="postpone-until-error"' in r.content.decode()
    assert counts() == before
    r = client.post(page(received, "postpone"), {"until": "2027-02-01", "reason": "Идёт расследование"})
    assert r.status_code == 302
    received.refresh_from_db()
    assert received.postponed_until == dt.date(2027, 2, 1)
    assert Clock.objects.get(case=received, kind="postponement").status == "running"


@pytest.mark.rule("P7.6", "P7.7")
def test_conditions_proposed_and_accepted_are_shown_prominently(client, received, kz_officer, ru_officer):
    client.force_login(ru_officer)
    r = client.post(
        page(received, "conditions"),
        {
            "conditions": "Использовать только по делу № 261500031000217\n\nНе передавать третьим лицам",
            "reason": "ст. 12",
        },
    )
    assert r.status_code == 302
    client.force_login(kz_officer)
    html = client.get(page(received)).content.decode()
    assert 'data-testid="proposed-conditions"' in html
    assert actions_on(html) == {"conditions-reply", "participation-request", "marking"}
    assert client.post(page(received, "conditions-reply"), {"accepted": "yes", "comment": ""}).status_code == 302
    received.refresh_from_db()
    assert received.state == "in_execution"
    assert received.conditions_accepted == [
        "Использовать только по делу № 261500031000217",
        "Не передавать третьим лицам",
    ]
    assert "Не передавать третьим лицам" in section(client.get(page(received)).content.decode(), "accepted-conditions")


@pytest.mark.rule("P8")
def test_participation_is_asked_and_decided_through_the_endpoints(client, received, kz_officer, ru_officer):
    client.force_login(kz_officer)
    r = client.post(
        page(received, "participation-request"),
        {
            "representatives": "Ахметов Ерлан Серикович — ст. оперуполномоченный",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-05",
        },
    )
    assert r.status_code == 302
    client.force_login(ru_officer)
    assert "participation" in actions_on(client.get(page(received)).content.decode())
    r = client.post(
        page(received, "participation"),
        {
            "agreed": "yes",
            "representatives": "Ахметов Ерлан Серикович",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-03",
        },
    )
    assert r.status_code == 302
    message = Message.objects.get(kind="assistance.participation")
    assert message.body["representatives"] == [{"name": "Ахметов Ерлан Серикович", "position": ""}]
    request = Message.objects.get(kind="assistance.participation_request")
    assert request.body["representatives"] == [
        {"name": "Ахметов Ерлан Серикович", "position": "ст. оперуполномоченный"}
    ]


@pytest.mark.rule("P7.4")
def test_a_request_is_forwarded_to_another_body_of_the_same_state(
    client, received, protocol, kz_officer, ru_officer, ru_body
):
    fsb = BodyFactory(party=ru_body.party, code="RU-FSB", time_zone="Europe/Moscow")
    designate(protocol, fsb)
    client.force_login(ru_officer)
    html = client.get(page(received)).content.decode()
    assert f'value="{fsb.pk}"' in section(html, "action-forward")
    r = client.post(page(received, "forward"), {"to_body": fsb.pk, "reason": "Относится к компетенции ФСБ России"})
    assert (r.status_code, r["Location"]) == (302, "/cases/incoming/")  # the case has left this body
    received.refresh_from_db()
    assert received.handling_body == fsb
    assert client.get(page(received)).status_code == 404
    client.force_login(kz_officer)  # the requesting body follows the case to its new body
    assert 'data-testid="handling-body"' in client.get(page(received)).content.decode()


@pytest.mark.rule("P9.1", "P9.2")
def test_a_partial_refusal_is_made_by_the_head_with_reasons(client, received, ru_officer, ru_head):
    client.force_login(ru_officer)
    data = {"partial": "yes", "reasons": "Тайна связи", "refused_part": ""}
    assert client.post(page(received, "refuse"), data).status_code == 403
    client.force_login(ru_head)
    before = counts()
    r = client.post(page(received, "refuse"), data)
    assert r.status_code == 422
    assert 'id="refuse-refused_part-error"' in r.content.decode()
    assert counts() == before
    r = client.post(page(received, "refuse"), {**data, "refused_part": "Содержание переписки"})
    assert r.status_code == 302
    received.refresh_from_db()
    assert (received.state, received.partially_refused) == ("in_execution", True)
    assert 'data-testid="partly-refused"' in client.get(page(received)).content.decode()


@pytest.mark.rule("P7.8", "P12")
def test_results_with_an_attachment_close_the_case_and_the_file_is_downloaded_safely(
    client, received, kz_officer, ru_officer
):
    client.force_login(ru_officer)
    r = client.post(
        page(received, "results"),
        {
            "summary": "Владелец сервера установлен; журналы прилагаются.",
            "attachments": [
                SimpleUploadedFile("журналы <октябрь>.pdf", PDF),
                SimpleUploadedFile("ip.txt", b"203.0.113.17"),
            ],
            "costs_amount": "1500",
            "costs_currency": "rub",
        },
    )
    assert r.status_code == 302
    received.refresh_from_db()
    assert received.state == "executed"
    results = Message.objects.get(kind="assistance.results")
    assert results.body["costs"]["currency"] == "RUB"
    pdf = results.attachments.get(media_type="application/pdf")
    client.force_login(kz_officer)
    html = client.get(page(received)).content.decode()
    assert page(received, f"attachments/{pdf.pk}") in html
    r = client.get(page(received, f"attachments/{pdf.pk}"))
    assert r.status_code == 200
    assert r["Content-Type"] == "application/pdf"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Content-Disposition"].startswith("attachment;")
    assert "<" not in r["Content-Disposition"]
    assert b"".join(r.streaming_content) == PDF


def test_a_mistyped_attachment_comes_back_on_its_field_and_nothing_is_sent(client, received, ru_officer):
    client.force_login(ru_officer)
    before = counts()
    r = client.post(
        page(received, "results"),
        {"summary": "x", "attachments": [SimpleUploadedFile("virus.exe", b"MZ\x90\x00\x03")]},
    )
    assert r.status_code == 422
    assert 'id="results-attachments-error"' in r.content.decode()
    assert counts() == before


@pytest.mark.rule("P7.8")
def test_an_action_in_the_wrong_state_answers_409_with_its_rule_and_changes_nothing(
    client, protocol, kz_officer, kz_head, ru_officer, ru_body, clock
):
    case = sent(kz_officer, kz_head, ru_body, protocol)
    client.force_login(ru_officer)
    before = counts()
    r = client.post(page(case, "results"), {"summary": "Результаты"})
    assert r.status_code == 409
    html = r.content.decode()
    assert 'data-testid="rule-violation" data-rule="P7.8"' in html
    assert actions_on(html) == {"receipt"}  # the page still offers what is allowed
    assert counts() == before
    case.refresh_from_db()
    assert case.state == "sent"


def test_an_unknown_action_is_not_found(client, received, ru_officer):
    client.force_login(ru_officer)
    assert client.post(page(received, "approve-everything")).status_code == 404
    assert client.get(page(received, "receipt")).status_code == 405


# --- the home page ------------------------------------------------------------------------------------------


@pytest.mark.rule("P7.2")
def test_the_home_page_shows_the_bodys_overdue_clocks(client, received, kz_officer, ru_officer, clock):
    client.force_login(ru_officer)
    panel = section(client.get("/").content.decode(), "deadlines-panel")
    assert 'data-testid="home-overdue" data-count="0"' in panel
    clock.advance(dt.timedelta(days=31))
    panel = section(client.get("/").content.decode(), "deadlines-panel")
    assert 'data-testid="home-overdue" data-count="1"' in panel
    assert f'data-testid="overdue-clock" data-case="{received.pk}" data-kind="execution"' in panel
    assert f'href="{page(received)}"' in panel
    # The requesting body does not answer for the execution term.
    client.force_login(kz_officer)
    assert 'data-testid="home-overdue" data-count="0"' in client.get("/").content.decode()


@pytest.mark.rule("P6.4")
def test_the_home_page_lists_an_urgent_confirmation_due_soon(client, protocol, kz_officer, kz_head, ru_body, clock):
    case = services.send_urgent(actor=kz_officer, case=draft(kz_officer, ru_body, protocol, urgent=True))
    client.force_login(kz_head)
    panel = section(client.get("/").content.decode(), "deadlines-panel")
    assert f'data-testid="due-soon-clock" data-case="{case.pk}" data-kind="urgent_confirmation"' in panel
    assert "(P6.4)" in panel


def test_the_home_page_has_no_deadlines_for_users_without_cases(client, kz_auditor):
    client.force_login(kz_auditor)
    r = client.get("/")
    assert r.status_code == 200
    assert 'data-testid="deadlines-panel"' not in r.content.decode()
