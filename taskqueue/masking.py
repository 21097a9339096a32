"""Masking secret-looking values before they are shown (console) or stored (archive).

A key is secret-looking when it contains one of SECRET_WORDS (case-insensitive), or
when one of its words is "key" (`api_key`, `apiKey`, `ssh-key`, `key`; not `monkey`
or `keyboard`). Values under such keys are replaced, at any depth of dicts and lists.
Positional arguments have no key, so a secret passed positionally is not recognised:
pass secrets by keyword (better: pass a reference to them, not the secret itself),
or encrypt them (@task(encrypt=...)): an encrypted value is shown as ENCRYPTED.
"""

import re
from typing import Any

MASK = "********"
ENCRYPTED_MARK, ENCRYPTED = "$encrypted", "[encrypted]"  # encryption.py's MARK and ENCRYPTED
SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "auth",
    "credential",
    "apikey",
    "private",
    "cookie",
    "session",
    "signature",
)
_WORD_BOUNDARY = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def looks_secret(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    if any(word in lowered for word in SECRET_WORDS):
        return True
    return "key" in (word.lower() for word in _WORD_BOUNDARY.split(key))


def mask_secrets(value: Any, *, drop_nul: bool = False) -> Any:
    """A copy of a JSON value with the values of secret-looking keys replaced by MASK.
    `drop_nul` also drops NUL characters from strings (for PostgreSQL's jsonb, which
    cannot hold them). The input is not changed."""
    if isinstance(value, dict):
        if _encrypted(value):
            return ENCRYPTED  # an encrypted value (encryption.py): not even its ciphertext
        return {
            mask_secrets(k, drop_nul=drop_nul): MASK
            if looks_secret(k) and not _encrypted(v)
            else mask_secrets(v, drop_nul=drop_nul)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item, drop_nul=drop_nul) for item in value]
    if isinstance(value, str) and drop_nul:
        return value.replace("\x00", "")
    return value


def _encrypted(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get(ENCRYPTED_MARK)) is str
