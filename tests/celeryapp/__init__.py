"""A Celery project's tasks, moved to taskqueue by changing only their imports
(`from celery import ...` -> `from taskqueue.celery_compat import ...`).
tests/test_celery_compat.py runs them on a real worker."""
