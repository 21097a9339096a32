"""/queues/{name}/tenants: the tenants with the largest backlogs in a queue
(docs/api.md#tenants), read through taskqueue.flow: how many tenants have unfinished
tasks there, the 20 largest, and the queue's tenant quota. Queue restrictions apply
as on every queue endpoint: another queue is the 404 of a queue not in use. A token
limited to tenants finds only its own among the 20 (another tenant's name is not
its to see); the count is an aggregate, as a queue's counts are."""

from taskqueue import flow
from taskqueue.text import as_text

from ..routing import requires
from .common import ok
from .queues import known_queue

TOP = 20  # tenants listed; the rest are counted in "tenants"


@requires("read")
def tenants(request, principal, name: str):
    queue = known_queue(name, principal)
    backlogs = flow.tenant_backlogs(queue, top=TOP)
    top = [{"tenant": as_text(t), "backlog": n} for t, n in visible(principal, backlogs.top)]
    quota = flow.queue_limits(queue).tenant_backlog
    return ok({"queue": queue, "tenants": backlogs.tenants, "top": top, "tenant_backlog": quota})


def visible(principal, top: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (tenant, backlog) pairs the caller may see (a principal without tenant
    restrictions, or not limited to tenants, sees them all)."""
    if getattr(principal, "tenants", None) is None:
        return top
    return [(t, n) for t, n in top if principal.can_see_tenant(t)]
