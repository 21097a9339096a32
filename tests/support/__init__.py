"""Helpers shared by the test suite, each defined once (tests/test_suite_layout.py checks
that no other module defines them again, and that no module imports a test module or a
conftest.py):

- waits.py: `wait_for`, a condition polled until it holds, with a timeout.
- records.py: `make_dead` (a task dead-lettered through the broker's own scripts) and
  `register_worker` (a worker registry entry as a running worker writes it).
- tasks.py: the sample tasks the tests enqueue (registered when it is imported).
- web.py: users, API tokens, the JSON API's test client and a logged-in console client.
- workers.py: worker processes and in-process workers on the session's Redis (fixtures
  that a conftest.py imports), and `run_burst`.
- results.py: `finished`, a django.tasks result once its task is done.
"""
