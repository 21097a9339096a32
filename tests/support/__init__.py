"""Helpers shared by the test suite, each defined once:

- records.py: `make_dead` (a task dead-lettered through the broker's own scripts) and
  `register_worker` (a worker registry entry as a running worker writes it).
- tasks.py: the sample tasks the tests enqueue (registered when it is imported).
- web.py: users, API tokens, the JSON API's test client and a logged-in console client.
"""
