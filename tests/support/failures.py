"""What a fixture's teardown needs to explain a failed test: whether it failed (the
root conftest.py's hook keeps each phase's report on the item) and a log's last lines."""

from pathlib import Path


def failed(request) -> bool:
    """Whether the requesting test failed in its setup or its body."""
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def tail(path: Path, lines: int = 40) -> str:
    """The file's last lines (or why it could not be read)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"({exc})"
    return b"\n".join(data.splitlines()[-lines:]).decode(errors="replace")
