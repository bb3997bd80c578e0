"""Factories for the registry's Parties and bodies."""

from __future__ import annotations

import datetime

import factory
from factory.django import DjangoModelFactory

from cybercoop.registry.models import Body, Instrument, InstrumentEvent, Party


class PartyFactory(DjangoModelFactory):
    class Meta:
        model = Party
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"P{n:02d}")
    kind = "state"
    time_zone = "Asia/Almaty"
    name_ru = factory.LazyAttribute(lambda o: f"Сторона {o.code}")
    name_kk = factory.LazyAttribute(lambda o: f"{o.code} Тарабы")
    name_en = factory.LazyAttribute(lambda o: f"Party {o.code}")

    class Params:
        kazakhstan = factory.Trait(
            code="KZ",
            time_zone="Asia/Almaty",
            name_ru="Республика Казахстан",
            name_kk="Қазақстан Республикасы",
            name_en="Republic of Kazakhstan",
        )
        russia = factory.Trait(
            code="RU",
            time_zone="Europe/Moscow",
            name_ru="Российская Федерация",
            name_kk="Ресей Федерациясы",
            name_en="Russian Federation",
        )
        secretariat = factory.Trait(
            code="CSTO",
            kind="organisation",
            time_zone="Europe/Moscow",
            name_ru="Организация Договора о коллективной безопасности",
            name_en="Collective Security Treaty Organization",
        )


class BodyFactory(DjangoModelFactory):
    class Meta:
        model = Body
        django_get_or_create = ("code",)

    party = factory.SubFactory(PartyFactory)
    code = factory.Sequence(lambda n: f"B-{n:03d}")
    kind = "law_enforcement"
    name_ru = factory.LazyAttribute(lambda o: f"Орган {o.code}")
    name_kk = factory.LazyAttribute(lambda o: f"{o.code} органы")
    name_en = factory.LazyAttribute(lambda o: f"Body {o.code}")

    class Params:
        kazakh = factory.Trait(
            party=factory.SubFactory(PartyFactory, kazakhstan=True),
            code="KZ-MIA",
            name_ru="Министерство внутренних дел Республики Казахстан",
            name_kk="Қазақстан Республикасының Ішкі істер министрлігі",
            name_en="Ministry of Internal Affairs of the Republic of Kazakhstan",
        )
        russian = factory.Trait(
            party=factory.SubFactory(PartyFactory, russia=True),
            code="RU-MIA",
            name_ru="Министерство внутренних дел Российской Федерации",
            name_kk="Ресей Федерациясының Ішкі істер министрлігі",
            name_en="Ministry of Internal Affairs of the Russian Federation",
        )


class InstrumentFactory(DjangoModelFactory):
    """The Protocol by default (trait `bilateral` for another treaty)."""

    class Meta:
        model = Instrument
        django_get_or_create = ("code",)

    code = "csto-2014-information-sphere"
    kind = "multilateral"
    name_ru = (
        "Протокол о взаимодействии государств – членов ОДКБ по противодействию преступной деятельности "
        "в информационной сфере"
    )
    name_kk = (
        "Ақпарат саласындағы қылмыстық іс-әрекеттерге қарсы іс-қимыл жөніндегі ҰҚШҰ-ға мүше мемлекеттердің "
        "өзара іс-қимылы туралы хаттама"
    )
    name_en = "Protocol on interaction of CSTO member states in countering criminal activity in the information sphere"
    adopted_on = datetime.date(2014, 12, 23)
    place = "Москва"

    class Params:
        bilateral = factory.Trait(
            code=factory.Sequence(lambda n: f"bilateral-{n}"),
            kind="bilateral",
            name_ru="Соглашение о сотрудничестве в борьбе с преступностью",
            notifications_required=2,
        )


def record(instrument, party, kind, on, effective_on=None):
    """A depositary record straight into the table (tests' set-up; the service checks are tested elsewhere)."""
    return InstrumentEvent.objects.create(
        instrument=instrument,
        party=party,
        kind=kind,
        on=on,
        effective_on=effective_on,
        recorded_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )


def in_force(instrument, *parties, on=datetime.date(2016, 5, 20)):
    """Sign and notify for each Party, so `instrument` is in force between them from `on`."""
    for party in parties:
        record(instrument, party, "signed", instrument.adopted_on)
        record(instrument, party, "notified", on)
    return instrument
