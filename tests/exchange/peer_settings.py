"""Settings of a peer node process in the federation tests: the node's own, plus the test kinds' app."""

from cybercoop.settings import *  # noqa: F403
from cybercoop.settings import INSTALLED_APPS, STORAGES

INSTALLED_APPS = [*INSTALLED_APPS, "tests.exchange.fedtest"]
# The peer serves only the federation endpoint: no collected static files needed.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
