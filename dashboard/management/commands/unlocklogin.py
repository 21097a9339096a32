"""`manage.py unlocklogin`: lift login lockouts before they expire (dashboard/logins.py).

    unlocklogin NAME [NAME ...]         the accounts locked after wrong passwords
    unlocklogin --address IP [IP ...]   the client addresses locked
    unlocklogin --list                  the current locks, and when each ends

Each run that lifts a lock is one audit event (login_unlocked, source cli, actor --user
or the OS user). Naming nothing that is locked is an error, and records nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from taskqueue.management.cli import add_user_option, cli_actor

from ... import logins


class Command(BaseCommand):
    help = "Lift login lockouts of accounts or client addresses, or list the current ones."

    def add_arguments(self, parser):
        parser.add_argument("accounts", nargs="*", metavar="NAME", help="usernames to unlock")
        parser.add_argument("--address", nargs="+", default=[], metavar="IP", help="addresses")
        parser.add_argument("--list", action="store_true", help="list the current locks")
        add_user_option(parser)

    def handle(self, *args, accounts, address, list: bool, user: str | None = None, **options):
        if list:
            self._list()
            return
        if not accounts and not address:
            raise CommandError("Name the accounts or --address to unlock (or --list them).")
        lifted = logins.unlock(cli_actor(user), accounts, address)
        if not lifted:
            raise CommandError(f"No login lock on {', '.join([*accounts, *address])}.")
        for row in lifted:
            self.stdout.write(f"Unlocked: {row.kind} {row.value}")

    def _list(self) -> None:
        locks = logins.current_locks()
        for row in locks:
            until = f"{row.expires_at:%Y-%m-%d %H:%M:%S} UTC"
            self.stdout.write(f"{row.kind} {row.value}: {row.failures} failures, until {until}")
        if not locks:
            self.stdout.write("No login is locked.")
