"""Factories for users and API tokens."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from cybercoop.accounts.models import User
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
