"""The worker: `python manage.py runworker`. See docs/worker.md for its guarantees."""
