"""The django.tasks backend: Django's own Tasks API on taskqueue's Redis queue and worker.

    TASKS = {"default": {"BACKEND": "taskqueue.backends.RedisTaskBackend"}}

task.py       RedisTask, the backend's task_class: @task(**options) carries our options
results.py    a task record as a django.tasks TaskResult
execution.py  what the worker runs for a Django task: the call, its context, the signals
checks.py     what backend.check() reports
backend.py    RedisTaskBackend (priorities: taskqueue/priority.py)

See docs/django-tasks.md.
"""
