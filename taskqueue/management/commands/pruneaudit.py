"""`manage.py pruneaudit --older-than 365d`: the only way audit events go."""

from django.core.management.base import BaseCommand, CommandError

from taskqueue.errors import ValidationError
from taskqueue.management.cli import add_user_option, cli_actor
from taskqueue.retention import DELETE_BATCH, parse_age, prune_audit


class Command(BaseCommand):
    help = (
        "Delete audit events older than an age (e.g. 365d, 12h, 2w), in batches. "
        "Records one audit event of its own."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE")
        parser.add_argument("--batch", type=int, default=DELETE_BATCH, metavar="N")
        add_user_option(parser)

    def handle(self, *args, older_than: str, batch: int, user: str | None, **options):
        try:
            age = parse_age(older_than)
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        if batch < 1:
            raise CommandError(f"--batch must be at least 1, not {batch}.")
        deleted = prune_audit(cli_actor(user), age, batch=batch)
        self.stdout.write(f"Deleted {deleted} audit event(s) older than {older_than}.")
