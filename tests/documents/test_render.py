"""Official documents rendered as Russian PDFs: what the extracted text holds, fonts, pages, annex, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pypdf
import pytest

from cybercoop.core.errors import InvalidInput
from cybercoop.documents.layout import OfflineFetcher, RemoteFetchRefused, html_to_document
from cybercoop.documents.render import (
    MAX_SECTION_TEXT,
    MAX_TITLE,
    REQUIRED_SECTIONS,
    BodyHeading,
    DocumentData,
    DocumentKind,
    Section,
    SectionKey,
    check,
    heading_for,
    pdf_text,
    pdf_to_png,
    render,
    render_pdf,
)

PDFTOTEXT = shutil.which("pdftotext") or "pdftotext"
KAZAKH = "әғқңөұүһі ӘҒҚҢӨҰҮҺІ"
ARMENIAN = "Հայաստանի Հանրապետություն"

SENDER = BodyHeading(
    name="Агентство Республики Казахстан по финансовому мониторингу",
    party_name="Республика Казахстан",
    code="KZ-AFM",
    address="010000, г. Астана, пр. Мәңгілік Ел, 8",
    contacts="+7 7172 00-00-00, duty@afm.example.kz",
)
ADDRESSEE = BodyHeading(
    name="Управление «К» Министерства внутренних дел Российской Федерации",
    party_name="Российская Федерация",
    code="RU-MVD-K",
)
LEGAL_BASIS = (
    "Протокол о взаимодействии государств — членов Организации Договора о коллективной безопасности "
    "по противодействию преступной деятельности в информационной сфере"
)
SECTION_TEXT: dict[SectionKey, str] = {
    SectionKey.SCOPE: "Преступления в сфере информационных технологий",
    SectionKey.PURPOSE: "Установление лиц, причастных к хищению денежных средств граждан.",
    SectionKey.GROUNDS: "Уголовное дело № 2026-0042 возбуждено 12.10.2026 по части 3 статьи 190 УК РК.",
    SectionKey.SUBSTANCE: "С 1 по 10 октября 2026 года неустановленные лица разместили фишинговые страницы.",
    SectionKey.ASSISTANCE_KINDS: "Оперативно-розыскные мероприятия",
    SectionKey.ASSISTANCE_SOUGHT: "Предоставить сведения о владельцах доменов и журналы доступа к серверу.",
    SectionKey.IDENTIFIERS: "203.0.113.7; bank-login.example.invalid",
    SectionKey.OFFENCE: "Мошенничество, совершённое с использованием информационных технологий",
    SectionKey.EXECUTION_TERM: "30 дней со дня получения",
    SectionKey.OTHER_INFORMATION: "Контактное лицо: следователь Жұмабаев Ө. Ғ.",
    SectionKey.URGENT_REQUEST: "№ KZ-AFM-2026-00016 от 21.11.2026, направлен по техническим каналам связи",
    SectionKey.REQUEST_REFERENCE: "№ KZ-AFM-2026-00016 от 21.11.2026 «О предоставлении сведений»",
    SectionKey.REFUSED_PART: "Изъятие журналов доступа к серверу хостинг-провайдера.",
    SectionKey.REASONS: "Исполнение противоречит статье 15 Закона о связи запрашиваемой Стороны.",
    SectionKey.UNTIL: "15.01.2027",
    SectionKey.CONDITIONS: "Сведения используются только в уголовном деле № 2026-0042.",
    SectionKey.SUMMARY: "Установлены владельцы двух доменов; сведения прилагаются.",
    SectionKey.ATTACHMENTS: "Справка на 3 листах.",
}
# The standard sections each kind carries besides those it must (what the lead's mapping from a case gives).
OPTIONAL: dict[str, tuple[SectionKey, ...]] = {
    DocumentKind.REQUEST: (
        SectionKey.SCOPE,
        SectionKey.ASSISTANCE_KINDS,
        SectionKey.IDENTIFIERS,
        SectionKey.OFFENCE,
        SectionKey.EXECUTION_TERM,
        SectionKey.OTHER_INFORMATION,
    ),
    DocumentKind.URGENT_CONFIRMATION: (SectionKey.IDENTIFIERS,),
    DocumentKind.RESULTS: (SectionKey.ATTACHMENTS,),
}
TITLES_RU = {
    DocumentKind.REQUEST: "Запрос о содействии",
    DocumentKind.URGENT_CONFIRMATION: "Письменное подтверждение срочного запроса",
    DocumentKind.REFUSAL: "Уведомление об отказе в исполнении запроса",
    DocumentKind.PARTIAL_REFUSAL: "Уведомление о частичном отказе в исполнении запроса",
    DocumentKind.POSTPONEMENT: "Уведомление об отсрочке исполнения запроса",
    DocumentKind.CONDITIONS: "Предложение об условиях исполнения запроса",
    DocumentKind.RESULTS: "О результатах исполнения запроса",
}
HEADINGS_RU = {
    SectionKey.PURPOSE: "Цель",
    SectionKey.GROUNDS: "Обоснование",
    SectionKey.SUBSTANCE: "Существо вопроса",
    SectionKey.ASSISTANCE_SOUGHT: "Запрашиваемое содействие",
    SectionKey.URGENT_REQUEST: "Подтверждаемый срочный запрос",
    SectionKey.REQUEST_REFERENCE: "На запрос",
    SectionKey.REFUSED_PART: "Часть, в исполнении которой отказано",
    SectionKey.REASONS: "Причины",
    SectionKey.UNTIL: "Отсрочено до",
    SectionKey.CONDITIONS: "Условия",
    SectionKey.SUMMARY: "Краткое изложение результатов",
}
RULES = {
    DocumentKind.REQUEST: ("P6.2", "P6.3", "P13"),
    DocumentKind.URGENT_CONFIRMATION: ("P6.4", "P6.3"),
    DocumentKind.REFUSAL: ("P9.2",),
    DocumentKind.PARTIAL_REFUSAL: ("P9.1", "P9.2"),
    DocumentKind.POSTPONEMENT: ("P7.6",),
    DocumentKind.CONDITIONS: ("P7.6",),
    DocumentKind.RESULTS: ("P7.8",),
}


def document(kind: DocumentKind = DocumentKind.REQUEST, **changes: object) -> DocumentData:
    wanted = set(REQUIRED_SECTIONS[kind] + OPTIONAL.get(kind, ()))
    keys = [key for key in SectionKey if key in wanted]  # in the order of P6.2, as the lead's mapping gives them
    data = DocumentData(
        kind=kind,
        number="KZ-AFM-2026-00017",
        date=dt.date(2026, 11, 23),
        sender=SENDER,
        addressee=ADDRESSEE,
        title="О предоставлении сведений о владельцах доменов",
        sections=[Section.of(key, SECTION_TEXT[key]) for key in keys],
        legal_basis=LEGAL_BASIS,
        signatory_name="А. Б. Сейтқалиев",
        signatory_position="Заместитель Председателя Агентства",
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces made single spaces (pdftotext breaks lines as laid out)."""
    return " ".join(text.split())


