"""Encrypted arguments and results (docs/tasks.md#encrypted-arguments).

    @task(encrypt=["card_number", "token"], encrypt_result=True)
    def charge(order_id: int, card_number: str, token: str): ...

The producer replaces each chosen argument's value (given by position or by name) with
`{"$encrypted": "<Fernet token>"}` before the record is built: the token holds the
value's JSON, encrypted and authenticated with the first of TASKQUEUE["ENCRYPTION_KEYS"]
(a MultiFernet: the others still decrypt, so keys can be rotated). Only ciphertext then
reaches Redis, its AOF and dumps, the archive, the API and the console (which show
"[encrypted]"). The worker decrypts just before the call; a value it cannot decrypt (no
keys, other keys, an altered token) dead-letters the task with the reason, and the
function is not called. `encrypt_result=True` stores the return value the same way;
TaskHandle.result() decrypts it.

The producer's payload check (payloads.py) sees the plain values; its seal covers the
stored (encrypted) JSON, which is what the worker compares it with; a worker that
checks a call again checks the decrypted values. `manage.py reencrypt` rotates what is
stored (reencrypt_stored).
"""

import functools
import inspect
import json
from typing import Any

from .broker.rewrite import every_task, rewrite_record
from .conf import Config, get_config
from .errors import ConfigurationError, ValidationError
from .masking import ENCRYPTED, ENCRYPTED_MARK
from .payloads import SEAL, checked_at_enqueue, seal
from .serialization import dumps

MARK = ENCRYPTED_MARK
SHOWN = ENCRYPTED  # what the console, the API and the archive show instead


class Undecryptable(Exception):
    """A stored value this process cannot decrypt (the message says why)."""


def is_encrypted(value: Any) -> bool:
    """Whether a JSON value is one encrypted value: {"$encrypted": "<token>"}."""
    return type(value) is dict and len(value) == 1 and type(value.get(MARK)) is str


def keyring(config: Config | None = None):
    """A MultiFernet of TASKQUEUE["ENCRYPTION_KEYS"] (None when there are none)."""
    keys = (config or get_config()).ENCRYPTION_KEYS
    return _keyring(tuple(keys)) if keys else None


@functools.cache
def _keyring(keys: tuple[str, ...]):
    from cryptography.fernet import Fernet, MultiFernet  # loaded by encrypting processes only

    return MultiFernet([Fernet(key) for key in keys])


# -- the producer -------------------------------------------------------------------------


def chosen(task: Any) -> bool | tuple[str, ...]:
    """The task's `@task(encrypt=...)`: True (every argument), parameter names, or False."""
    options = getattr(task, "options", None)
    return getattr(options, "encrypt", False) or False


def encrypt_call(task: Any, args: list, kwargs: dict, fed: int = 0) -> tuple[list, dict]:
    """The call with the values of the task's encrypted parameters encrypted (the call
    itself when the task encrypts none). ConfigurationError without keys. `fed`: how
    many positional arguments a workflow puts before these (its parents' results), so
    args[0] is the parameter at position `fed`."""
    which = chosen(task)
    if not which:
        return args, kwargs
    ring = keyring()
    if ring is None:
        raise ConfigurationError(
            f"{task.name} encrypts arguments (@task(encrypt=...)) but "
            "TASKQUEUE['ENCRYPTION_KEYS'] is empty: nothing was enqueued."
        )
    positional, var_args, var_kwargs, names = parameters(task)
    args = list(args)
    for i, value in enumerate(args):
        at = i + fed
        name = positional[at] if at < len(positional) else var_args
        if which is True or name in which:
            args[i] = encrypt_value(ring, value, f"args[{i}]")
    kwargs = dict(kwargs)
    for key, value in kwargs.items():
        name = key if key in names else var_kwargs  # an extra keyword: **kwargs' own
        if which is True or name in which:
            kwargs[key] = encrypt_value(ring, value, f"kwargs.{key}")
    return args, kwargs


