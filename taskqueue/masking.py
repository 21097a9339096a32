"""Masking values that look secret before they are shown (console) or stored (archive).

A value is masked when its key, case-insensitively, contains one of SECRET_WORDS:
`{"password": "x"}`, `{"API_KEY": "x"}` and `{"auth": {"user": "u"}}` all come out
masked, at any depth of dicts and lists. Matching on parts of names errs on the side of
hiding too much (`"monkey"` is masked too): a console that hides a harmless value is
better than one that shows a password. Positional arguments carry no key and are
shown as they are.
"""

import re
from typing import Any

MASK = "••••••••"
SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "private",
    "session",
    "cookie",
    "signature",
)
_SECRET_KEY_RE = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)


def looks_secret(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY_RE.search(key) is not None


def mask_secrets(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with the values under secret-looking keys
    replaced by MASK. The input is not changed."""
    if isinstance(value, dict):
        return {k: MASK if looks_secret(k) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item) for item in value]
    return value
