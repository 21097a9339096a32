"""The beat schedule of a Celery project's celery.py (`app.conf.beat_schedule = ...`),
with crontab from taskqueue.celery_compat instead of celery.schedules."""

from datetime import timedelta

from taskqueue.celery_compat import crontab

beat_schedule = {
    "nightly-report": {
        "task": "tests.celeryapp.tasks.report",
        "schedule": crontab(minute=30, hour=3),
        "args": ("yesterday",),
        "options": {"queue": "reports"},
    },
    "sum-every-5-minutes": {
        "task": "tests.celeryapp.tasks.xsum",
        "schedule": timedelta(minutes=5),
        "kwargs": {"numbers": [1, 2, 3]},
    },
    "weekday-mornings": {
        "task": "tests.celeryapp.tasks.add",
        "schedule": crontab(minute=0, hour=7, day_of_week="mon-fri"),
        "args": (1, 2),
    },
}