def encrypt_value(ring: Any, value: Any, what: str) -> dict:
    text = dumps(value, what=what)  # SerializationError naming it, as the payload's would
    return {MARK: ring.encrypt(text.encode()).decode("ascii")}


def encrypt_result(task: Any, result_json: str, config: Config) -> str:
    """A return value's JSON as stored: encrypted when the task says so."""
    if not getattr(task.options, "encrypt_result", False):
        return result_json
    ring = keyring(config)
    if ring is None:  # the worker refused it before the call (runner.prepare); never plain
        raise Undecryptable("encrypt_result=True and no TASKQUEUE['ENCRYPTION_KEYS']")
    return json.dumps({MARK: ring.encrypt(result_json.encode()).decode("ascii")})


@functools.cache
def _parameters(func: Any, hidden: int) -> tuple[tuple[str, ...], str | None, str | None, tuple]:
    params = list(inspect.signature(func).parameters.values())[hidden:]
    kinds = inspect.Parameter
    positional = tuple(
        p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    )
    var_args = next((p.name for p in params if p.kind == kinds.VAR_POSITIONAL), None)
    var_kwargs = next((p.name for p in params if p.kind == kinds.VAR_KEYWORD), None)
    return positional, var_args, var_kwargs, tuple(p.name for p in params)


def parameters(task: Any) -> tuple[tuple[str, ...], str | None, str | None, tuple]:
    """(positional names, *args' name, **kwargs' name, every name) of the task's
    parameters that a caller passes."""
    return _parameters(task.func, getattr(task, "hidden_params", 0))


def declared(task: Any, encrypt: Any, encrypt_result: Any) -> bool | tuple[str, ...]:
    """`@task(encrypt=..., encrypt_result=...)` checked against the function: True,
    False, or a tuple of its parameters' names. ValidationError otherwise."""
    if not isinstance(encrypt_result, bool):
        raise ValidationError(
            f"encrypt_result must be True or False, not {encrypt_result!r}.",
            field="encrypt_result",
        )
    if isinstance(encrypt, bool):
        return encrypt
    if isinstance(encrypt, str) or not isinstance(encrypt, (list, tuple, set, frozenset)):
        raise ValidationError(
            f"encrypt must be True, False or a list of parameter names, not {encrypt!r}.",
            field="encrypt",
        )
    names = parameters(task)[3]
    unknown = [n for n in encrypt if n not in names]
    if unknown:
        raise ValidationError(
            f"encrypt names {', '.join(map(repr, unknown))}, not a parameter of {task.name} "
            f"(its parameters: {', '.join(names) or 'none'}).",
            field="encrypt",
        )
    return tuple(encrypt)


# -- the worker and readers ---------------------------------------------------------------


def might_hold(*texts: str) -> bool:
    """Whether stored JSON can hold an encrypted value (a cheap test before parsing)."""
    return any(MARK in text for text in texts if text)


def decrypt_call(args: list, kwargs: dict, config: Config) -> tuple[list, dict]:
    """The call with every encrypted value decrypted; Undecryptable naming the first
    that cannot be (no keys, other keys, an altered token)."""
    ring = keyring(config)
    try:
        args = [decrypted(ring, v, f"args[{i}]") for i, v in enumerate(args)]
        kwargs = {k: decrypted(ring, v, f"kwargs.{k}") for k, v in kwargs.items()}
    except RecursionError:  # JSON nested deeper than Python's stack: not ours
        raise Undecryptable("args or kwargs are nested too deeply to decrypt") from None
    return args, kwargs


