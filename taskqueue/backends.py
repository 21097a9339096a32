"""The django.tasks backend (see docs/django-tasks.md):

TASKS = {"default": {"BACKEND": "taskqueue.backends.RedisTaskBackend"}}
"""

from .djangotasks.backend import RedisTaskBackend
from .djangotasks.execution import ReturnValueNotJSON
from .djangotasks.task import RedisTask

__all__ = ["RedisTask", "RedisTaskBackend", "ReturnValueNotJSON"]
