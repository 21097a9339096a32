"""/metrics: Prometheus text exposition, built fresh on every scrape. A caller limited
to queues gets its queues' series only (no worker, workflow or global-key series); a
token limited to tenants gets taskqueue_tenant_backlog of its own tenants only."""

from dataclasses import replace

from django.http import HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from taskqueue.inspect import WorkflowCounters

from ..conf import api_settings
from ..metrics import TaskQueueCollector
from ..routing import requires
from .tenants import visible


def from_open_network(request) -> bool:
    return api_settings().metrics_public_for(request.META.get("REMOTE_ADDR"))


@requires("read", unless=from_open_network)
def metrics(request, principal):
    registry = CollectorRegistry(auto_describe=False)
    collector = TaskQueueCollector()
    collector.read()  # Redis trouble surfaces here, as a 503, before any text is written
    if principal is not None and principal.queues.limited:
        _only(collector, principal.queues)
    if principal is not None:
        collector.tenants = {
            q: replace(t, top=visible(principal, t.top)) for q, t in collector.tenants.items()
        }
    registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _only(collector: TaskQueueCollector, scope) -> None:
    """Keep what the collector read of the visible queues; drop what spans them all."""
    collector.summaries = [s for s in collector.summaries if scope.can_see(s.name)]
    collector.histograms = {q: h for q, h in collector.histograms.items() if scope.can_see(q)}
    collector.tenants = {q: t for q, t in collector.tenants.items() if scope.can_see(q)}
    collector.waits = [w for w in collector.waits if scope.can_see(w.queue)]
    collector.limits = {q: lim for q, lim in collector.limits.items() if scope.can_see(q)}
    collector.workers = [w for w in collector.workers if scope.sees_any(w.queues)]
    collector.global_damage, collector.global_quarantined = [], 0
    collector.workflow_counters, collector.blocked_workflows = WorkflowCounters(), 0
