"""Notifications: the services, e-mail through a real SMTP server, the page, the header and the API."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django_tasks import TaskResultStatus

from cybercoop.accounts import rules, selectors, services, tasks
from cybercoop.accounts.models import Notification
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import DomainError
from cybercoop.settings import parse_email_url
from tests.accounts.factories import NotificationFactory, UserFactory

PAGE = "/accounts/notifications/"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1, and the node's e-mail settings pointed at it (as from the environment)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        for name, value in parse_email_url(f"smtp://127.0.0.1:{controller.port}").items():
            setattr(settings, name, value)
        settings.DEFAULT_FROM_EMAIL = "cybercoop@kz.example"
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def kk_officer(kz_body):
    return UserFactory(username="kz.officer.kk", body=kz_body, role="officer", language="kk", email="kk@kz.example")


# --- services ---------------------------------------------------------------------------------------


def test_notify_creates_one_notification_per_active_recipient(kz_officer, kz_head, ru_officer, clock):
    ru_officer.is_active = False
    ru_officer.save()
    created = services.notify(
        recipients=[kz_officer, kz_head, ru_officer, kz_officer],
        subject="Срок истекает завтра",
        body="Запрос ожидает исполнения.",
        url="/registry/",
        email=False,
    )
    assert [n.recipient for n in created] == [kz_officer, kz_head]
    assert not Notification.objects.filter(recipient=ru_officer).exists()
    first = Notification.objects.get(recipient=kz_officer)
    assert (first.subject, first.body, first.url) == (
        "Срок истекает завтра",
        "Запрос ожидает исполнения.",
        "/registry/",
    )
    assert first.created_at == clock.now()
    assert first.read_at is None


def test_one_audit_entry_per_call_with_metadata_only(kz_officer, kz_head):
    services.notify(
        recipients=[kz_officer, kz_head], subject="Секретная тема", body="Секретный текст", url="/registry/"
    )
    entry = AuditEntry.objects.get(action="accounts:notification:sent")
    assert entry.data == {"count": 2, "recipients": ["kz.officer", "kz.head"], "url": "/registry/", "emails": 0}
    assert "Секрет" not in json.dumps(entry.data, ensure_ascii=False)


def test_nobody_to_notify_changes_nothing(kz_officer):
    kz_officer.is_active = False
    kz_officer.save()
    assert services.notify(recipients=[kz_officer], subject="Тема", body="") == []
    assert not Notification.objects.exists()
    assert not AuditEntry.objects.filter(action="accounts:notification:sent").exists()


def test_each_recipient_reads_the_subject_in_their_own_language(kz_officer, kk_officer, ru_officer):
    ru_officer.language = "en"
    ru_officer.save()
    services.notify_translated(
        recipients=[kz_officer, kk_officer, ru_officer],
        subject=_("Signed in"),
        body=_("The token “%(name)s” has been revoked."),
        params={"name": _("Signed out")},
        email=False,
    )
    texts = {n.recipient.username: (n.subject, n.body) for n in Notification.objects.select_related("recipient")}
    assert texts == {
        "kz.officer": ("Выполнен вход", "Токен «Выполнен выход» отозван."),
        "kz.officer.kk": ("Жүйеге кіру орындалды", "«Жүйеден шығу орындалды» токені кері қайтарылды."),
        "ru.officer": ("Signed in", "The token “Signed out” has been revoked."),
    }
    # One audit entry per body of the recipients, each in that body's name (an auditor sees only their Party's).
    entries = {
        e.body_label: e.data["recipients"] for e in AuditEntry.objects.filter(action="accounts:notification:sent")
    }
    assert entries == {
        kz_officer.body.code: ["kz.officer", "kz.officer.kk"],
        ru_officer.body.code: ["ru.officer"],
    }


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "registry/"])
def test_a_link_elsewhere_than_this_site_is_refused(kz_officer, url):
    with pytest.raises(ValueError, match="path on this site"):
        services.notify(recipients=[kz_officer], subject="Тема", body="", url=url)
    assert not Notification.objects.exists()


def test_a_link_longer_than_its_column_is_refused(kz_officer):
    with pytest.raises(ValueError, match="at most 500"):
        services.notify(recipients=[kz_officer], subject="Тема", body="", url="/" + "a" * 500)


def test_the_subject_is_one_line_and_fits_its_column(kz_officer):
    (notification,) = services.notify(recipients=[kz_officer], subject="Первая\nвторая  " + "я" * 300, body="")
    assert "\n" not in notification.subject
    assert notification.subject.startswith("Первая вторая я")
    assert len(notification.subject) == rules.NOTIFICATION_SUBJECT_MAX
    assert notification.subject.endswith("…")


def test_e_mail_is_queued_only_when_the_transaction_commits(kz_officer, kk_officer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(recipients=[kz_officer, kk_officer], subject="Тема", body="Текст")
    # kz.officer has no e-mail address; kk.officer has one.
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(recipients=[kk_officer], subject="Тема", body="Текст", email=False)
    assert callbacks == []


def test_e_mail_reaches_a_real_smtp_server(kk_officer, kz_officer, smtp_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_translated(
            recipients=[kk_officer, kz_officer],
            subject=_("Signed in"),
            body=_("The token “%(name)s” has been revoked."),
            params={"name": "nightly"},
            url="/registry/",
        )
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert envelope.rcpt_tos == ["kk@kz.example"]
    assert envelope.mail_from == "cybercoop@kz.example"
    (message,) = smtp_server.messages()
    assert message["To"] == "kk@kz.example"
    assert message["Subject"] == "Жүйеге кіру орындалды"
    assert message.get_content().strip() == "«nightly» токені кері қайтарылды."
    assert AuditEntry.objects.get(action="accounts:notification:sent").data["emails"] == 1


def test_a_failed_e_mail_is_recorded_by_the_task_backend(settings, caplog):
    for name, value in parse_email_url(f"smtp://127.0.0.1:{_free_port()}").items():
        setattr(settings, name, value)
    settings.EMAIL_TIMEOUT = 5
    with caplog.at_level("ERROR", logger="django_tasks"):
        result = tasks.send_email.enqueue("kk@kz.example", "Тема", "Текст")
    assert result.status == TaskResultStatus.FAILED
    assert "ConnectionRefusedError" in result.errors[0].traceback
    assert "Traceback" in caplog.text


def test_mark_read_and_mark_all_read(kz_officer, kz_head, clock):
    mine = [NotificationFactory(recipient=kz_officer) for _i in range(3)]
    theirs = NotificationFactory(recipient=kz_head)
    clock.advance(dt.timedelta(minutes=5))
    services.mark_read(user=kz_officer, notification=mine[0])
    mine[0].refresh_from_db()
    assert mine[0].read_at == clock.now()
    assert selectors.unread_count(user=kz_officer) == 2
    assert list(selectors.notifications_of(user=kz_officer, unread_only=True)) == [mine[2], mine[1]]
    with pytest.raises(DomainError):
        services.mark_read(user=kz_officer, notification=theirs)
    assert services.mark_all_read(user=kz_officer) == 2
    assert selectors.unread_count(user=kz_officer) == 0
    assert selectors.unread_count(user=kz_head) == 1
    # Reading is not audited.
    assert not AuditEntry.objects.exists()


# --- e-mail settings ----------------------------------------------------------------------------------


def test_no_e_mail_url_means_the_console():
    assert parse_email_url("") == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "ssl"),
    [
        ("smtp://mail.example", "mail.example", 25, False, False),
        ("smtp://mail.example:2525", "mail.example", 2525, False, False),
        ("smtp+tls://mail.example", "mail.example", 587, True, False),
        ("smtps://mail.example", "mail.example", 465, False, True),
        ("SMTPS://mail.example:10465/", "mail.example", 10465, False, True),
    ],
)
def test_e_mail_urls_give_host_port_and_tls(url, host, port, tls, ssl):
    parsed = parse_email_url(url)
    assert parsed["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (parsed["EMAIL_HOST"], parsed["EMAIL_PORT"]) == (host, port)
    assert (parsed["EMAIL_USE_TLS"], parsed["EMAIL_USE_SSL"]) == (tls, ssl)


def test_e_mail_credentials_are_percent_decoded():
    parsed = parse_email_url("smtp+tls://node%40kz.example:p%40ss%2Fword@mail.example:587")
    assert (parsed["EMAIL_HOST_USER"], parsed["EMAIL_HOST_PASSWORD"]) == ("node@kz.example", "p@ss/word")


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        "mail.example:25",
        "smtp://",
        "smtp://mail.example:port",
        "smtp://mail.example:99999",
        "smtp://mail.example/inbox",
        "smtp://mail.example?tls=1",
    ],
)
def test_a_wrong_e_mail_url_is_refused_without_repeating_it(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_email_url(url.replace("mail.example", "user:secret@mail.example"))
    assert "secret" not in str(refused.value)


# --- the page and the header -----------------------------------------------------------------------


def test_the_header_shows_the_unread_count(client, kz_officer):
    client.force_login(kz_officer)
    html = client.get("/").content.decode()
    assert 'data-testid="notifications-link"' in html
    assert 'data-testid="unread-count"' not in html
    NotificationFactory(recipient=kz_officer)
    NotificationFactory(recipient=kz_officer)
    NotificationFactory(recipient=kz_officer, read_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    html = client.get("/").content.decode()
    assert 'data-testid="unread-count" aria-hidden="true">2</span>' in html


def test_the_page_lists_newest_first_with_unread_highlighted(client, kz_officer, kz_head, clock):
    old = NotificationFactory(recipient=kz_officer, subject="Старое", read_at=clock.now())
    clock.advance(dt.timedelta(hours=1))
    new = NotificationFactory(recipient=kz_officer, subject="Новое")
    NotificationFactory(recipient=kz_head, subject="Чужое")
    client.force_login(kz_officer)
    r = client.get(PAGE)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.index("Новое") < html.index("Старое")
    assert "Чужое" not in html
    assert html.count("notification-unread") == 1
    assert f'action="/accounts/notifications/{new.pk}/read/"' in html
    assert f'action="/accounts/notifications/{old.pk}/read/"' in html
    assert "/accounts/notifications/read-all/" in html


def test_the_page_requires_sign_in(client, db):
    r = client.get(PAGE)
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/sign-in/")


def test_reading_a_notification_marks_it_and_follows_its_link(client, kz_officer):
    notification = NotificationFactory(recipient=kz_officer, url="/registry/?tab=bodies")
    client.force_login(kz_officer)
    assert client.get(f"{PAGE}{notification.pk}/read/").status_code == 405
    r = client.post(f"{PAGE}{notification.pk}/read/")
    assert r.status_code == 302
    assert r["Location"] == "/registry/?tab=bodies"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_notification_without_a_link_returns_to_the_page(client, kz_officer):
    notification = NotificationFactory(recipient=kz_officer)
    client.force_login(kz_officer)
    r = client.post(f"{PAGE}{notification.pk}/read/")
    assert r["Location"] == PAGE


@pytest.mark.parametrize(
    "url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "/\tevil"]
)
def test_an_absolute_link_is_never_followed(client, kz_officer, url):
    notification = NotificationFactory(recipient=kz_officer, url=url)
    client.force_login(kz_officer)
    r = client.post(f"{PAGE}{notification.pk}/read/")
    assert r.status_code == 302
    assert r["Location"] == PAGE


def test_another_users_notification_is_not_found(client, kz_officer, kz_head):
    theirs = NotificationFactory(recipient=kz_head)
    client.force_login(kz_officer)
    assert client.post(f"{PAGE}{theirs.pk}/read/").status_code == 404
    assert client.post(f"{PAGE}{2**70}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_as_read(client, kz_officer, kz_head):
    NotificationFactory(recipient=kz_officer)
    NotificationFactory(recipient=kz_officer)
    theirs = NotificationFactory(recipient=kz_head)
    client.force_login(kz_officer)
    r = client.post(f"{PAGE}read-all/", follow=True)
    assert r.redirect_chain == [(PAGE, 302)]
    assert selectors.unread_count(user=kz_officer) == 0
    assert 'data-testid="read-all"' not in r.content.decode()
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- API ---------------------------------------------------------------------------------------------


@pytest.fixture
def kz_token(kz_officer):
    _token, raw = services.issue_api_token(user=kz_officer, name="tests", scope="act")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_the_api_lists_my_notifications(client, kz_officer, kz_head, kz_token, clock):
    read = NotificationFactory(recipient=kz_officer, read_at=clock.now())
    clock.advance(dt.timedelta(minutes=1))
    unread = NotificationFactory(recipient=kz_officer, url="/registry/")
    NotificationFactory(recipient=kz_head)
    r = client.get("/api/v1/me/notifications", **kz_token)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert [n["id"] for n in body["items"]] == [unread.pk, read.pk]
    assert body["items"][0]["url"] == "/registry/"
    assert body["items"][0]["read_at"] is None
    r = client.get("/api/v1/me/notifications?unread_only=true", **kz_token)
    assert [n["id"] for n in r.json()["items"]] == [unread.pk]


def test_the_api_marks_one_or_all_read(client, kz_officer, kz_head, kz_token):
    first, _second, _third = (NotificationFactory(recipient=kz_officer) for _i in range(3))
    theirs = NotificationFactory(recipient=kz_head)
    r = client.post(f"/api/v1/me/notifications/{first.pk}/read", **kz_token)
    assert r.status_code == 200
    assert r.json()["read_at"] is not None
    assert client.post(f"/api/v1/me/notifications/{theirs.pk}/read", **kz_token).status_code == 404
    r = client.post("/api/v1/me/notifications/read-all", **kz_token)
    assert r.json() == {"marked": 2}
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("notification_id", ["0", str(2**63), "x"])
def test_the_api_refuses_an_impossible_id(client, kz_token, notification_id):
    r = client.post(f"/api/v1/me/notifications/{notification_id}/read", **kz_token)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "notification_id"


def test_the_api_needs_a_token(client, db):
    assert client.get("/api/v1/me/notifications").status_code == 401
