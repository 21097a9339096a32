"""`manage.py createapitoken --user NAME --scopes read,enqueue,operate [--name N]
[--queues emails,reports] [--tenant acme]`: create an API token and print its secret
(once; only its hash is stored). With --queues the token touches those queues only;
with --tenant (repeated, or comma-separated, for several) only those tenants' tasks."""

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from taskqueue.audit import Actor
from taskqueue.errors import ValidationError

from ...tokens import (
    SCOPES,
    clean_queues,
    clean_scopes,
    clean_tenants,
    create_token,
    missing_permissions,
)


class Command(BaseCommand):
    help = "Create an API token for a user and print its secret (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="The username the token acts as.")
        parser.add_argument(
            "--scopes", default="read", help=f"Comma-separated, from {', '.join(SCOPES)}."
        )
        parser.add_argument("--name", default="cli", help="What the token is for.")
        parser.add_argument(
            "--queues",
            default="",
            help="Comma-separated queues the token is limited to (default: every queue).",
        )
        parser.add_argument(
            "--tenant",
            action="append",
            default=[],
            dest="tenants",
            help="A tenant whose tasks the token is limited to; repeat it, or separate "
            "names with commas, for several (default: anyone's tasks).",
        )

    def handle(self, *args, user, scopes, name, queues, tenants, **options):
        owner = self._user(user)
        try:
            chosen = clean_scopes(s.strip() for s in scopes.split(",") if s.strip())
            missing = missing_permissions(owner, chosen)
            if missing:
                raise CommandError(
                    f"{user} lacks {', '.join(missing)}: grant it first, or choose fewer scopes."
                )
            only = clean_queues(q.strip() for q in queues.split(",") if q.strip())
            whose = clean_tenants(t.strip() for raw in tenants for t in raw.split(",") if t.strip())
            token, secret = create_token(_actor(), owner, name, chosen, only, whose)
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Created token {token.name!r} ({token.prefix}...) for {user} with scopes "
            f"{', '.join(token.scopes)}, {_queues(token.queues)}{_tenants(token.tenants)}. "
            "The secret below is shown only once:"
        )
        self.stdout.write(secret)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None


def _queues(queues: list[str]) -> str:
    return f"limited to the queues {', '.join(queues)}" if queues else "for every queue"


def _tenants(tenants: list[str]) -> str:
    return f", for the tasks of the tenants {', '.join(tenants)} only" if tenants else ""


def _actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli:{who}", "cli")
