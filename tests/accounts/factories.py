"""Factories for users, API tokens and notifications."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from cybercoop.accounts.models import Notification, User
from cybercoop.core import clock
from tests.registry.factories import BodyFactory

PASSWORD = "correct horse battery staple 42"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"Иванов Иван {n}")
    position = "Старший оперуполномоченный"
    body = factory.SubFactory(BodyFactory)
    role = "officer"
    language = "ru"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class NotificationFactory(DjangoModelFactory):
    """A notification stored directly (the service `accounts.services.notify` checks the link first)."""

    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    subject = factory.Sequence(lambda n: f"Уведомление {n}")
    body = "Текст уведомления."
    url = ""
    created_at = factory.LazyFunction(clock.now)
