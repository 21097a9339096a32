"""The console. So far: the overview, one card per queue."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from taskqueue import inspect
from taskqueue.errors import TaskDoesNotExist


@login_required
def overview(request):
    summaries = [inspect.queue_summary(name) for name in inspect.queues()]
    return render(request, "dashboard/overview.html", {"summaries": summaries})


@login_required
def task_detail(request, task_id: str):
    try:
        task = inspect.get_task(task_id)
    except TaskDoesNotExist:
        raise Http404("No such task") from None
    return render(request, "dashboard/task_detail.html", {"task": task})
