"""What the encryption tests share (tests/test_encryption.py and
tests/worker/test_encryption_worker.py): keys, plain values to search for, settings."""

from collections.abc import Iterator

from cryptography.fernet import Fernet

from taskqueue import client
from taskqueue.registry import registry

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
CARD = "4111-1111-1111-1111-plaintext-card"
TOKEN = "tok_live_plaintext_secret_token"


def use(settings, tq_settings, **options) -> None:
    """This process's TASKQUEUE: the test's own plus `options` (a fresh client)."""
    settings.TASKQUEUE = {**tq_settings, **options}
    client.reset()


def hidden(*tasks) -> tuple:
    """Tasks a test module defines, taken out of the registry until `registered_only`
    puts them back for each of its tests (a task that encrypts with no keys configured
    fails `manage.py check`: taskqueue.E019, in other modules' tests)."""
    for t in tasks:
        registry.unregister(t.name)
    return tasks


def registered_only(tasks) -> Iterator[None]:
    """The body of a module's autouse fixture: `tasks` registered during each test."""
    for t in tasks:
        registry.register(t)
    yield
    for t in tasks:
        registry.unregister(t.name)
