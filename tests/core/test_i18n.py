"""Every user-facing message is translated in ru, kk and en, and the compiled catalogues are current."""

from django.utils import translation

from cybercoop.core import i18n


def test_every_message_in_code_and_templates_is_in_each_catalogue_and_translated():
    problems = i18n.check()
    assert problems.missing == {"ru": [], "kk": [], "en": []}
    assert problems.untranslated == {"ru": [], "kk": [], "en": []}
    assert problems.fuzzy == {"ru": [], "kk": [], "en": []}
    assert problems.obsolete == {"ru": [], "kk": [], "en": []}
    assert problems.stale_mo == []


def test_extraction_finds_python_and_template_messages_with_plurals():
    extracted = i18n.extract()
    msgids = {m.msgid for m in extracted.messages.values()}
    assert "Sign in" in msgids  # templates
    assert "Head of body" in msgids  # Python (TextChoices)
    plural = [m for m in extracted.messages.values() if m.plural]
    assert any("entries" in m.plural for m in plural)


def test_the_catalogues_are_used_at_run_time():
    with translation.override("ru"):
        assert translation.gettext("Sign in") == "Войти"
    with translation.override("kk"):
        assert translation.gettext("Sign in") == "Кіру"
        # A Django message Django's own Kazakh catalogue leaves untranslated.
        assert translation.gettext("This password is too common.") != "This password is too common."
    with translation.override("en"):
        assert translation.gettext("Sign in") == "Sign in"
