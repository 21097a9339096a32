"""A broken twin of `manage.py runworker` for the network scenarios: patches the
connection policy in this process only, then runs the management command.

    python tests/faults/net_broken_worker.py runworker ...

It takes away what lets a worker notice a silent peer: no socket timeout, no TCP
keepalive, no health check. Behind a black-holed connection its next Redis call waits
for ever, so the hang check of R8 must single it out.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _no_socket_timeout() -> None:
    from taskqueue.broker import connection as client

    policy = client.policy

    def patched(url, socket_timeout, retry):
        options = policy(url, socket_timeout, retry)
        options.update(socket_timeout=None, socket_keepalive=False, health_check_interval=0)
        return options

    client.policy = patched


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    _no_socket_timeout()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
