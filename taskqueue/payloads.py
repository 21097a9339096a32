"""Typed arguments: a task's payload schema, derived from its signature and type hints,
and the check of one call against it (docs/tasks.md#typed-arguments).

    @task
    def invite(email: str, role: Literal["admin", "member"] = "member", days: int = 7): ...

    invite.enqueue("a@example.com", role="owner")
    # PayloadInvalid: Invalid arguments for app.tasks.invite: kwargs.role should be
    # 'admin' or 'member', not 'owner'.

The producer checks a call before anything is written (TaskCaller.prepare, enqueue by
name, the django.tasks backend); the worker checks a claimed record again before it runs
it (a record written by an older producer, or straight into Redis). Both go through
`check_call`, so they agree. A call the producer checked carries a seal in its record's
meta (`meta["checked"]`): a keyed hash, with the project's SECRET_KEY, of the task's
signature and the exact args and kwargs JSON. The worker recomputes it and skips the
second check when it matches (the same arguments, checked against the same signature by
a process holding the secret): so a worker serving current producers never loads
pydantic (~15 MB) and spends ~1 us per task on it. Anything else - no seal, other
arguments, another signature, a forged seal - is checked in full.

Types are checked as the worker will receive them: JSON (pydantic's strict JSON mode:
"1" is not an int, 1 is a float, a datetime is an ISO 8601 string, an Enum is one of its
values, a dataclass / TypedDict / pydantic model is an object). The task receives the
JSON values, unconverted, as before.

pydantic (TypeAdapter) derives the JSON Schema (draft 2020-12) and validates; one
adapter per task, built at the task's first call and cached on it. pydantic itself is
imported then too, and only for a task with a typed parameter (_pydantic()): loading it
takes ~55 ms, which a process that neither enqueues nor runs such a task (migrate, tq,
check, a worker of untyped tasks) need not pay.

A task may give its schema itself instead: `@task(schema={...})`, a JSON Schema (draft
2020-12) in the shape json_schema() produces (an object of `args` and `kwargs`). It is
checked when the task is declared (declared_schema()), replaces the type hints' check
(Python's binding of the call still applies) and is what json_schema() returns. It is
checked with jsonschema-rs (imported only when a task declares a schema: _jsonschema()),
offline: a `$ref` outside the schema is refused at declaration, never fetched.
"""

import functools
import hashlib
import inspect
import itertools
import json
import logging
import types
import typing
from types import SimpleNamespace
from typing import Annotated, Any, NotRequired, TypedDict

from django.conf import settings

from .conf import Config, get_config
from .errors import PayloadInvalid, ValidationError
from .masking import looks_secret
from .options import shown

log = logging.getLogger("taskqueue.payloads")

MAX_PROBLEMS = 20  # fields named in one error (a list of 10,000 bad items names 20)
VAR_ARGS, VAR_KWARGS = "*args", "**kwargs"  # not identifiers: no parameter has these names
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_VAR = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_SEQUENCES = (list, tuple, set, frozenset)
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_MASK = "\x00"  # stands for the value in jsonschema-rs's messages (then shown, or not)
_DEFS = "#/$defs/"
SMALL_CALL = 16 * 1024  # characters of JSON: a larger call that does not fit names one problem


