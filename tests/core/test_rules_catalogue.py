"""The rule catalogue is complete, and every ID cited in code or tests is one of its IDs."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from cybercoop.core import rules_ref

ROOT = Path(__file__).resolve().parents[2]


def test_catalogue_holds_every_rule_of_both_documents_in_three_languages():
    rules = rules_ref.catalogue()
    protocol = [r for r in rules.values() if r.document == "protocol"]
    recommendations = [r for r in rules.values() if r.document == "recommendations"]
    assert len(protocol) == 43
    assert [r.id for r in recommendations] == [f"R{n}" for n in range(1, 11)]
    for rule in rules.values():
        for language in ("ru", "kk", "en"):
            assert rule.title[language].strip(), (rule.id, language)
            assert rule.text[language].strip(), (rule.id, language)
    # The articles the product's workflow stands on are all there.
    for rule_id in ("P4.3", "P6.2", "P6.4", "P6.5", "P7.2", "P7.4", "P9.2", "P10.2", "P16.1", "P18", "P19"):
        assert rule_id in rules


def test_rule_text_follows_the_active_language():
    rule = rules_ref.catalogue()["P13"]
    assert "русский" in rule.localized_text("ru").lower()
    assert rule.localized_text("kk") != rule.localized_text("ru")
    assert rule.localized_title("xx") == rule.title["ru"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# P7.4: forward within 3 days", ["P7.4"]),
        ('"""Refuse a request (P9.1, P9.2)."""', ["P9.1", "P9.2"]),
        ("x = 1  # see P18 and R9", ["P18", "R9"]),
        ("# HTTP2 and AP7.4 and P7.4x are not rule IDs", []),
        ("value = 'P16.1.'", ["P16.1"]),
    ],
)
def test_citations_are_found_in_comments_and_strings(source, expected):
    assert [rule_id for rule_id, _line in rules_ref.cited_ids(source)] == expected


def test_citations_in_code_are_not_found_in_names():
    name, argument = "P" + "7", "R" + "9"  # built here, so this file itself cites nothing unknown
    assert rules_ref.cited_ids(f"{name} = compute({argument})\n") == []


def test_rule_marks_are_found_with_the_test_name():
    source = (
        "import pytest\n"
        "@pytest.mark.rule('P7.4', 'P7.2')\n"
        "def test_forward():\n    pass\n"
        "class TestRefusal:\n"
        "    @pytest.mark.rule('P9.2')\n"
        "    def test_reasons(self):\n        pass\n"
    )
    found = rules_ref.marked_ids(source)
    assert ("P7.4", 2, "test_forward") in found
    assert ("P7.2", 2, "test_forward") in found
    assert ("P9.2", 6, "TestRefusal::test_reasons") in found


def test_an_unknown_id_in_a_file_is_reported(tmp_path):
    bogus = "P" + "99.9"  # built here, so this file itself stays clean
    (tmp_path / "module.py").write_text(f"# applies {bogus}\n")
    found = rules_ref.scan([tmp_path], [], base=tmp_path)
    assert [(c.rule_id, c.path, c.line) for c in found.unknown()] == [(bogus, "module.py", 1)]


def test_no_code_or_test_in_the_project_cites_an_unknown_rule():
    found = rules_ref.scan([ROOT / "src", ROOT / "tests", ROOT / "bench"], [ROOT / "tests"], base=ROOT)
    assert found.unknown() == []


def test_rules_report_lists_every_rule_with_its_code_and_tests(capsys):
    call_command("rules", "report", "--format", "json")
    report = json.loads(capsys.readouterr().out)
    rows = {row["id"]: row for row in report["rules"]}
    assert len(rows) == len(rules_ref.catalogue())
    assert report["unknown"] == []
    # The default-language test of the sign-in page is marked P13; the settings cite P13.
    assert any("tests/accounts/test_views.py" in test for test in rows["P13"]["tests"])
    assert any("settings.py" in place for place in rows["P13"]["code"])


def test_rules_report_fails_on_an_unknown_id(tmp_path, capsys):
    (tmp_path / "code").mkdir()
    bogus = "R" + "42"
    (tmp_path / "code" / "bad.py").write_text(f"# {bogus}\n")
    with pytest.raises(SystemExit) as exit_info:
        call_command("rules", "report", "--code", str(tmp_path / "code"), "--tests", str(tmp_path))
    assert exit_info.value.code == 1
    assert bogus in capsys.readouterr().err
