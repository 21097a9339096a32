from django.apps import AppConfig
from django.core.signals import setting_changed

from . import client, conf, unserved
from .discovery import import_task_modules


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's place for it: the checks register themselves when imported, once the
        # app registry is ready.
        from . import checks  # noqa: F401

        setting_changed.connect(_on_setting_changed)
        # every app's tasks.py, then TASKQUEUE["IMPORTS"], in web processes and workers
        # alike, so a task name resolves the same everywhere (discovery.py)
        import_task_modules()


def _on_setting_changed(setting: str, **kwargs) -> None:
    if setting == "TASKQUEUE":
        conf.reset_config()
        client.reset()
        unserved.reset()