def fonts(pdf: bytes) -> set[str]:
    """The base font names a PDF's pages use (subset prefix removed)."""
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        resources = cast(dict[str, Any], page["/Resources"])
        for font in cast(dict[str, Any], resources.get("/Font", {})).values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    return names


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.rule(*RULES[k])) for k in DocumentKind])
def test_every_kind_of_document_holds_its_fields_number_date_parties_legal_basis_and_signatory(
    kind: DocumentKind, render_artefacts: Path
) -> None:
    data = document(kind)
    rendered = render(data)
    text = flat(pdf_text(rendered.pdf))

    assert TITLES_RU[kind] in text
    assert "№ KZ-AFM-2026-00017 от 23.11.2026" in text
    assert flat(SENDER.name) in text
    assert SENDER.party_name.upper() in text  # the letterhead's first line, in capitals
    assert flat(ADDRESSEE.name) in text
    assert ADDRESSEE.party_name in text
    assert "Адресат".upper() in text
    assert f"Правовое основание: {flat(LEGAL_BASIS)}" in text
    assert "Заместитель Председателя Агентства" in text
    assert "А. Б. Сейтқалиев" in text
    assert "Подпись" in text
    for key in REQUIRED_SECTIONS[kind]:
        assert HEADINGS_RU[key] in text, key
    for section in data.sections:
        assert flat(section.text) in text, section.key
    assert f"Страница 1 из {rendered.pages}" in text
    # For a person to look at (and for the lead's review): one PNG per page.
    pngs = pdf_to_png(rendered.pdf, render_artefacts, name=kind.value)
    assert len(pngs) == rendered.pages
    assert all(p.stat().st_size > 5_000 for p in pngs)