class Payload:
    """One task's parameters (those a caller passes: not Celery's `self`, not Django's
    context), their types, and the check of a call against them."""

    def __init__(self, name: str, func: Any, hidden: int = 0, schema: dict | None = None):
        self.name = name
        params = list(inspect.signature(func).parameters.values())[hidden:]
        self.params = {p.name: p for p in params}
        self.positional = [p.name for p in params if p.kind in _POSITIONAL]
        self.var_args = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
        self.var_kwargs = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
        self.explicit = schema  # @task(schema=...): replaces the type hints' check
        self.validator = _validator(schema) if schema is not None else None
        self.types = _types(name, func, params) if schema is None else {}
        self.adapter = _adapter(name, self.types) if schema is None else None

    def problems(self, args: list | tuple, kwargs: dict) -> dict[str, str]:
        """What is wrong with this call, by JSON path (`args[1]`, `kwargs.user.email`):
        empty when the task can be called with it."""
        bound, paths, found = self._bind(args, kwargs)
        if self.validator is not None:
            for path, message in self._schema_problems(args, kwargs).items():
                found.setdefault(path, message)  # the binding's message, when it has one
        elif self.adapter is not None:
            typed = {k: bound[k] for k in self.types if k in bound}
            if typed:
                found |= self._type_problems(typed, paths)
        return dict(list(found.items())[:MAX_PROBLEMS]) if found else found

    def check(self, args: list | tuple, kwargs: dict) -> None:
        """PayloadInvalid naming every bad argument; nothing when the call fits."""
        found = self.problems(args, kwargs)
        if found:
            raise PayloadInvalid(self.name, found)

    def json_schema(self, ref_template: str = "#/$defs/{model}") -> dict:
        """The payload as JSON Schema (draft 2020-12): an object of `args` (an array)
        and `kwargs` (an object). A parameter that can be given either way is required
        as args[i] or kwargs.<name> (the allOf). Named types (dataclasses, enums,
        models) are in `$defs`, referred to by `ref_template`. A task's explicit schema
        (`@task(schema=...)`) is returned as declared, its `$defs` referred to the same way."""
        if self.explicit is not None:
            return {"$schema": DRAFT} | _retargeted(self.explicit, ref_template)
        schema = {}
        if self.adapter is not None:
            schema = self.adapter.json_schema(ref_template=ref_template)
        props = schema.get("properties", {})
        by_name = {}
        for name, p in self.params.items():
            if p.kind == p.VAR_POSITIONAL:
                found = props.get(VAR_ARGS, {}).get("items", {})
            elif p.kind == p.VAR_KEYWORD:
                found = props.get(VAR_KWARGS, {}).get("additionalProperties", {})
            else:
                found = props.get(name, {})
            by_name[name] = _untitled(found) | _default(p)
        return _document(self, by_name, schema.get("$defs"))

    def _bind(self, args, kwargs) -> tuple[dict, dict, dict]:
        """Python's binding of a call to the parameters, with each argument's JSON path."""
        bound, paths, found = {}, {}, {}
        for i, value in enumerate(args):
            if i < len(self.positional):
                name = self.positional[i]
                bound[name], paths[name] = value, f"args[{i}]"
            elif self.var_args is not None:
                bound.setdefault(VAR_ARGS, []).append(value)
            else:
                found[f"args[{i}]"] = (
                    f"args[{i}] is one positional argument too many: {self.name} takes "
                    f"at most {len(self.positional)}."
                )
        for key, value in kwargs.items():
            param = self.params.get(key)
            path = f"kwargs.{key}"
            if key in paths:
                found[path] = f"{path} is given twice: {key} is also {paths[key]}."
            elif param is not None and param.kind in _KEYWORD:
                bound[key], paths[key] = value, path
            elif self.var_kwargs is not None:
                bound.setdefault(VAR_KWARGS, {})[key] = value
            else:
                found[path] = f"{path} is not a parameter of {self.name} ({self._parameters()})."
        for name, param in self.params.items():
            if name not in bound and param.default is param.empty and param.kind not in _VAR:
                path = self._where(name, bool(args))
                found[path] = f"{path} is missing: {self._required(name)}."
        return bound, paths, found

    def _type_problems(self, typed: dict, paths: dict) -> dict[str, str]:
        pd = _pydantic()
        try:
            text = pd.to_json(typed)
        except pd.SerializationError:  # nested past its depth limit: left unchecked
            return {}
        try:
            self.adapter.validate_json(text, strict=True)
        except pd.ValidationError as exc:
            # errors() of a 1 MB list of wrong items is 200,000 dicts: read only the first
            # (their inputs are found in `typed`), and describe fewer still
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            errors = errors[: MAX_PROBLEMS * 5]
            if any(error["type"] == "json_invalid" for error in errors):
                return {}  # nested past the parser's depth limit (~200): left unchecked
            found: dict[str, str] = {}
            for error in errors:  # a union's members each fail at one path: "... or ..."
                path, message = self._described(error, typed, paths)
                found[path] = f"{found[path][:-1]} or {message}" if path in found else message
            return {path: self._labelled(path, message) for path, message in found.items()}
        return {}

    def _schema_problems(self, args: list | tuple, kwargs: dict) -> dict[str, str]:
        """The call against the explicit schema, as {"args": [...], "kwargs": {...}}."""
        instance = {"args": list(args), "kwargs": kwargs}
        found: dict[str, str] = {}
        try:
            if self.validator.is_valid(instance):  # fast, and stops at the first problem
                return found
            errors = _errors(self.validator, instance)
            for error in itertools.islice(errors, MAX_PROBLEMS * 5):
                for path, message in _explained(error):
                    found.setdefault(path, self._labelled(path, message))
        except (ValueError, TypeError, OverflowError, RecursionError):  # nested too deep
            return {}
        return found

    def _described(self, error: dict, typed: dict, paths: dict) -> tuple[str, str]:
        """An error's JSON path, and what was expected there (the path not in it yet)."""
        head, *loc = error["loc"]
        value = typed[head]
        if head == VAR_ARGS:  # ('*args', 0): the first argument past the named ones
            path, value, loc = f"args[{len(self.positional) + loc[0]}]", value[loc[0]], loc[1:]
        elif head == VAR_KWARGS:
            path, value, loc = f"kwargs.{loc[0]}", value[loc[0]], loc[1:]
        else:
            path = paths[head]
        steps, value = _walk(value, loc, error["type"] == "missing")
        path += steps
        if error["type"] == "missing":
            return path, "is missing."
        message = error["msg"].removeprefix("Input ")
        if not any(looks_secret(part) for part in (head, *loc)):
            message += f", not {shown(value)}"
        return path, message + "."

    def _labelled(self, path: str, message: str) -> str:
        """`args[1] (count) should be ...`: a positional argument with its parameter."""
        index = path[5 : path.index("]")] if path.startswith("args[") else ""
        if index.isdigit() and int(index) < len(self.positional):
            return f"{path} ({self.positional[int(index)]}) {message}"
        return f"{path} {message}"

    def _where(self, name: str, positionally: bool) -> str:
        """Where a missing argument goes: args[i] when it can only go there, or when
        the call passes arguments by position; kwargs.<name> otherwise."""
        kind = self.params[name].kind
        if kind == inspect.Parameter.POSITIONAL_ONLY or (
            kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and positionally
        ):
            return f"args[{self.positional.index(name)}]"
        return f"kwargs.{name}"

    def _required(self, name: str) -> str:
        kind = self.params[name].kind
        if kind == inspect.Parameter.POSITIONAL_OR_KEYWORD:
            i = self.positional.index(name)
            return f"{name} is required (give it as args[{i}] or kwargs.{name})"
        return f"{name} is required"

    def _parameters(self) -> str:
        names = [n for n, p in self.params.items() if p.kind != p.POSITIONAL_ONLY]
        if not names:
            return "it takes no keyword arguments"
        return "its parameters: " + ", ".join(names)


