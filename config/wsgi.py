"""The WSGI entry point, for a deployment behind a WSGI server (the console's live
updates need ASGI: config/asgi.py). Like config/asgi.py it refuses, at import, a Redis
on the network with neither a password nor TLS (taskqueue/safety.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from taskqueue import conf, safety  # noqa: E402

safety.refuse_insecure(conf.get_config())  # no unprotected network Redis (no I/O here)
