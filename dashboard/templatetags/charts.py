"""The Charts page's inline SVG charts (docs/console.md#charts): each tag draws one
chart of a taskqueue.history.History, from dashboard/charts.py's geometry."""

from django import template

from taskqueue.history import History

from .. import charts

register = template.Library()


@register.inclusion_tag("dashboard/_chart_bars.html")
def throughput_chart(history: History) -> dict:
    """Completed and failed per bucket, stacked bars."""
    return {"chart": charts.throughput_chart(history), "span": history.span}


@register.inclusion_tag("dashboard/_chart_lines.html")
def wait_chart(history: History) -> dict:
    """Wait (ready -> start) p50 and p95 per bucket."""
    return {"chart": charts.wait_chart(history), "span": history.span}