@pytest.mark.rule("P6.2")
def test_the_request_has_every_field_of_p6_2_with_its_russian_heading() -> None:
    text = flat(pdf_text(render_pdf(document(DocumentKind.REQUEST))))

    for heading in (
        "Предмет запроса (статья 3)",
        "Цель",
        "Обоснование",
        "Существо вопроса",
        "Запрашиваемое содействие (вид)",
        "Запрашиваемое содействие",
        "Идентификаторы искомых данных или лиц",
        "Преступление по законодательству запрашивающей Стороны",
        "Срок исполнения",
        "Иная полезная информация",
    ):
        assert heading in text, heading
    assert "О предоставлении сведений о владельцах доменов" in text  # the subject, under the title


@pytest.mark.rule("P9.2")
def test_a_refusal_without_reasons_is_refused_before_anything_is_drawn() -> None:
    data = document(DocumentKind.REFUSAL)
    without_reasons = dataclasses.replace(data, sections=[s for s in data.sections if s.key != SectionKey.REASONS])
    blank_reasons = dataclasses.replace(
        data,
        sections=[
            Section.of(s, "  " if s == SectionKey.REASONS else SECTION_TEXT[s]) for s in REQUIRED_SECTIONS[data.kind]
        ],
    )

    for bad in (without_reasons, blank_reasons):
        with pytest.raises(InvalidInput) as refused:
            render_pdf(bad)
        assert list(refused.value.errors) == ["reasons"]


@pytest.mark.rule("P6.2")
def test_a_request_without_its_required_fields_lists_each_missing_field() -> None:
    data = document(DocumentKind.REQUEST, sections=[Section.of(SectionKey.PURPOSE, "Цель запроса.")], title="")

    with pytest.raises(InvalidInput) as refused:
        render_pdf(data)

    assert set(refused.value.errors) == {"title", "grounds", "substance", "assistance_sought"}


def two_page_document() -> DocumentData:
    paragraph = "Сведения о переводах денежных средств на счета, открытые в банках второго уровня. " * 6
    sections = [Section(heading=f"Эпизод {n}", text=paragraph) for n in range(1, 5)]
    data = document(DocumentKind.REQUEST)
    return dataclasses.replace(data, sections=[*data.sections, *sections])


def test_a_two_page_document_is_numbered_page_1_of_2_and_page_2_of_2(render_artefacts: Path) -> None:
    rendered = render(two_page_document())
    assert rendered.pages == 2  # the fixture's text is sized for two pages

    pages = [flat(pdf_text_page(rendered.pdf, n)) for n in (1, 2)]

    assert "Страница 1 из 2" in pages[0]
    assert "Страница 2 из 2" not in pages[0]
    assert "Страница 2 из 2" in pages[1]
    # The number and date are repeated at the foot of every page.
    assert all("№ KZ-AFM-2026-00017 от 23.11.2026" in page for page in pages)
    pdf_to_png(rendered.pdf, render_artefacts, name="two-pages")


