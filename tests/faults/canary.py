"""A module no task record may ever cause to be imported: records in the untrusted-
contents test name `tests.faults.canary.boom`. Importing it leaves a line in the file
named by TASKQUEUE_CANARY_FILE (the audit hook sees the import as well)."""

import os

_path = os.environ.get("TASKQUEUE_CANARY_FILE")
if _path:
    with open(_path, "a") as f:
        f.write(f"imported in {os.getpid()}\n")


def boom() -> None:
    raise AssertionError("tests.faults.canary.boom ran")