def payload_of(task: Any) -> Payload:
    """The task's Payload, built once and kept on the task (a function whose signature
    cannot be read, such as some builtins, is not checked: a warning says so)."""
    found = task.__dict__.get("_payload")
    if found is None:
        schema = getattr(task, "payload_schema", None)
        try:
            found = Payload(task.name, task.func, getattr(task, "hidden_params", 0), schema)
        except (TypeError, ValueError) as exc:
            log.warning("task %s: its signature cannot be read (%s): not checked", task.name, exc)
            found = Payload(task.name, _anything, 0, schema)
        task.__dict__["_payload"] = found
    return found


def _anything(*args: Any, **kwargs: Any) -> None:
    """The signature of a task whose own cannot be read: any arguments."""


def validates(task: Any, config: Config | None = None) -> bool:
    """Whether calls of `task` are checked: TASKQUEUE["VALIDATE_PAYLOADS"] and the task's
    own `@task(validate=...)`."""
    config = config or get_config()
    return config.VALIDATE_PAYLOADS and getattr(task, "validate_payload", True)


def check_call(task: Any, args: list | tuple, kwargs: dict, config: Config | None = None) -> bool:
    """PayloadInvalid unless the call fits the task's parameters (when it is checked);
    whether it was checked."""
    if validates(task, config):
        payload_of(task).check(args, kwargs)
        return True
    return False


