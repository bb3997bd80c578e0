"""Background work of accounts: e-mail copies of notifications, sent by `cybercoop worker`."""

from __future__ import annotations

from django.core.mail import send_mail
from django_tasks import task


@task()
def send_email(recipient_address: str, subject: str, body: str) -> int:
    """Send one e-mail through the configured server (CYBERCOOP_EMAIL_URL).

    A failure raises: django-tasks records the failed result with its traceback, for the
    administrator to see; the in-app notification exists either way.
    """
    return send_mail(subject, body, None, [recipient_address], fail_silently=False)
