from django.apps import AppConfig


class FedTestConfig(AppConfig):
    name = "tests.exchange.fedtest"
    label = "fedtest"

    def ready(self) -> None:
        from tests.exchange.fedtest import handlers

        handlers.install()
