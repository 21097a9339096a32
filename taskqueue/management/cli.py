"""Helpers shared by the operator commands: who is acting, and errors as CommandError."""

import contextlib
import getpass
import os
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from ..audit import Actor
from ..errors import TaskQueueError


def os_user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no name for this uid (e.g. in a container)
        return f"uid:{os.getuid()}"


def cli_actor(name: str | None) -> Actor:
    """The actor of a command: --user NAME, else the OS user; linked to the Django user
    of that name when there is one."""
    name = name or os_user()
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: name}).first()
    return Actor(name, "cli", user_id=user.pk if user else None)


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """The engine's errors (bad input, illegal transition, Redis down) as CommandError."""
    try:
        yield
    except TaskQueueError as exc:
        raise CommandError(str(exc)) from None


def add_user_option(parser) -> None:
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="who is acting, for the audit trail (default: the OS user)",
    )
