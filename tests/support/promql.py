"""Reading PromQL just enough to check it against what /metrics exports: the vector
selectors of an expression (metric name and label matchers), found by a small scanner
that knows strings, durations, grouping clauses and function calls. Grafana's template
variables are replaced first ($queue, $task: any value; $__rate_interval: 5m)."""

import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}  # fmt: skip
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$queue": ".*", "$task": ".*"}


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(_holds(labels.get(name, ""), op, value) for name, op, value in self.matchers)


def _holds(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None
    return found if op == "=~" else not found


def expand(expr: str) -> str:
    for var, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    return expr


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in `expr` (a PromQL expression, Grafana variables allowed)."""
    text = GROUPING.sub(" ", expand(expr))
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations
    found, i = [], 0
    while i < len(text):
        c = text[i]
        if c == '"':  # a string outside a selector (label_replace arguments)
            i = text.index('"', i + 1) + 1
            continue
        m = NAME.match(text, i)
        if m is None or (i and (text[i - 1].isalnum() or text[i - 1] in "_.")):
            i += 1
            continue
        name, i = m.group(), m.end()
        rest = text[i:].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        matchers = []
        if rest.startswith("{"):
            i = text.index("{", i) + 1
            while (mm := MATCHER.match(text, i)) is not None:
                matchers.append(mm.groups())
                i = mm.end()
            i = text.index("}", i) + 1
        if name.lower() not in KEYWORDS:
            found.append(Selector(name, tuple(matchers)))
    return found


def label_values_metric(query: str) -> str | None:
    """The selector of a Grafana `label_values(<selector>, label)` variable query."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query)
    return m.group(1) if m else None


def exported(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets of its samples; a family without samples is there
    under its own name(s) with no label sets."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        names = [family.name]
        if family.type == "counter":
            names.append(family.name + "_total")
        if family.type == "histogram":
            names += [family.name + s for s in ("_bucket", "_sum", "_count")]
        for name in names:
            out.setdefault(name, [])
        for s in family.samples:
            out.setdefault(s.name, []).append(s.labels)
    return out
