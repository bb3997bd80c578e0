import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cybercoop.assistance import services
from tests.assistance.factories import protocol_between, sent


@pytest.fixture
def protocol(kz_body, ru_body, outsider_body):
    """The Protocol in force between Kazakhstan, Russia and Armenia, their bodies designated."""
    return protocol_between(kz_body, ru_body, outsider_body)


LOGS = b"PK\x03\x04 connection logs of 203.0.113.17"
PURPOSES = ["Уголовное дело № 12601450001000217"]


@pytest.fixture
def with_results(protocol, ru_officer, ru_head, kz_body, kz_officer, kz_head):
    """A request of the Russian body, executed by the Kazakh body, whose results came with a file (logs.zip),
    after the Russian body accepted a condition of the Kazakh body (P7.7)."""
    case = sent(ru_officer, ru_head, kz_body, protocol, purposes=PURPOSES)
    case = services.register_receipt(actor=kz_officer, case=case)
    case = services.propose_conditions(
        actor=kz_officer, case=case, conditions=["Только для уголовного дела"], reason="Закон о связи"
    )
    case = services.reply_to_conditions(actor=ru_officer, case=case, accepted=True)
    return services.send_results(
        actor=kz_officer,
        case=case,
        summary="Журналы подключений прилагаются.",
        uploads=[SimpleUploadedFile("logs.zip", LOGS)],
    )