def decrypted(ring: Any, value: Any, path: str) -> Any:
    """`value` with its encrypted values (at any depth: a workflow feeds a parent's
    encrypted result into its children's arguments) decrypted."""
    if is_encrypted(value):
        return _open(ring, value[MARK], path)
    if isinstance(value, list):
        return [decrypted(ring, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: decrypted(ring, v, f"{path}.{k}") for k, v in value.items()}
    return value


def _open(ring: Any, token: str, path: str) -> Any:
    if ring is None:
        raise Undecryptable(
            f"{path} is encrypted and this process has no TASKQUEUE['ENCRYPTION_KEYS']"
        )
    from cryptography.fernet import InvalidToken  # loaded by decrypting processes only

    try:
        return json.loads(ring.decrypt(token.encode("ascii", "replace")))
    except InvalidToken:
        raise Undecryptable(
            f"{path} cannot be decrypted with this process's TASKQUEUE['ENCRYPTION_KEYS'] "
            "(the key that encrypted it is not among them, or the value was altered)"
        ) from None
    except (ValueError, RecursionError):
        raise Undecryptable(f"{path} decrypts to something that is not JSON") from None


def result_value(value: Any) -> Any:
    """A stored return value (parsed), decrypted if it is encrypted."""
    if not is_encrypted(value):
        return value
    try:
        return decrypted(keyring(), value, "the result")
    except Undecryptable as exc:
        raise ConfigurationError(f"The task's result cannot be read: {exc}.") from None


# -- rotation -----------------------------------------------------------------------------


def reencrypted(text: str, ring: Any) -> str | None:
    """Stored JSON with every encrypted value in it encrypted again with the first key
    (MultiFernet.rotate); None when it holds none. Undecryptable as decrypt_call."""
    if not might_hold(text):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    found = [False]
    new = _rotated(ring, value, found)
    return json.dumps(new, separators=(",", ":"), ensure_ascii=False) if found[0] else None


def _rotated(ring: Any, value: Any, found: list) -> Any:
    if is_encrypted(value):
        from cryptography.fernet import InvalidToken  # loaded by decrypting processes only

        found[0] = True
        try:
            return {MARK: ring.rotate(value[MARK].encode("ascii", "replace")).decode("ascii")}
        except InvalidToken:
            raise Undecryptable(
                "a value cannot be decrypted with any of TASKQUEUE['ENCRYPTION_KEYS']"
            ) from None
    if isinstance(value, list):
        return [_rotated(ring, v, found) for v in value]
    if isinstance(value, dict):
        return {k: _rotated(ring, v, found) for k, v in value.items()}
    return value


def reencrypt_stored(broker: Any, tasks: Any, config: Config | None = None) -> tuple[int, int]:
    """Encrypt every encrypted value stored in task records again with the first of
    ENCRYPTION_KEYS (after a rotation; then older keys can be dropped): (records
    rewritten, records holding a value no key decrypts - left as they are). A record a
    producer sealed (payloads.py) is sealed again over its new text (`tasks`: the
    registry, to find its task)."""
    ring = keyring(config)
    if ring is None:
        raise ConfigurationError("TASKQUEUE['ENCRYPTION_KEYS'] is empty: nothing to encrypt with.")
    rewritten = failed = 0
    for entry in every_task(broker):
        try:
            rewritten += rewrite_record(broker, entry, lambda f: _rotated_fields(f, ring, tasks))
        except Undecryptable:
            failed += 1
    return rewritten, failed


def _rotated_fields(fields: dict, ring: Any, tasks: Any) -> dict | None:
    new = {}
    for name in ("args", "kwargs", "result"):
        text = reencrypted(fields[name], ring)
        if text is not None:
            new[name] = text
    if not new:
        return None
    meta = _resealed(fields, new, tasks)
    if meta is not None:
        new["meta"] = meta
    return new


def _resealed(fields: dict, new: dict, tasks: Any) -> str | None:
    """The record's meta with the producer's seal renewed over the new text (None when
    it carries no valid seal: then the worker checks the call in full, as before)."""
    if fields["name"] not in tasks:
        return None
    task = tasks.get(fields["name"])
    if not checked_at_enqueue(task, fields["args"], fields["kwargs"], fields["meta"]):
        return None
    meta = json.loads(fields["meta"])
    meta[SEAL] = seal(task, new.get("args", fields["args"]), new.get("kwargs", fields["kwargs"]))
    return json.dumps(meta, separators=(",", ":"))
