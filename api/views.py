"""The JSON API (plain Django views). Only the health endpoint exists so far."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from taskqueue.client import get_broker
from taskqueue.errors import BrokerUnavailable


@require_GET
def health(request):
    """200 when Redis answers, 503 with the reason otherwise. No authentication."""
    try:
        get_broker().time_ms()
    except BrokerUnavailable as exc:
        return JsonResponse({"status": "unavailable", "reasons": [str(exc)]}, status=503)
    return JsonResponse({"status": "ok", "reasons": []})
