"""How big the fault scenarios run: FAULTS_SIZE=ci (the default; part of `make test`)
or FAULTS_SIZE=full (the issue's figures; `make faults-full`).

    from tests.faults.sizes import pick
    TASKS = pick(ci=2_000, full=20_000)
"""

import os

SIZES = ("ci", "full")


def _size() -> str:
    value = os.environ.get("FAULTS_SIZE", "ci").strip().lower() or "ci"
    if value not in SIZES:
        raise RuntimeError(f"FAULTS_SIZE={value!r} is not a size: use one of {', '.join(SIZES)}.")
    return value


SIZE = _size()
FULL = SIZE == "full"


def pick(ci, full):
    """The value for the current size."""
    return full if FULL else ci