def pdf_text_page(pdf: bytes, page: int) -> str:
    out = subprocess.run(
        [PDFTOTEXT, "-raw", "-enc", "UTF-8", "-f", str(page), "-l", str(page), "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode()


@pytest.mark.rule("P13")
def test_kazakh_and_armenian_letters_come_out_drawn_in_dejavu(render_artefacts: Path) -> None:
    data = document(
        DocumentKind.REQUEST,
        signatory_name=f"Әлия Қасымқызы Нұрғалиева {KAZAKH}",
        sections=[
            *document().sections,
            Section.of(SectionKey.OTHER_INFORMATION, f"Казахские буквы: {KAZAKH}. Армянский текст: {ARMENIAN}."),
        ],
    )
    pdf = render_pdf(data)
    text = flat(pdf_text(pdf))

    assert KAZAKH in text
    assert ARMENIAN in text
    assert "Әлия Қасымқызы Нұрғалиева" in text
    used = fonts(pdf)
    assert {"DejaVu-Serif", "DejaVu-Sans"} <= used
    assert all(name.startswith("DejaVu") for name in used), used  # no fallback font drew a letter
    pdf_to_png(pdf, render_artefacts, name="kazakh-armenian")


@pytest.mark.rule("P13")
def test_an_annex_in_kazakh_repeats_the_labels_in_kazakh_and_leaves_the_values_in_russian(
    render_artefacts: Path,
) -> None:
    rendered = render(document(DocumentKind.REFUSAL, annex_language="kk"))
    main = flat(pdf_text_page(rendered.pdf, 1))
    annex = flat(" ".join(pdf_text_page(rendered.pdf, n) for n in range(2, rendered.pages + 1)))

    assert rendered.signature_area.page == 0  # the signature is on the Russian original, not in the annex
    assert "Правовое основание" in main
    assert "Қосымша" not in main
    for label in (
        "Қосымша (Қазақ тілі)",
        "Сұрау салуды орындаудан бас тарту туралы хабарлама",
        "Құқықтық негіз",
        "Сұрау салуға жауап",
        "Себептер",
        "Қолы",
        "АДРЕСАТ",
        "№ KZ-AFM-2026-00017",
    ):
        assert label in annex, label
    # The values are those of the original, unchanged.
    for value in (SECTION_TEXT[SectionKey.REASONS], flat(LEGAL_BASIS), flat(ADDRESSEE.name), "А. Б. Сейтқалиев"):
        assert value in annex
        assert value in main
    assert "Приложение (Казахский)" in annex
    assert f"Бет: 2 / {rendered.pages}" in annex
    pdf_to_png(rendered.pdf, render_artefacts, name="refusal-annex-kk")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"title": "Т" * (MAX_TITLE + 1)}, {"title"}),
        ({"number": "№" * 41}, {"number"}),
        ({"annex_language": "xx"}, {"annex_language"}),
        ({"annex_language": "hy"}, {"annex_language"}),  # no catalogue of Armenian labels yet
        ({"sender": BodyHeading(name="О" * 301, party_name="")}, {"sender.name", "sender.party_name"}),
        ({"signatory_name": "", "signatory_position": "Д" * 301}, {"signatory_name", "signatory_position"}),
        ({"legal_basis": "Протокол\x00"}, {"legal_basis"}),
    ],
)
def test_a_value_that_does_not_fit_is_refused_field_by_field_and_nothing_is_rendered(
    changes: dict[str, object], fields: set[str]
) -> None:
    data = document(DocumentKind.REQUEST, **changes)
    result = None

    with pytest.raises(InvalidInput) as refused:
        result = render_pdf(data)

    assert result is None
    assert set(refused.value.errors) == fields
    assert all(refused.value.errors[name] for name in fields)


def test_a_section_longer_than_the_limit_is_refused_under_its_field_name() -> None:
    data = document(DocumentKind.REQUEST)
    long_text = "а" * (MAX_SECTION_TEXT + 1)
    sections = [Section.of(SectionKey.PURPOSE, long_text) if s.key == "purpose" else s for s in data.sections]
    custom = Section(heading="З" * 201, text=long_text)

    errors = check(dataclasses.replace(data, sections=[*sections, custom]))

    assert set(errors) == {"purpose", "sections.10.heading", "sections.10.text"}
    assert str(errors["purpose"][0]) == str(errors["sections.10.text"][0])
    with pytest.raises(InvalidInput):
        render_pdf(dataclasses.replace(data, sections=sections))


