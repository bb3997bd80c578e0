import pytest

from tests.assistance.factories import protocol_between


@pytest.fixture
def protocol(kz_body, ru_body, outsider_body):
    """The Protocol in force between Kazakhstan, Russia and Armenia, their bodies designated."""
    return protocol_between(kz_body, ru_body, outsider_body)
