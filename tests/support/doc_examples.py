"""The documentation's examples as data, for tests/test_documented_examples.py: a
Markdown page's fenced code blocks, a shell block split into its commands and the reply
each one documents, and the loose JSON those replies are written in.

A documented reply is the comment right after a command, or a ```json block right
after a shell block of one command:

    curl -s -X POST $API/tasks ...
    # 201 {"id": "0b6e…", "status": "pending" | "processing", …}

- a leading three-digit number is the status code;
- a string with `…` in it stands for any string (an id, a time);
- a bare `…` in an object: more keys may follow; in a list: more items may follow;
  `{…}`: any object; an object without `…` has exactly the keys shown;
- `a | b`: either value;
- every other value is literal and must be equal.

A ```json reply marked `<!-- reply: keys and types (why) -->` shows a state the page
does not make (a busy queue's figures): only its keys and JSON types are compared. A
block marked `<!-- not run: why -->` is left out by the tests that run the page.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ANY = "…"
MARKER = re.compile(r"<!--\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block: its language, text, the line its fence opens on, the
    HTML comment right above it (e.g. `not run: a fragment`), if any, and the ```json
    block that directly follows it, if any."""

    language: str
    text: str
    line: int
    marker: str = ""
    reply_block: "Block | None" = None


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = previous_end = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        before = [line for line in lines[:index] if line.strip()]
        marker = MARKER.match(before[-1].strip()) if before else None  # right above it
        block = Block(
            opening.group(1),
            "\n".join(lines[index + 1 : end]) + "\n",
            index + 1,
            marker.group(1) if marker else "",
        )
        previous = found[-1] if found else None
        between = lines[previous_end + 1 : index] if previous else []
        apart = [s for s in between if s.strip() and not MARKER.match(s.strip())]
        if previous and block.language == "json" and not apart:
            previous.reply_block = block
        found.append(block)
        previous_end = end
        index = end + 1
    return found


@dataclass
class Command:
    text: str
    reply: str = ""  # the documented reply, as written (comment marks removed)
    prose: list[str] = field(default_factory=list)  # comments that are not a reply


def commands(script: str) -> list[Command]:
    """A shell block's commands, each with the comment lines that follow it: a comment
    starting with `{`, `[` or a status code (and its continuation lines, until the
    brackets close) is the command's documented reply."""
    found: list[Command] = []
    lines = script.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
        elif line.lstrip().startswith("#"):
            comment = line.lstrip()[1:].strip()
            if found and re.match(r"^(\d{3}\b|[{\[])", comment) and not found[-1].reply:
                reply = [comment]
                while not balanced(" ".join(reply)) and index + 1 < len(lines):
                    index += 1
                    reply.append(lines[index].lstrip()[1:].strip())
                found[-1].reply = " ".join(reply)
            elif found:
                found[-1].prose.append(comment)
            index += 1
        else:
            text = [line]
            while continues("\n".join(text)) and index + 1 < len(lines):
                index += 1
                text.append(lines[index])
            found.append(Command("\n".join(text)))
            index += 1
    return found


def continues(text: str) -> bool:
    """A shell command goes on: a trailing backslash, or a single quote left open."""
    return text.rstrip().endswith("\\") or text.count("'") % 2 == 1


def balanced(text: str) -> bool:
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # brackets inside strings do not count
    return sum(outside.count(c) for c in "{[") == sum(outside.count(c) for c in "}]")


# -- the loose JSON of documented replies ----------------------------------------------


class Alternatives(tuple):
    """`a | b`: any of these values."""


class Open(dict):
    """An object with `…` among its keys: more keys may follow."""


class OpenList(list):
    """A list ending in `…`: more items may follow."""


def parse_reply(text: str) -> tuple[int | None, object]:
    """(status code or None, the expected value) of a documented reply; prose after the
    value (`{"count": 3} — nothing changed`) is ignored."""
    status = None
    if match := re.match(r"^(\d{3})\s+", text):
        status, text = int(match.group(1)), text[match.end() :]
    value, _ = _value(text, 0)
    return status, value


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _value(text: str, at: int):
    first, at = _single(text, _skip(text, at))
    options = [first]
    while (after := _skip(text, at)) < len(text) and text[after] == "|":
        other, at = _single(text, _skip(text, after + 1))
        options.append(other)
    return (Alternatives(options) if len(options) > 1 else first), at


def _single(text: str, at: int):
    char = text[at]
    if char == ANY:
        return ANY, at + 1
    if char == "{":
        return _object(text, at + 1)
    if char == "[":
        return _list(text, at + 1)
    value, end = json.JSONDecoder().raw_decode(text, at)
    return value, end


def _object(text: str, at: int):
    found, is_open = {}, False
    while True:
        at = _skip(text, at)
        if text[at] == "}":
            return (Open(found) if is_open else found), at + 1
        if text[at] == ANY:
            is_open, at = True, at + 1
        else:
            key, at = json.JSONDecoder().raw_decode(text, at)
            at = _skip(text, at)
            assert text[at] == ":", f"expected ':' at {text[at : at + 20]!r}"
            found[key], at = _value(text, at + 1)
        at = _skip(text, at)
        if text[at] == ",":
            at += 1


def _list(text: str, at: int):
    found, is_open = [], False
    while True:
        at = _skip(text, at)
        if text[at] == "]":
            return (OpenList(found) if is_open else found), at + 1
        if text[at] == ANY:
            is_open, at = True, at + 1
        else:
            item, at = _value(text, at)
            found.append(item)
        at = _skip(text, at)
        if text[at] == ",":
            at += 1


def mismatches(expected, actual, where: str = "", *, shape: bool = False) -> list[str]:
    """How `actual` (a parsed JSON answer) differs from the documented `expected`; with
    `shape`, only keys and JSON types count (a documented null or `…` matches any
    value), not the figures."""
    if isinstance(expected, Alternatives):
        if any(not mismatches(option, actual, where, shape=shape) for option in expected):
            return []
        return [f"{where or 'reply'}: {actual!r} is none of {list(expected)!r}"]
    if expected == ANY:
        return []
    if isinstance(expected, str) and ANY in expected:
        ok = isinstance(actual, str)
        return [] if ok else [f"{where}: {actual!r} is not a string"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {actual!r} is not an object"]
        found = [f"{where}.{key}: missing" for key in expected if key not in actual]
        if not isinstance(expected, Open):
            found += [f"{where}.{key}: not documented" for key in actual if key not in expected]
        for key in expected:
            if key in actual:
                found += mismatches(expected[key], actual[key], f"{where}.{key}", shape=shape)
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: {actual!r} is not a list"]
        if len(actual) < len(expected) or (
            not isinstance(expected, OpenList) and len(actual) != len(expected)
        ):
            return [f"{where}: {len(actual)} items, the doc shows {len(expected)}"]
        found = []
        for index, item in enumerate(expected):
            found += mismatches(item, actual[index], f"{where}[{index}]", shape=shape)
        return found
    if shape:  # a null on either side: a limit or quota of no kind, say
        same = None in (expected, actual) or type(expected) is type(actual)
        return [] if same else [f"{where}: {actual!r} is not of the type of {expected!r}"]
    if expected != actual or type(expected) is not type(actual):
        return [f"{where}: {actual!r}, the doc shows {expected!r}"]
    return []
