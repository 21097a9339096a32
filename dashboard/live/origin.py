"""The WebSocket's origin check, as strict as Django's CSRF origin check: the page that
opens the socket must come from exactly the host and port the socket was opened on (or
from an origin in CSRF_TRUSTED_ORIGINS). Channels' AllowedHostsOriginValidator, which
runs first, compares host names only, so any port of an allowed host would pass it."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(scope) -> bool:
    headers = dict(scope.get("headers", ()))
    origin = headers.get(b"origin", b"").decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    if not origin or not host:
        return False
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        return True
    parts = urlsplit(origin)  # (the scheme may differ behind a TLS-terminating proxy)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
