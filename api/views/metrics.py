"""/metrics: Prometheus text exposition, built fresh on every scrape."""

from django.http import HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ..conf import api_settings
from ..metrics import TaskQueueCollector
from ..routing import requires


def from_open_network(request) -> bool:
    return api_settings().metrics_public_for(request.META.get("REMOTE_ADDR"))


@requires("read", unless=from_open_network)
def metrics(request, principal):
    registry = CollectorRegistry(auto_describe=False)
    collector = TaskQueueCollector()
    collector.read()  # Redis trouble surfaces here, as a 503, before any text is written
    registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
