"""The ASGI entry point (daphne config.asgi:application): HTTP for the console and the
API, and the console's WebSocket (`/ws/dashboard/`). HTTP runs on Django's synchronous
handler in a thread pool (config/http.py explains why); /static/ is answered before
Django by ServeStatic, an ASGI-native static files server, from the static files
finders' folders (config/static_files.py), so the product runs without a separate web
server or a collectstatic step.

Served by daphne, request bodies over WEB_MAX_BODY_BYTES are refused by the server
itself, as they arrive (config/webserver.py, installed below): daphne would otherwise
hold the whole body in memory before any of this code runs.

Like the workers, the web process refuses a Redis on the network with neither a
password nor TLS (taskqueue/safety.py); it checks the URL only, at import, so daphne
exits with the message. The eviction and persistence warnings are the workers' and
runall's (they need a round trip to Redis)."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from taskqueue import conf, safety  # noqa: E402

safety.refuse_insecure(conf.get_config())  # no unprotected network Redis (no I/O here)

# Served by daphne (its CLI, runall, the tests): refuse oversized bodies as they arrive.
if "daphne.server" in sys.modules:
    from config import webserver

    webserver.install()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402

from config.http import PooledWsgiToAsgi  # noqa: E402
from config.static_files import serve_static  # noqa: E402
from dashboard.live.origin import SameOriginValidator  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": serve_static(PooledWsgiToAsgi(WSGIHandler())),
        # Only pages served from ALLOWED_HOSTS may open the socket; the consumer
        # then refuses anonymous users and users without the console permission.
        "websocket": AllowedHostsOriginValidator(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
