"""HTTP for daphne: Django's synchronous (WSGI) request handling, one thread per request.

Every view of the console and the API is synchronous. Under Django's own ASGI handler
each request would hop between the event loop and a fresh per-request thread for every
middleware, both ways: measured here, that costs about 8 ms a request against under
3 ms through asgiref's WSGI adapter, which hands the whole request to one thread once.
The stock adapter runs all requests on a single shared thread; this one uses the
thread pool, so one slow page does not hold up the others, and each pool thread keeps
its database connection (CONN_MAX_AGE) from one request to the next.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from asgiref.wsgi import WsgiToAsgi, WsgiToAsgiInstance
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404

# Threads serving HTTP requests (WEB_THREADS). Not the event loop's small default
# executor: a few slow requests (a login hashes its password for ~0.4 s) must not
# starve the rest. Each thread may hold a database connection.
POOL = ThreadPoolExecutor(int(os.environ.get("WEB_THREADS", "16")), thread_name_prefix="http")


class _PooledInstance(WsgiToAsgiInstance):
    run_wsgi_app = sync_to_async(
        WsgiToAsgiInstance.__dict__["run_wsgi_app"].func, thread_sensitive=False, executor=POOL
    )

    def build_environ(self, scope, body):
        """A chunked request has no Content-Length; WSGI (Django's LimitedStream) would
        then read nothing. The body is spooled whole by now, so state its length."""
        environ = super().build_environ(scope, body)
        if not environ.get("CONTENT_LENGTH"):
            environ["CONTENT_LENGTH"] = str(body.seek(0, 2))
            body.seek(0)
        return environ


class PooledWsgiToAsgi(WsgiToAsgi):
    def __init__(self, wsgi_application, **kwargs):
        super().__init__(_closing(wsgi_application), **kwargs)

    async def __call__(self, scope, receive, send):
        await _PooledInstance(self.wsgi_application, self.duplicate_header_limit)(
            scope, receive, send
        )


def _closing(app):
    """The adapter iterates the response but never calls its close(), which is what
    sends Django's request_finished (closing database connections past their age,
    uploaded temp files, file responses): close it once the body is sent."""

    def run(environ, start_response):
        response = app(environ, start_response)
        try:
            yield from response
        finally:
            response.close()

    return run


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files handler, with a 404 (not a 500) for a path that tries to
    leave the static directories (`..%2f`): safe_join refuses it either way."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("No such file.") from None