SEAL = "checked"  # meta["checked"]: the producer's seal on a checked call (see above)


def sealed(task: Any, new: Any, checked: bool) -> Any:
    """`new` (a NewTask) with the seal of a call the producer checked in its meta."""
    if not checked:
        return new
    try:
        meta = json.loads(new.meta) if new.meta else {}
    except ValueError:
        return new
    if not isinstance(meta, dict):
        return new
    meta[SEAL] = seal(task, new.args, new.kwargs)
    new.meta = json.dumps(meta, separators=(",", ":"))
    return new


def checked_at_enqueue(task: Any, args: str, kwargs: str, meta: str) -> bool:
    """Whether a record carries the seal of a producer that checked these very args and
    kwargs against this task's signature (then the worker need not check them again)."""
    if not meta or SEAL not in meta:
        return False
    try:
        value = json.loads(meta)
    except (ValueError, RecursionError):
        return False
    found = value.get(SEAL) if isinstance(value, dict) else None
    return isinstance(found, str) and found == seal(task, args, kwargs)


def seal(task: Any, args: str, kwargs: str) -> str:
    digest = hashlib.blake2s(key=_seal_key(), digest_size=16)
    for part in (_signature_text(task), args, kwargs):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def _seal_key() -> bytes:
    secret = str(getattr(settings, "SECRET_KEY", "") or "")
    return hashlib.blake2s(b"taskqueue.payloads.seal\0" + secret.encode()).digest()


def _signature_text(task: Any) -> str:
    """The task's name, signature, type hints and explicit schema as text (cached on the
    task)."""
    found = task.__dict__.get("_signature_text")
    if found is None:
        try:
            text = str(inspect.signature(task.func))
        except (TypeError, ValueError):
            text = "?"
        schema = getattr(task, "payload_schema", None)
        if schema is not None:
            text += json.dumps(schema, sort_keys=True, separators=(",", ":"))
        found = task.__dict__["_signature_text"] = f"{task.name}{text}"
    return found


def _types(name: str, func: Any, params: list) -> dict:
    """The annotated parameters' types (unannotated ones, and `Any`, take any JSON)."""
    try:
        hints = typing.get_type_hints(inspect.unwrap(func), include_extras=True)
    except Exception as exc:  # a forward reference to a name only TYPE_CHECKING imports
        log.warning("task %s: its type hints cannot be resolved (%s): not checked", name, exc)
        return {}
    typed = {}
    for p in params:
        hint = hints.get(p.name, Any)
        if hint is Any:
            continue
        if p.kind == p.VAR_POSITIONAL:
            typed[VAR_ARGS] = list[hint]
        elif p.kind == p.VAR_KEYWORD:
            typed[VAR_KWARGS] = dict[str, hint]
        else:
            typed[p.name] = hint
    return {key: _fail_fast(hint) for key, hint in typed.items()}


def _fail_fast(hint: Any) -> Any:
    """`hint` with each list, tuple and set in it checked up to its first bad item
    (pydantic's FailFast): a 1 MiB list of wrong items costs ~5 ms, not ~0.5 s of
    errors nobody reads. Dataclass and model fields keep pydantic's default; a hint it
    cannot rebuild is kept as it is."""
    try:
        return _rebuilt(hint)
    except Exception:  # an exotic generic: checked the default way
        return hint


def _rebuilt(hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _SEQUENCES:
        inner = tuple(a if a is Ellipsis else _fail_fast(a) for a in args)
        return Annotated[origin[inner] if inner else hint, _pydantic().FailFast()]
    if hint in _SEQUENCES:
        return Annotated[hint, _pydantic().FailFast()]
    if origin is dict and len(args) == 2:
        return dict[args[0], _fail_fast(args[1])]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_fail_fast(a) for a in args)]  # noqa: UP007 - built here
    return hint


@functools.cache
def _pydantic() -> SimpleNamespace:
    """What this module uses of pydantic, imported at the first task's check."""
    # ~55 ms to load: imported when a task is first checked (see the docstring)
    import pydantic
    import pydantic_core

    return SimpleNamespace(
        TypeAdapter=pydantic.TypeAdapter,
        FailFast=pydantic.FailFast,
        ValidationError=pydantic.ValidationError,
        SchemaError=pydantic.PydanticSchemaGenerationError,
        SerializationError=pydantic_core.PydanticSerializationError,
        to_json=pydantic_core.to_json,
    )


