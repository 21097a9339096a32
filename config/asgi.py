"""The ASGI entry point (daphne config.asgi:application): HTTP now, WebSockets for the
console once its consumers land. Static files are served by Django's ASGI handler, so
the product runs without a separate web server or a collectstatic step."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

application = ASGIStaticFilesHandler(django_asgi)
