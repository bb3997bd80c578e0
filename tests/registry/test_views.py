"""Registry screens through real requests: who sees and does what, and refusals that change nothing."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.audit.models import AuditEntry
from cybercoop.registry.models import Acknowledgement, DesignationNotice, InstrumentEvent, PartyProfile
from tests.registry.factories import InstrumentFactory, PartyFactory, in_force, record

PROTOCOL = "/registry/instruments/csto-2014-information-sphere/"


@pytest.fixture
def protocol(kz_body, ru_body, outsider_body):
    instrument = InstrumentFactory()
    by, kg = PartyFactory(code="BY"), PartyFactory(code="KG")
    in_force(instrument, kz_body.party, ru_body.party, outsider_body.party, by, on=dt.date(2016, 5, 20))
    record(instrument, kg, "signed", dt.date(2014, 12, 23))
    return instrument


@pytest.mark.parametrize("persona", ["kz_officer", "kz_head", "ru_deputy", "outsider", "kz_auditor"])
def test_every_signed_in_user_reads_the_registry(client, protocol, persona, request):
    client.force_login(request.getfixturevalue(persona))
    for url in ("/registry/", PROTOCOL, "/registry/designations/", "/registry/announcements/", "/registry/parties/KZ/"):
        assert client.get(url).status_code == 200, url


def test_the_registry_needs_sign_in_but_the_public_page_does_not(client, protocol):
    assert client.get("/registry/").status_code == 302
    r = client.get("/public/")
    assert r.status_code == 200
    assert '<html lang="ru">' in r.content.decode()


@pytest.mark.rule("R6", "P16.1", "P16.2")
def test_the_public_page_shows_each_partys_status_computed_from_the_records(client, protocol):
    html = client.get("/public/").content.decode()
    table = html.split('data-testid="public-status-csto-2014-information-sphere"')[1].split("</table>")[0]
    kg_row = table.split('data-party="KG"')[1].split("</tr>")[0]
    kz_row = table.split('data-party="KZ"')[1].split("</tr>")[0]
    assert "status-signed" in kg_row
    assert "status-in_force" in kz_row
    assert "20.05.2016" in kz_row


@pytest.mark.rule("P16.2")
def test_the_in_force_question_is_answered_on_the_instrument_page(client, protocol, kz_officer, kz_body, ru_body):
    client.force_login(kz_officer)
    kz, ru = kz_body.party.pk, ru_body.party.pk
    html = client.get(PROTOCOL, {"party_a": kz, "party_b": ru, "on": "2016-05-19"}).content.decode()
    assert 'data-testid="in-force-answer"' in html
    assert "status-bad" in html.split('data-testid="in-force-answer"')[0][-80:]
    html = client.get(PROTOCOL, {"party_a": kz, "party_b": ru, "on": "2016-05-20"}).content.decode()
    assert "status-ok" in html.split('data-testid="in-force-answer"')[0][-80:]


def test_only_the_secretariat_sees_and_uses_the_depositary_forms(client, protocol, kz_registrar, kz_body):
    client.force_login(kz_registrar)
    assert "Record what the depositary received" not in client.get(PROTOCOL).content.decode()
    r = client.post(PROTOCOL + "events/", {"party": kz_body.party.pk, "kind": "signed", "on": "2015-01-01"})
    assert r.status_code == 403
    assert client.get("/registry/instruments/new/").status_code == 403


@pytest.mark.rule("P18")
def test_an_early_withdrawal_is_refused_on_the_form_and_nothing_is_recorded(
    client, protocol, secretariat, kz_body, clock
):
    client.force_login(secretariat)
    before = (InstrumentEvent.objects.count(), AuditEntry.objects.count())
    r = client.post(
        PROTOCOL + "events/",
        {"party": kz_body.party.pk, "kind": "withdrawal_notified", "on": "2026-11-20", "effective_on": "2027-01-01"},
    )
    assert r.status_code == 422
    assert "2027-05-20" in r.content.decode()
    assert (InstrumentEvent.objects.count(), AuditEntry.objects.count()) == before


def test_the_secretariat_records_a_notification_from_the_form(client, protocol, secretariat, clock):
    client.force_login(secretariat)
    kg = PartyFactory(code="KG")
    r = client.post(PROTOCOL + "events/", {"party": kg.pk, "kind": "notified", "on": "2017-03-01", "reference": "нота"})
    assert r.status_code == 302
    assert InstrumentEvent.objects.filter(party=kg, kind="notified").exists()


@pytest.mark.rule("P19")
def test_the_original_and_a_certified_copy_through_the_screens(
    client, protocol, secretariat, kz_body, clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(secretariat)
    pdf = b"%PDF-1.4\nthe original\n%%EOF"
    r = client.post(PROTOCOL + "original/", {"file": SimpleUploadedFile("original.pdf", pdf, "application/pdf")})
    assert r.status_code == 302
    r = client.post(PROTOCOL + "original/", {"file": SimpleUploadedFile("x.pdf", pdf, "application/pdf")})
    assert r.status_code == 422  # the original is never replaced
    r = client.post(
        PROTOCOL + "copies/",
        {"party": kz_body.party.pk, "sent_on": "2015-01-15", "file": SimpleUploadedFile("c.pdf", pdf + b"c")},
    )
    assert r.status_code == 302
    download = client.get(PROTOCOL + "original.pdf")
    assert b"".join(download.streaming_content) == pdf


@pytest.mark.rule("P19")
def test_a_download_is_read_from_the_archive_and_an_altered_file_is_refused_not_served(
    client, protocol, secretariat, kz_officer, kz_body, clock, settings, tmp_path
):
    from cybercoop.audit.models import ArchivedDocument

    settings.MEDIA_ROOT = tmp_path
    client.force_login(secretariat)
    pdf = b"%PDF-1.4\nthe original\n%%EOF"
    client.post(PROTOCOL + "original/", {"file": SimpleUploadedFile("original.pdf", pdf, "application/pdf")})
    client.post(
        PROTOCOL + "copies/",
        {"party": kz_body.party.pk, "sent_on": "2015-01-15", "file": SimpleUploadedFile("c.pdf", pdf + b"c")},
    )
    copy = protocol.certified_copies.get()
    client.force_login(kz_officer)
    download = client.get(f"{PROTOCOL}copies/{copy.pk}.pdf")
    assert b"".join(download.streaming_content) == pdf + b"c"
    assert download["Content-Type"] == "application/pdf"
    assert f'filename="{protocol.code}-KZ-2015-01-15.pdf"' in download["Content-Disposition"]

    original = ArchivedDocument.objects.get(kind="instrument_original")
    (tmp_path / original.file.name).write_bytes(pdf.replace(b"original", b"forgery!"))
    r = client.get(PROTOCOL + "original.pdf")
    assert r.status_code == 500
    assert r["Content-Type"].startswith("text/html")
    html = r.content.decode()
    assert "forgery" not in html
    assert f"{protocol.code}.pdf" in html
    assert "cybercoop archive check" in html
    (tmp_path / original.file.name).unlink()
    assert client.get(PROTOCOL + "original.pdf").status_code == 500
    assert client.get(f"{PROTOCOL}copies/{copy.pk}.pdf").status_code == 200


@pytest.mark.rule("P19")
def test_an_original_stored_before_the_archive_is_still_checked_against_its_sha256(
    client, protocol, kz_officer, settings, tmp_path
):
    import hashlib

    from cybercoop.registry.models import Instrument

    settings.MEDIA_ROOT = tmp_path
    pdf = b"%PDF-1.4\nkept before the archive\n%%EOF"
    (tmp_path / "instruments" / "originals").mkdir(parents=True)
    (tmp_path / "instruments" / "originals" / "old.pdf").write_bytes(pdf)
    Instrument.objects.filter(pk=protocol.pk).update(
        original="instruments/originals/old.pdf", original_sha256=hashlib.sha256(pdf).hexdigest()
    )
    client.force_login(kz_officer)
    download = client.get(PROTOCOL + "original.pdf")
    assert b"".join(download.streaming_content) == pdf
    (tmp_path / "instruments" / "originals" / "old.pdf").write_bytes(pdf + b"appended")
    assert client.get(PROTOCOL + "original.pdf").status_code == 500


@pytest.mark.rule("P4.2", "P4.3")
def test_a_registrar_files_for_their_own_party_and_every_other_party_sees_it(
    client, protocol, kz_registrar, kz_body, ru_head, clock
):
    client.force_login(kz_registrar)
    form_html = client.get("/registry/designations/").content.decode()
    assert "Российская Федерация" not in form_html.split('id="id_party"')[1].split("</select>")[0]
    r = client.post(
        "/registry/designations/",
        {"party": kz_body.party.pk, "kind": "designated", "body": kz_body.pk, "effective_on": "2016-06-01"},
    )
    assert r.status_code == 302
    notice = DesignationNotice.objects.get()
    assert set(notice.acknowledgements.values_list("party__code", flat=True)) == {"RU", "AM", "BY", "KG"}
    client.force_login(ru_head)
    inbox = client.get("/registry/announcements/").content.decode()
    assert kz_body.name_ru in inbox
    ack = notice.acknowledgements.get(party__code="RU")
    assert client.post(f"/registry/announcements/{ack.pk}/acknowledge/").status_code == 302
    ack.refresh_from_db()
    assert ack.acknowledged_by == ru_head


@pytest.mark.rule("P4.2")
def test_a_registrar_cannot_file_for_another_party(client, protocol, kz_registrar, ru_body):
    client.force_login(kz_registrar)
    r = client.post(
        "/registry/designations/",
        {"party": ru_body.party.pk, "kind": "designated", "body": ru_body.pk, "effective_on": "2016-06-01"},
    )
    assert r.status_code == 422
    assert not DesignationNotice.objects.exists()


def test_an_officer_cannot_file_and_another_partys_acknowledgement_is_not_found(
    client, protocol, kz_officer, kz_registrar, kz_body, outsider, clock
):
    from cybercoop.registry import services

    notice = services.file_designation(
        actor=kz_registrar,
        instrument=protocol,
        party=kz_body.party,
        kind="designated",
        body=kz_body,
        effective_on=dt.date(2016, 6, 1),
    )
    client.force_login(kz_officer)
    assert client.post("/registry/designations/", {"party": kz_body.party.pk}).status_code == 403
    ru_ack = notice.acknowledgements.get(party__code="RU")
    client.force_login(outsider)
    assert client.post(f"/registry/announcements/{ru_ack.pk}/acknowledge/").status_code == 404
    assert not Acknowledgement.objects.filter(acknowledged_at__isnull=False).exists()


@pytest.mark.rule("P4.3")
def test_the_secretariat_sees_who_has_not_acknowledged_and_since_when(
    client, protocol, secretariat, kz_registrar, kz_body, clock
):
    from cybercoop.registry import services

    services.file_designation(
        actor=kz_registrar,
        instrument=protocol,
        party=kz_body.party,
        kind="designated",
        body=kz_body,
        effective_on=dt.date(2016, 6, 1),
    )
    clock.advance(dt.timedelta(days=3))
    client.force_login(secretariat)
    html = client.get("/registry/announcements/").content.decode()
    notice_html = html.split('data-testid="notice-')[1]
    assert notice_html.count("status-withdrawn") == 4  # four Parties have not acknowledged
    assert "3" in notice_html  # for three days


def test_the_profile_is_edited_by_its_own_registrar_only(client, protocol, kz_registrar, kz_body, ru_body, clock):
    client.force_login(kz_registrar)
    r = client.post(
        "/registry/parties/KZ/",
        {
            "accepted_languages": ["kk"],
            "signature_required": "on",
            "working_days": ["1", "2", "3", "4", "5"],
            "office_opens_at": "09:00",
            "office_closes_at": "18:00",
            "contact_name": "Дежурная часть",
        },
    )
    assert r.status_code == 302
    assert PartyProfile.objects.get(party=kz_body.party).accepted_languages == ["kk"]
    assert client.post("/registry/parties/RU/", {"office_opens_at": "09:00"}).status_code == 403
    r = client.post("/registry/parties/KZ/", {"office_opens_at": "19:00", "office_closes_at": "08:00"})
    assert r.status_code == 422
    assert PartyProfile.objects.get(party=kz_body.party).office_opens_at == dt.time(9)


def test_unknown_party_or_instrument_is_not_found(client, kz_officer):
    client.force_login(kz_officer)
    assert client.get("/registry/parties/ZZ/").status_code == 404
    assert client.get("/registry/instruments/no-such-thing/").status_code == 404
