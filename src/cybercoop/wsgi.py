"""WSGI entry point for the production server (`cybercoop serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cybercoop.settings")
application = get_wsgi_application()