def _adapter(name: str, types: dict) -> Any:
    """One pydantic TypeAdapter for all the typed parameters (None without any); a type
    pydantic cannot check (a Django model, an open file) is left unchecked, with a
    warning. A task without typed parameters does not import pydantic: a worker would
    pay its ~55 ms load in the middle of its work, at the first call it must check (a
    workflow's task: the producer does not seal its call)."""
    if not types:
        return None
    pd = _pydantic()
    for key, hint in list(types.items()):
        try:
            pd.TypeAdapter(hint)
        except (pd.SchemaError, TypeError, NameError) as exc:
            log.warning("task %s: the type of %s cannot be checked (%s)", name, key, exc)
            del types[key]
    if not types:
        return None
    fields = {key: NotRequired[hint] for key, hint in types.items()}
    return pd.TypeAdapter(TypedDict(f"{name} arguments", fields))  # type: ignore[operator]


def _walk(value: Any, loc: list, missing: bool) -> tuple[str, Any]:
    """The JSON path of `loc` inside `value` (the steps into its objects and arrays: a
    union member's tag in the loc is not one; a missing field's name ends it), and the
    value found there."""
    path = ""
    for n, part in enumerate(loc):
        if _holds(value, part):
            value, path = value[part], path + _step(part)
        elif missing and n == len(loc) - 1:
            path += _step(part)
    return path, value


def _holds(value: Any, part: Any) -> bool:
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)


def _step(part: Any) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    text = str(part)
    return f".{text}" if text.isidentifier() else f"[{json.dumps(text)}]"


def _default(param: inspect.Parameter) -> dict:
    """The parameter's default, when JSON can show it."""
    if param.default is param.empty:
        return {}
    try:
        json.dumps(param.default, allow_nan=False)
    except (TypeError, ValueError):
        return {}
    return {"default": param.default}


def _untitled(schema: dict) -> dict:
    return {k: v for k, v in schema.items() if k != "title"}


def _document(payload: Payload, by_name: dict, defs: dict | None) -> dict:
    params = payload.params
    positional = [by_name[n] for n in payload.positional]
    args: dict = {"type": "array", "prefixItems": positional} if positional else {"type": "array"}
    if payload.var_args is None:
        args["maxItems"] = len(positional)
    else:
        args["items"] = by_name[payload.var_args]
    names = [n for n, p in params.items() if p.kind in _KEYWORD]
    kwargs: dict = {"type": "object", "properties": {n: by_name[n] for n in names}}
    kwargs["additionalProperties"] = (
        by_name[payload.var_kwargs] if payload.var_kwargs is not None else False
    )
    doc: dict = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": payload.name,
        "type": "object",
        "properties": {"args": args, "kwargs": kwargs},
        "additionalProperties": False,
    }
    _required(payload, doc, kwargs)
    if defs:
        doc["$defs"] = defs
    return doc


def _required(payload: Payload, doc: dict, kwargs: dict) -> None:
    """Required parameters: a positional-only one as a minimum length of args, a
    keyword-only one in kwargs' required, either-way ones in an allOf of anyOfs."""
    either, required_kw, min_items = [], [], 0
    for name, p in payload.params.items():
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind == p.POSITIONAL_ONLY:
            min_items = payload.positional.index(name) + 1
        elif p.kind == p.KEYWORD_ONLY:
            required_kw.append(name)
        else:
            i = payload.positional.index(name)
            either.append(
                {
                    "anyOf": [
                        {"required": ["args"], "properties": {"args": {"minItems": i + 1}}},
                        {"required": ["kwargs"], "properties": {"kwargs": {"required": [name]}}},
                    ]
                }
            )
    if min_items:
        doc["properties"]["args"]["minItems"] = min_items
        doc["required"] = ["args"]
    if required_kw:
        kwargs["required"] = required_kw
        doc.setdefault("required", []).append("kwargs")
    if either:
        doc["allOf"] = either


