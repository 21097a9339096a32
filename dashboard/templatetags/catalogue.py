"""The task page's "Task" box: what the catalogue says of a task instance's name."""

from django import template

from taskqueue.registry import registry

from ..catalogue import Entry, entry_of

register = template.Library()


@register.simple_tag
def catalogue_entry(name: object) -> Entry | None:
    """The catalogue's entry for a task name, or None when this process has no task of
    that name registered (read from the code only: no Redis)."""
    if not isinstance(name, str) or name not in registry:
        return None
    return entry_of(registry.get(name))
