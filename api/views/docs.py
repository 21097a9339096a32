"""/openapi.json: the API's OpenAPI 3.1 document. Public: it holds no secrets."""

from ..openapi import document
from ..routing import PUBLIC, requires
from .common import ok


@requires(PUBLIC)
def openapi(request, principal):
    return ok(document())
