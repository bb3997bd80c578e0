"""The Protocol's glossary: the eight terms of Article 1 in three languages, as data, help text and a page."""

import pytest
from django import forms
from django.utils import translation

from cybercoop.core import glossary

ARTICLE_1_ORDER = [
    "information_sphere",
    "information_space",
    "information_infrastructure",
    "information_resources",
    "it_crime",
    "computer_information",
    "competent_body",
    "information_technologies",
]


@pytest.mark.rule("P1")
def test_the_glossary_holds_the_eight_terms_of_article_1_in_order_in_three_languages():
    terms = glossary.terms()
    assert [t.slug for t in terms] == ARTICLE_1_ORDER
    for term in terms:
        for language in ("ru", "kk", "en"):
            assert term.term[language].strip(), (term.slug, language)
            assert term.definition[language].strip(), (term.slug, language)


@pytest.mark.rule("P1")
def test_the_terms_are_the_treatys_own_words():
    competent_body = glossary.get("competent_body")
    assert competent_body.term == {
        "ru": "уполномоченный компетентный орган",
        "kk": "уәкілетті құзыретті орган",
        "en": "authorised competent body",
    }
    it_crime = glossary.get("it_crime")
    assert it_crime.localized_term("ru") == "преступление в сфере информационных технологий"
    assert "қасақана жасалған қоғамға қауіпті әрекет" in it_crime.localized_definition("kk")
    assert "intentional socially dangerous act" in it_crime.localized_definition("en")


def test_an_unknown_language_falls_back_to_russian():
    term = glossary.get("computer_information")
    assert term.localized_term("xx") == term.term["ru"] == "компьютерная информация"
    assert term.localized_definition("xx") == term.definition["ru"]
    with translation.override("xx"):
        assert term.localized_term() == term.term["ru"]


def test_the_active_language_is_used_by_default():
    term = glossary.get("information_space")
    with translation.override("kk"):
        assert term.localized_term() == "ақпарат кеңістігі"
    with translation.override("en"):
        assert term.localized_term() == "information space"


def test_an_unknown_slug_is_refused_at_once():
    with pytest.raises(KeyError):
        glossary.help_text("no_such_term")


@pytest.mark.rule("P1")
def test_help_text_renders_the_definition_in_the_language_active_when_shown():
    help_text = glossary.help_text("competent_body")  # made once, as at a form module's import
    definitions = glossary.get("competent_body").definition
    for language in ("ru", "kk", "en"):
        with translation.override(language):
            assert str(help_text) == definitions[language]


@pytest.mark.rule("P1")
def test_a_form_field_shows_the_definition_as_its_help_text():
    class BodyForm(forms.Form):
        body = forms.CharField(help_text=glossary.help_text("competent_body"))

    with translation.override("kk"):
        html = str(BodyForm()["body"].help_text)
    assert html == glossary.get("competent_body").definition["kk"]


@pytest.mark.rule("P1")
def test_the_glossary_page_is_public_and_lists_the_terms_in_russian_by_default(client, db):
    r = client.get("/glossary/")
    assert r.status_code == 200
    html = r.content.decode()
    for term in glossary.terms():
        assert f'id="{term.slug}"' in html
        assert term.term["ru"][1:] in html  # shown with a capital first letter
        assert term.definition["ru"] in html
    # The other languages' terms are there too, marked with their language.
    assert '<span lang="kk">' in html
    assert "authorised competent body" in html


@pytest.mark.rule("P1")
def test_the_glossary_page_follows_the_language_cookie(client, db):
    client.cookies["cybercoop_language"] = "kk"
    r = client.get("/glossary/")
    assert r.status_code == 200
    assert r["Content-Language"] == "kk"
    html = r.content.decode()
    for term in glossary.terms():
        assert term.definition["kk"] in html
    assert "Уәкілетті құзыретті орган" in html


def test_the_footer_links_the_glossary_for_signed_out_visitors(client, db):
    html = client.get("/rules/").content.decode()
    assert 'href="/glossary/"' in html


def test_the_main_menu_links_the_glossary_and_marks_the_current_page(client, kz_officer):
    client.force_login(kz_officer)
    html = client.get("/glossary/").content.decode()
    assert '<a href="/glossary/" aria-current="page">' in html
