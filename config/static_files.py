"""/static/ served by ServeStatic's ASGI application, in front of Django.

Why not Django's own ASGI static files handler: it streams a file through
`sync_to_async` in the request's thread-sensitive context, and when that context's
executor had already quit (a client going away mid-response, a busy event loop) the
request failed with `RuntimeError: CurrentThreadExecutor already quit or is broken` —
seen once in four runs of a browser suite, as a page whose console.js never loaded.
ServeStatic (a maintained fork of WhiteNoise with native ASGI support) answers from the
event loop: headers from a table built at start, the body read by a thread of the
file's own, no Django request and no thread-sensitive executor involved.

What it serves: the same files as Django's static files finders, found the same way
(STATICFILES_DIRS first, then each installed app's static/ in INSTALLED_APPS order; the
first file found wins), so no `collectstatic` step is needed.

- DEBUG: `autorefresh`: each request looks the file up on disk, so an edited or new
  file is served at once; `Cache-Control: max-age=0` (the browser revalidates with the
  ETag / Last-Modified and gets a 304 when nothing changed).
- Otherwise: the folders are scanned once, at start (file list, sizes, types,
  ETags); a file added or changed later is served after a restart. `Cache-Control:
  max-age=60, public`.

Anything not found (a path outside the folders, `..`, a file that does not exist)
goes on to Django, which answers 404.
"""

import os

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from servestatic import ServeStaticASGI

MAX_AGE_S = 60  # Cache-Control max-age outside DEBUG


def static_roots() -> list[tuple[str, str]]:
    """(folder, URL prefix) of every folder the static files finders search, in their
    order (the first holding a file is the one Django's finders return)."""
    roots: list[tuple[str, str]] = []
    for finder in get_finders():
        storages = getattr(finder, "storages", {})
        for storage in storages.values():
            root = getattr(storage, "location", None)
            if root and os.path.isdir(root):
                prefix = getattr(storage, "prefix", None) or ""
                url = settings.STATIC_URL.rstrip("/") + "/" + prefix.strip("/")
                roots.append((os.fspath(root), url.rstrip("/") + "/"))
    return roots


def serve_static(application):
    """`application` behind ServeStatic, which answers requests for /static/ files."""
    debug = settings.DEBUG
    server = ServeStaticASGI(
        application,
        autorefresh=debug,
        max_age=0 if debug else MAX_AGE_S,
        allow_all_origins=False,  # as Django served them: no CORS header
        add_headers_function=_nosniff,
    )
    # A later folder overrides an earlier one (ServeStatic), so add them last first.
    for root, prefix in reversed(static_roots()):
        server.add_files(root, prefix)
    return server


def _nosniff(headers, path: str, url: str) -> None:
    """The type given is the type meant (Django's pages say so too)."""
    headers["X-Content-Type-Options"] = "nosniff"
