"""`manage.py reencrypt`: after adding a new first key to TASKQUEUE["ENCRYPTION_KEYS"],
encrypt every stored encrypted argument and result again with it, so the older keys
can be dropped (docs/tasks.md#encrypted-arguments)."""

from django.core.management.base import BaseCommand, CommandError

from taskqueue.client import get_broker
from taskqueue.encryption import reencrypt_stored
from taskqueue.errors import TaskQueueError
from taskqueue.registry import registry


class Command(BaseCommand):
    help = (
        "Encrypt every stored encrypted task argument and result again with the first "
        "of TASKQUEUE['ENCRYPTION_KEYS'] (key rotation)."
    )

    def handle(self, *args, **options) -> None:
        try:
            rewritten, failed = reencrypt_stored(get_broker(), registry)
        except TaskQueueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted {rewritten} task record(s) with the first key.")
        if failed:
            raise CommandError(
                f"{failed} record(s) hold a value none of TASKQUEUE['ENCRYPTION_KEYS'] "
                "decrypts: left as they are (their workers dead-letter them). Keep the "
                "key that encrypted them until they are gone."
            )
