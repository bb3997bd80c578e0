"""Registry services on a real database: permissions, refusals that change nothing, audit entries."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.audit.models import AuditEntry
from cybercoop.core.append_only import AppendOnlyError
from cybercoop.core.errors import InvalidInput
from cybercoop.registry import selectors, services
from cybercoop.registry.models import Acknowledgement, DesignationNotice, InstrumentEvent, PartyProfile
from tests.registry.factories import InstrumentFactory, PartyFactory, in_force

D = dt.date
PDF = b"%PDF-1.7\n% a tiny test document\n%%EOF\n"


@pytest.fixture
def protocol(db):
    return InstrumentFactory()


def _audit_count():
    return AuditEntry.objects.count()


@pytest.mark.rule("P16.1", "P16.2")
def test_the_secretariat_records_signatures_and_notifications_and_the_protocol_enters_into_force(
    secretariat, protocol, kz_body, ru_body, clock
):
    parties = [kz_body.party, ru_body.party] + [PartyFactory(code=c) for c in ("BY", "AM", "KG")]
    for party in parties:
        services.record_event(actor=secretariat, instrument=protocol, party=party, kind="signed", on=D(2014, 12, 23))
    for party, day in zip(parties[:4], [D(2015, 6, 10), D(2015, 9, 1), D(2016, 2, 15), D(2016, 5, 20)], strict=True):
        services.record_event(actor=secretariat, instrument=protocol, party=party, kind="notified", on=day)
    kz, ru = kz_body.party, ru_body.party
    assert selectors.in_force_between(instrument=protocol, party_a=kz, party_b=ru, on=D(2016, 5, 20))
    assert not selectors.in_force_between(instrument=protocol, party_a=kz, party_b=ru, on=D(2016, 5, 19))
    assert not selectors.in_force_between(instrument=protocol, party_a=kz, party_b=parties[4], on=D(2026, 1, 1))
    rows = {row.party.code: row for row in selectors.status_table(instrument=protocol, on=D(2026, 11, 23))}
    assert rows["KZ"].status == "in_force"
    assert rows["KG"].status == "signed"
    assert AuditEntry.objects.filter(action="registry:instrument:event_recorded").count() == 9


@pytest.mark.rule("P16.1")
def test_a_second_notification_is_refused_and_nothing_is_stored(secretariat, protocol, kz_body, clock):
    in_force(protocol, kz_body.party)
    before = (InstrumentEvent.objects.count(), _audit_count())
    with pytest.raises(InvalidInput) as error:
        services.record_event(
            actor=secretariat, instrument=protocol, party=kz_body.party, kind="notified", on=D(2020, 1, 1)
        )
    assert list(error.value.errors) == ["party"]
    assert (InstrumentEvent.objects.count(), _audit_count()) == before


@pytest.mark.rule("P18")
def test_a_withdrawal_before_six_months_is_refused_with_the_earliest_date(secretariat, protocol, kz_body, clock):
    in_force(protocol, kz_body.party)
    with pytest.raises(InvalidInput) as error:
        services.record_event(
            actor=secretariat,
            instrument=protocol,
            party=kz_body.party,
            kind="withdrawal_notified",
            on=D(2026, 9, 1),
            effective_on=D(2027, 2, 28),
        )
    assert "2027-03-01" in str(error.value.errors["effective_on"][0])
    assert not InstrumentEvent.objects.filter(kind="withdrawal_notified").exists()
    services.record_event(
        actor=secretariat,
        instrument=protocol,
        party=kz_body.party,
        kind="withdrawal_notified",
        on=D(2026, 9, 1),
        effective_on=D(2027, 3, 1),
    )
    assert selectors.status_table(instrument=protocol, on=D(2026, 11, 23))


@pytest.mark.rule("P18")
def test_a_withdrawal_from_an_instrument_never_joined_is_refused(secretariat, protocol, kz_body, clock):
    with pytest.raises(InvalidInput) as error:
        services.record_event(
            actor=secretariat,
            instrument=protocol,
            party=kz_body.party,
            kind="withdrawal_notified",
            on=D(2026, 1, 1),
            effective_on=D(2027, 1, 1),
        )
    assert "never joined" in str(error.value.errors["party"][0]) or error.value.errors["party"]
    assert not InstrumentEvent.objects.exists()


def test_dates_before_signature_or_in_the_future_are_refused(secretariat, protocol, kz_body, clock):
    for day in (D(2014, 1, 1), D(2027, 1, 1)):
        with pytest.raises(InvalidInput) as error:
            services.record_event(actor=secretariat, instrument=protocol, party=kz_body.party, kind="signed", on=day)
        assert list(error.value.errors) == ["on"]
    assert not InstrumentEvent.objects.exists()


def test_only_the_secretariat_records_depositary_events(kz_registrar, kz_head, protocol, kz_body, clock):
    for actor in (kz_registrar, kz_head):
        with pytest.raises(PermissionDenied):
            services.record_event(
                actor=actor, instrument=protocol, party=kz_body.party, kind="signed", on=D(2015, 1, 1)
            )
    assert not InstrumentEvent.objects.exists()


def test_nobody_edits_history(secretariat, protocol, kz_body, clock):
    event = services.record_event(
        actor=secretariat, instrument=protocol, party=kz_body.party, kind="signed", on=D(2015, 1, 1)
    )
    event.on = D(2015, 2, 1)
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        InstrumentEvent.objects.filter(pk=event.pk).update(on=D(2015, 3, 1))


@pytest.mark.rule("P15")
def test_an_amendment_must_name_the_instrument_it_amends(secretariat, protocol, clock):
    with pytest.raises(InvalidInput) as error:
        services.create_instrument(
            actor=secretariat,
            code="amend-1",
            kind="amendment",
            name_ru="Протокол о внесении изменений",
            adopted_on=D(2020, 1, 1),
        )
    assert list(error.value.errors) == ["amends"]
    amendment = services.create_instrument(
        actor=secretariat,
        code="amend-1",
        kind="amendment",
        name_ru="Протокол о внесении изменений",
        adopted_on=D(2020, 1, 1),
        amends=protocol,
    )
    assert amendment.amends == protocol
    assert AuditEntry.objects.filter(action="registry:instrument:created").count() == 1


@pytest.mark.rule("P19")
def test_the_original_is_stored_once_and_certified_copies_are_recorded_with_their_hash(
    secretariat, protocol, kz_body, clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    services.record_event(
        actor=secretariat, instrument=protocol, party=kz_body.party, kind="signed", on=D(2014, 12, 23)
    )
    with pytest.raises(InvalidInput):  # no original yet
        services.record_certified_copy(
            actor=secretariat,
            instrument=protocol,
            party=kz_body.party,
            sent_on=D(2015, 1, 10),
            upload=SimpleUploadedFile("copy.pdf", PDF),
        )
    services.store_original(actor=secretariat, instrument=protocol, upload=SimpleUploadedFile("original.pdf", PDF))
    protocol.refresh_from_db()
    import hashlib

    assert protocol.original_sha256 == hashlib.sha256(PDF).hexdigest()
    with pytest.raises(InvalidInput) as error:
        services.store_original(
            actor=secretariat, instrument=protocol, upload=SimpleUploadedFile("other.pdf", PDF + b" ")
        )
    assert list(error.value.errors) == ["file"]
    copy = services.record_certified_copy(
        actor=secretariat,
        instrument=protocol,
        party=kz_body.party,
        sent_on=D(2015, 1, 10),
        upload=SimpleUploadedFile("copy.pdf", PDF + b"certified"),
    )
    assert copy.sha256 == hashlib.sha256(PDF + b"certified").hexdigest()
    with copy.file.open("rb") as stored:
        assert stored.read() == PDF + b"certified"


@pytest.mark.rule("P19")
def test_the_original_and_each_certified_copy_are_kept_in_the_archive_under_the_sha256_recorded(
    secretariat, protocol, kz_body, ru_body, clock, settings, tmp_path
):
    from cybercoop.audit import archive
    from cybercoop.audit.models import ArchivedDocument

    settings.MEDIA_ROOT = tmp_path
    for party in (kz_body.party, ru_body.party):
        services.record_event(actor=secretariat, instrument=protocol, party=party, kind="signed", on=D(2014, 12, 23))
    instrument = services.store_original(
        actor=secretariat, instrument=protocol, upload=SimpleUploadedFile("original.pdf", PDF)
    )
    original = archive.find(sha256=instrument.original_sha256)
    assert original is not None
    assert (original.kind, original.name, original.reference, original.archived_by) == (
        "instrument_original",
        f"{protocol.code}.pdf",
        protocol.code,
        secretariat,
    )
    assert (original.object_type, original.object_id) == ("registry.instrument", str(protocol.pk))
    protocol.refresh_from_db()
    assert protocol.original.name == original.file.name  # one file: the archive's
    assert archive.read(original) == PDF

    certified = PDF + b"% certified true copy"
    copies = [
        services.record_certified_copy(
            actor=secretariat,
            instrument=protocol,
            party=party,
            sent_on=D(2015, 1, 10),
            upload=SimpleUploadedFile("c.pdf", certified),
        )
        for party in (kz_body.party, ru_body.party)
    ]
    kept = archive.find(sha256=copies[0].sha256)
    assert kept is not None
    assert kept.kind == "certified_copy"
    assert (kept.object_type, kept.object_id) == ("registry.certifiedcopy", str(copies[0].pk))
    assert kept.name == f"{protocol.code}-KZ-2015-01-10.pdf"
    # The same certified text sent to a second signatory is one archived document, named by both copies.
    assert {c.sha256 for c in copies} == {kept.sha256}
    assert {c.file.name for c in copies} == {kept.file.name}
    assert ArchivedDocument.objects.count() == 2
    assert archive.check() == []


@pytest.mark.rule("P19")
def test_a_refused_original_or_copy_archives_nothing(secretariat, protocol, kz_body, clock, settings, tmp_path):
    from cybercoop.audit.models import ArchivedDocument

    settings.MEDIA_ROOT = tmp_path
    services.record_event(
        actor=secretariat, instrument=protocol, party=kz_body.party, kind="signed", on=D(2014, 12, 23)
    )
    with pytest.raises(InvalidInput):
        services.store_original(actor=secretariat, instrument=protocol, upload=SimpleUploadedFile("x.pdf", b"GIF89a"))
    with pytest.raises(InvalidInput):  # no original yet
        services.record_certified_copy(
            actor=secretariat,
            instrument=protocol,
            party=kz_body.party,
            sent_on=D(2015, 1, 10),
            upload=SimpleUploadedFile("copy.pdf", PDF),
        )
    assert not ArchivedDocument.objects.exists()
    assert not (tmp_path / "archive").exists()


def test_a_file_that_is_not_a_pdf_is_refused(secretariat, protocol, clock, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(InvalidInput) as error:
        services.store_original(
            actor=secretariat, instrument=protocol, upload=SimpleUploadedFile("x.pdf", b"MZ\x90\x00")
        )
    assert list(error.value.errors) == ["file"]
    protocol.refresh_from_db()
    assert protocol.original_sha256 == ""


@pytest.mark.rule("P4.2", "P4.3")
def test_a_designation_is_announced_to_every_other_party_who_each_acknowledge(
    secretariat, protocol, kz_registrar, ru_registrar, kz_body, ru_body, outsider, clock
):
    stamp = selectors.rules_stamp()
    notice = services.file_designation(
        actor=kz_registrar,
        instrument=protocol,
        party=kz_body.party,
        kind="designated",
        body=kz_body,
        effective_on=D(2016, 6, 1),
    )
    assert selectors.rules_stamp() != stamp  # what keeps designation answers (the federation's inbox) sees it
    recipients = set(notice.acknowledgements.values_list("party__code", flat=True))
    assert recipients == {"RU", "AM"}  # every other state Party; not the CSTO, not Kazakhstan itself
    assert selectors.is_designated(body=kz_body, instrument=protocol, on=D(2016, 6, 1))
    assert not selectors.is_designated(body=kz_body, instrument=protocol, on=D(2016, 5, 31))
    ack = notice.acknowledgements.get(party__code="RU")
    with pytest.raises(PermissionDenied):  # Kazakhstan cannot acknowledge for Russia
        services.acknowledge(actor=kz_registrar, acknowledgement=ack)
    services.acknowledge(actor=ru_registrar, acknowledgement=ack)
    ack.refresh_from_db()
    assert ack.acknowledged_by == ru_registrar
    assert [a.party.code for a in selectors.pending_acknowledgements(viewer=secretariat)] == ["AM"]


@pytest.mark.rule("P4.2")
def test_a_registrar_of_party_a_cannot_file_for_party_b(protocol, kz_registrar, ru_body, clock):
    with pytest.raises(PermissionDenied):
        services.file_designation(
            actor=kz_registrar,
            instrument=protocol,
            party=ru_body.party,
            kind="designated",
            body=ru_body,
            effective_on=D(2016, 6, 1),
        )
    assert not DesignationNotice.objects.exists()
    assert not Acknowledgement.objects.exists()


@pytest.mark.rule("P4.2")
def test_the_secretariat_files_for_any_party_and_officers_for_none(protocol, secretariat, ru_officer, ru_body, clock):
    with pytest.raises(PermissionDenied):
        services.file_designation(
            actor=ru_officer,
            instrument=protocol,
            party=ru_body.party,
            kind="designated",
            body=ru_body,
            effective_on=D(2016, 6, 1),
        )
    services.file_designation(
        actor=secretariat,
        instrument=protocol,
        party=ru_body.party,
        kind="designated",
        body=ru_body,
        effective_on=D(2016, 6, 1),
    )
    assert DesignationNotice.objects.get().filed_by == secretariat


def test_a_designation_of_another_partys_body_is_refused(protocol, secretariat, kz_body, ru_body, clock):
    with pytest.raises(InvalidInput) as error:
        services.file_designation(
            actor=secretariat,
            instrument=protocol,
            party=kz_body.party,
            kind="designated",
            body=ru_body,
            effective_on=D(2016, 6, 1),
        )
    assert list(error.value.errors) == ["body"]
    assert not DesignationNotice.objects.exists()


def test_the_profile_is_kept_by_that_partys_registrar_only(kz_registrar, ru_registrar, kz_body, clock):
    party = kz_body.party
    with pytest.raises(PermissionDenied):
        services.update_party_profile(actor=ru_registrar, party=party, signature_required=False)
    profile = services.update_party_profile(
        actor=kz_registrar,
        party=party,
        accepted_languages=["kk", "en"],
        dual_criminality_required=True,
        working_days=[1, 2, 3, 4, 5],
        office_opens_at=dt.time(9),
        office_closes_at=dt.time(18, 30),
        contact_name="Дежурная часть",
        contact_phone="+7 717 271 00 00",
    )
    assert profile.accepted_languages == ["en", "kk"]
    with pytest.raises(InvalidInput) as error:
        services.update_party_profile(
            actor=kz_registrar, party=party, accepted_languages=["fr"], office_opens_at=dt.time(19), working_days=[0]
        )
    assert set(error.value.errors) == {"accepted_languages", "office_closes_at", "working_days"}
    assert PartyProfile.objects.get().accepted_languages == ["en", "kk"]


@pytest.mark.rule("P14", "R4")
def test_a_bilateral_agreement_is_a_legal_basis_of_its_own(secretariat, protocol, kz_body, ru_body, clock):
    agreement = services.create_instrument(
        actor=secretariat,
        code="kz-ru-2019",
        kind="bilateral",
        name_ru="Соглашение между МВД Республики Казахстан и МВД Российской Федерации",
        adopted_on=D(2019, 6, 12),
        notifications_required=2,
        execution_term_days=20,
    )
    kz, ru = kz_body.party, ru_body.party
    for party, day in ((kz, D(2019, 9, 3)), (ru, D(2019, 10, 21))):
        services.record_event(actor=secretariat, instrument=agreement, party=party, kind="signed", on=D(2019, 6, 12))
        services.record_event(actor=secretariat, instrument=agreement, party=party, kind="notified", on=day)
    on = D(2020, 1, 1)
    assert selectors.in_force_between(instrument=agreement, party_a=kz, party_b=ru, on=on)
    # The Protocol is not in force between them (nothing recorded for it), the agreement is: P14.
    assert selectors.instruments_in_force_between(party_a=kz, party_b=ru, on=on) == [agreement]
    assert agreement.execution_term_days == 20
