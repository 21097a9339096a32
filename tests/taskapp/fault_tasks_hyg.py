"""Task bodies of helper hyg's fault scenarios (tests/faults/test_untrusted_contents.py,
test_r10..r13). Ledger-writing ones use tests/faults/ledger.py like fault_tasks.py."""

from taskqueue import task

__all__ = ["add"]


@task(max_retries=0)
def add(a, b):
    """a + b: ["1", 2] makes a TypeError (wrong argument types in a record)."""
    return a + b