def test_the_fetcher_refuses_http_https_and_file_urls_and_allows_data_urls() -> None:
    fetcher = OfflineFetcher()

    for url in ("http://127.0.0.1/logo.png", "https://example.org/x.css", "file:///etc/passwd", "ftp://x/y"):
        with pytest.raises(RemoteFetchRefused):
            fetcher.fetch(url)
    assert fetcher.refused == [
        "http://127.0.0.1/logo.png",
        "https://example.org/x.css",
        "file:///etc/passwd",
        "ftp://x/y",
    ]
    response = fetcher.fetch("data:text/plain,ok")
    assert response.read() == b"ok"
    response.close()


class Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        Counting.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def render_http_server() -> Iterator[str]:
    """A real HTTP server on loopback that counts the requests it gets."""
    Counting.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_template_with_a_remote_image_or_stylesheet_fetches_nothing(render_http_server: str) -> None:
    html = (
        f'<html><head><link rel="stylesheet" href="{render_http_server}/style.css"></head>'
        f'<body><img src="{render_http_server}/logo.png"><p>Текст</p></body></html>'
    )
    fetcher = OfflineFetcher()

    pdf = html_to_document(
        html, stylesheets=[f'@import url("{render_http_server}/more.css");'], fetcher=fetcher
    ).write_pdf()

    assert pdf.startswith(b"%PDF")
    assert sorted(fetcher.refused) == sorted(
        f"{render_http_server}/{path}" for path in ("style.css", "logo.png", "more.css")
    )
    assert Counting.hits == []


def test_markup_in_a_value_is_printed_as_text_and_fetches_nothing(render_http_server: str) -> None:
    injected = f'<img src="{render_http_server}/x.png"> <b>жирный</b>'
    data = document(DocumentKind.RESULTS, title=injected)

    text = pdf_text(render_pdf(data))

    assert injected in text
    assert Counting.hits == []


def test_the_same_data_renders_to_the_same_bytes() -> None:
    # The archive keeps each document's SHA-256: rendering the same values again gives the same file.
    assert render_pdf(document(DocumentKind.CONDITIONS)) == render_pdf(document(DocumentKind.CONDITIONS))
    assert render_pdf(document(DocumentKind.CONDITIONS)) != render_pdf(document(DocumentKind.CONDITIONS, number="2"))


def test_the_signature_area_is_an_empty_box_on_the_signatory_page_for_the_signer() -> None:
    rendered = render(two_page_document())
    area = rendered.signature_area
    x1, y1, x2, y2 = area.box

    assert area.page == rendered.pages - 1
    assert 0 < x1 < x2 < 595  # inside A4, in points
    assert 0 < y1 < y2 < 842
    assert 150 < x2 - x1 < 200  # 32% of the text width
    assert 55 < y2 - y1 < 70  # 22 mm high
    # Only the "Подпись" caption is inside the box: nothing else overlaps where the signature goes.
    inside = subprocess.run(
        [
            PDFTOTEXT,
            "-enc",
            "UTF-8",
            "-f",
            str(area.page + 1),
            "-l",
            str(area.page + 1),
            "-x",
            str(int(x1)),
            "-y",
            str(int(842 - y2)),
            "-W",
            str(int(x2 - x1)),
            "-H",
            str(int(y2 - y1)),
            "-",
            "-",
        ],
        input=rendered.pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert flat(inside) == "Подпись"


def test_a_registry_body_gives_the_letterhead_its_russian_names(kz_body: Any, ru_body: Any) -> None:
    data = document(DocumentKind.RESULTS, sender=heading_for(ru_body), addressee=heading_for(kz_body))

    text = flat(pdf_text(render_pdf(data)))

    assert data.sender == BodyHeading(name=ru_body.name_ru, party_name="Российская Федерация", code=ru_body.code)
    assert "РОССИЙСКАЯ ФЕДЕРАЦИЯ Министерство внутренних дел Российской Федерации" in text
    assert "Министерство внутренних дел Республики Казахстан Республика Казахстан" in text
