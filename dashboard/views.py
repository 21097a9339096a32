"""The console. So far: the overview, one card per queue."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from taskqueue import inspect


@login_required
def overview(request):
    summaries = [inspect.queue_summary(name) for name in inspect.queues()]
    return render(request, "dashboard/overview.html", {"summaries": summaries})