def declared_schema(name: str, schema: Any) -> dict:
    """`@task(schema=...)` checked (a JSON Schema, draft 2020-12, of an object of `args`
    and `kwargs`) and copied: a ValidationError (field "schema") says what is wrong."""
    if not isinstance(schema, dict):
        raise ValidationError(
            f"task {name}: schema must be a dict, not {shown(schema)}.", field="schema"
        )
    try:
        copy = json.loads(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"task {name}: schema is not JSON ({exc}).", field="schema") from None
    if str(copy.get("$schema", DRAFT)).rstrip("#") != DRAFT:
        raise ValidationError(
            f"task {name}: schema must be draft 2020-12 ($schema {DRAFT}), not "
            f"{shown(copy['$schema'])}.",
            field="schema",
        )
    _shaped(name, copy)
    js = _jsonschema()
    try:
        js.meta.validate({"$schema": DRAFT} | copy)
        js.Draft202012Validator(copy, offline=True)  # a bad regex, a $ref to nowhere
    except (js.ValidationError, js.ReferencingError) as exc:
        reason = str(exc).split("\n", 1)[0]
        raise ValidationError(
            f"task {name}: schema is not valid: {reason}.", field="schema"
        ) from None
    return copy


def _shaped(name: str, schema: dict) -> None:
    """The payload's shape: an object whose properties are `args` and/or `kwargs`."""
    props = schema.get("properties")
    if (
        schema.get("type") != "object"
        or not isinstance(props, dict)
        or not set(props) <= {"args", "kwargs"}
    ):
        raise ValidationError(
            f"task {name}: schema must describe the payload as json_schema() does: "
            '{"type": "object", "properties": {"args": {...}, "kwargs": {...}}} '
            "(docs/tasks.md#typed-arguments).",
            field="schema",
        )


@functools.cache
def _jsonschema() -> Any:
    """jsonschema-rs, imported when a task first declares a schema (see the docstring)."""
    import jsonschema_rs

    return jsonschema_rs


def _validator(schema: dict) -> Any:
    """A draft 2020-12 validator of the schema: offline (no $ref is fetched), values
    masked in its messages (_explained shows them, or not)."""
    return _jsonschema().Draft202012Validator(schema, offline=True, mask=_MASK)


def _errors(validator: Any, instance: dict) -> list:
    """The call's errors: all of them for a small call; the first only for a large one
    (jsonschema-rs lists every error before the first is read: a 1 MiB list of wrong
    items would be 250,000 errors, ~2 s, where its first costs microseconds)."""
    if len(json.dumps(instance, default=str)) <= SMALL_CALL:
        return validator.iter_errors(instance)
    try:
        validator.validate(instance)
    except _jsonschema().ValidationError as first:
        return [first]
    return []


def _explained(error: Any) -> list[tuple[str, str]]:
    """One jsonschema-rs error as (JSON path, what is wrong there) pairs."""
    loc = list(error.instance_path)
    path = "".join(_step(part) if n else str(part) for n, part in enumerate(loc)) or "payload"
    kind, detail = error.kind.name, error.kind.as_dict()
    if kind == "required":
        return [(_joined(path, loc, detail["property"]), "is missing.")]
    if kind == "additionalProperties":
        return [(_joined(path, loc, key), "is not allowed.") for key in detail["unexpected"]]
    message = error.message
    if not message.startswith(_MASK + " "):
        return [(path, f"does not fit the schema: {message.replace(_MASK, 'the value')}.")]
    message = message.removeprefix(_MASK + " ")
    if loc and not any(looks_secret(str(part)) for part in loc):
        message += f", not {shown(error.instance)}"
    return [(path, message + ".")]


def _joined(path: str, loc: list, key: str) -> str:
    return _step(key).removeprefix(".") if not loc else path + _step(key)


def _retargeted(schema: Any, ref_template: str) -> Any:
    """A copy of the schema whose `$ref`s to its `$defs` follow `ref_template`."""
    if isinstance(schema, list):
        return [_retargeted(item, ref_template) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _retargeted(value, ref_template) for key, value in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS) and "/" not in ref[len(_DEFS) :]:
        out["$ref"] = ref_template.format(model=ref[len(_DEFS) :])
    return out
