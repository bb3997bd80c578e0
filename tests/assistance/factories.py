"""Set-up for request tests: the Protocol in force and the bodies designated, and complete drafts."""

from __future__ import annotations

import datetime as dt

from cybercoop.assistance import services
from cybercoop.registry.models import DesignationNotice
from tests.registry.factories import InstrumentFactory, PartyFactory, in_force

REQUEST_FIELDS = {
    "subject": "Хищение денежных средств с банковских карт через фишинговый сайт",
    "scope": "it_crime",
    "purpose": "Установление лиц, причастных к хищению, и обеспечение доказательств "
    "по уголовному делу № 261500031000217.",
    "grounds": "Уголовное дело по ч. 4 ст. 190 УК РК, возбуждено 02.11.2026.",
    "substance": "В период с 1 по 30 октября 2026 г. неустановленные лица через сайт bank-kz-login.example похитили "
    "средства 214 граждан Республики Казахстан. Сервер сайта размещён у хостинг-провайдера в г. Москве.",
    "assistance_kinds": ["operational_search", "procedural_actions"],
    "assistance_sought": "Установить владельца сервера 203.0.113.17 и регистранта домена bank-kz-login.example; "
    "истребовать журналы подключений за октябрь 2026 г.",
    "identifiers": "IP 203.0.113.17; домен bank-kz-login.example; e-mail support@bank-kz-login.example",
    "other_information": "Контактное лицо: ст. оперуполномоченный Ахметов Е. С.",
    "marking": "official",
}


def designate(instrument, *bodies, on=dt.date(2016, 6, 1)):
    """Designation notices straight into the table (the service is tested in the registry's tests)."""
    for body in bodies:
        DesignationNotice.objects.create(
            instrument=instrument,
            party=body.party,
            kind="designated",
            body=body,
            effective_on=on,
            filed_at=dt.datetime(2016, 6, 1, tzinfo=dt.UTC),
        )


def protocol_between(*bodies):
    """The Protocol in force between the bodies' Parties since 2016, each body designated (Kyrgyzstan and
    Tajikistan notify too, so that four notifications bring it into force, P16.1)."""
    instrument = InstrumentFactory()
    parties = {b.party for b in bodies} | {PartyFactory(code="KG"), PartyFactory(code="TJ")}
    in_force(instrument, *parties, on=dt.date(2016, 5, 20))
    designate(instrument, *bodies)
    return instrument


def draft(officer, requested_body, instrument, **overrides):
    """A complete draft from the officer's body to `requested_body`."""
    return services.create_draft(
        actor=officer, requested_body=requested_body, instrument=instrument, **{**REQUEST_FIELDS, **overrides}
    )


def sent(officer, head, requested_body, instrument, **overrides):
    """A request drafted by the officer and approved and sent by the head."""
    case = draft(officer, requested_body, instrument, **overrides)
    services.submit_for_approval(actor=officer, case=case)
    return services.approve_and_send(actor=head, case=case)
