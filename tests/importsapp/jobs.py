"""Tasks in a module that is not a tasks.py: one native, one django.tasks task."""

import django.tasks

import taskqueue


@taskqueue.task
def double(value):
    return 2 * value


@django.tasks.task
def shout(text):
    return text.upper()
