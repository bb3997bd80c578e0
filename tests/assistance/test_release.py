"""Exporting information received, or passing it to another body (P10.2): only with the providing body's consent to
that use and that target; it leaves as a ZIP package whose conditions sheet (in Russian) carries its purposes,
conditions and consent (P7.7); refused with the reason otherwise, and nothing is recorded."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import translation

from cybercoop.assistance import services
from cybercoop.assistance.models import ReleasedInformation
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput, RuleViolation
from tests.assistance.conftest import LOGS
from tests.assistance.test_api import Caller
from tests.assistance.test_consent import ask, logs, pending_request

pytestmark = [pytest.mark.django_db, pytest.mark.rule("P10.2")]

PROSECUTOR = "Генеральная прокуратура Российской Федерации"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def release(actor, case, use="transfer", target=PROSECUTOR, sha256=None):
    return services.release_information(
        actor=actor, case=case, attachment_sha256=sha256 or logs(case).sha256, use=use, target=target
    )


def grant(case, kz_head, conditions=("Не передавать третьим лицам",)):
    services.reply_to_consent(
        actor=kz_head, case=case, request_id=pending_request(case).id, granted=True, conditions=list(conditions)
    )


def test_passing_on_waits_for_the_consent_and_the_package_carries_its_conditions(with_results, ru_officer, kz_head):
    case = with_results
    with pytest.raises(RuleViolation) as refused:
        release(ru_officer, case)
    assert "ask its consent first" in str(refused.value.message)
    ask(ru_officer, case, PROSECUTOR, use="transfer")
    with pytest.raises(RuleViolation) as refused:
        release(ru_officer, case)
    assert "still to answer" in str(refused.value.message)
    assert not ReleasedInformation.objects.exists()

    grant(case, kz_head)
    # A consent to pass it to the prosecutor is not a consent to export it, nor to pass it to anyone else.
    with pytest.raises(RuleViolation):
        release(ru_officer, case, use="export")
    with pytest.raises(RuleViolation):
        release(ru_officer, case, target="Следственный комитет")

    released = release(ru_officer, case, target=f"  {PROSECUTOR.upper()} ")
    record = released.record
    assert (record.use, record.provided_by.code, record.released_by) == ("transfer", "KZ-MIA", ru_officer)
    assert record.conditions == ["Только для уголовного дела", "Не передавать третьим лицам"]
    with zipfile.ZipFile(io.BytesIO(released.package)) as package:
        assert package.read("logs.zip") == LOGS
        sheet = package.read("УСЛОВИЯ-ИСПОЛЬЗОВАНИЯ.txt").decode("utf-8")
    assert "Уголовное дело № 12601450001000217" in sheet  # the purposes
    assert "Только для уголовного дела" in sheet  # the condition accepted (P7.7)
    assert "Не передавать третьим лицам" in sheet  # the consent's own
    assert logs(case).sha256 in sheet
    entry = AuditEntry.objects.get(action="assistance:information:released")
    assert entry.data["use"] == "transfer"
    assert PROSECUTOR not in str(entry.data)  # metadata only


def test_a_refused_consent_is_the_reason_given(with_results, ru_officer, kz_head):
    ask(ru_officer, with_results, "Архив", use="export")
    services.reply_to_consent(
        actor=kz_head, case=with_results, request_id=pending_request(with_results).id, granted=False, reason="Тайна"
    )
    with pytest.raises(RuleViolation) as refused:
        release(ru_officer, with_results, use="export", target="Архив")
    assert "refused its consent to this use: Тайна" in str(refused.value.message)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"use": "case"}, "use"),
        ({"target": "  "}, "target"),
        ({"target": "x" * 301}, "target"),
        ({"sha256": "0" * 64}, "attachment"),
    ],
)
def test_bad_input_is_refused_field_by_field(with_results, ru_officer, changes, field):
    before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput) as error:
        release(ru_officer, with_results, **changes)
    assert field in error.value.errors
    assert not ReleasedInformation.objects.exists()
    assert AuditEntry.objects.count() == before


def test_the_body_that_provided_it_does_not_release_its_own_file_through_this(with_results, kz_officer):
    with pytest.raises(InvalidInput) as error:
        release(kz_officer, with_results)
    assert list(error.value.errors) == ["attachment"]


def test_the_screen_and_the_api_give_the_package_as_a_download(with_results, ru_officer, kz_head, client):
    case = with_results
    ask(ru_officer, case, PROSECUTOR, use="transfer")
    client.force_login(ru_officer)
    url = reverse("assistance:release", args=[case.pk])
    data = {"attachment": logs(case).sha256, "use": "export", "target": PROSECUTOR}
    refused = client.post(url, data)
    assert refused.status_code == 409
    assert 'data-testid="action-release"' in refused.content.decode()
    grant(case, kz_head)
    answer = client.post(url, {**data, "use": "transfer"})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/zip"
    assert answer["Content-Disposition"].startswith("attachment;")
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content))).read("logs.zip") == LOGS
    page = client.get(reverse("assistance:case", args=[case.pk])).content.decode()
    assert 'data-testid="file-released"' in page
    api = Caller(client, ru_officer)
    answer = api.post(f"/{case.pk}/release", {"attachment": logs(case).sha256, "use": "transfer", "target": PROSECUTOR})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/zip"
    assert (
        api.post(f"/{case.pk}/release", {"attachment": logs(case).sha256, "use": "export", "target": "X"}).json()[
            "rule"
        ]
        == "P10.2"
    )
    assert ReleasedInformation.objects.count() == 2
