from django.apps import AppConfig


class DevserverConfig(AppConfig):
    """`manage.py runall`: the whole product in one command (Redis, web, a worker, the
    demo) for development and demos. Part of the project, not of the engine."""

    name = "devserver"
    verbose_name = "Development server"
