"""Text read from Redis, made fit to show: logs, metric labels, pages.

Redis holds bytes, and anyone with access to it can write bytes that are not UTF-8;
the clients decode them with surrogateescape (client.py), so such a value arrives as
a str holding lone surrogates, which cannot be encoded: a metric label, a page or a
JSON log line with one fails as a whole. `as_text` turns those bytes into \\xNN escapes,
so the value can be shown and two different values stay different.
"""


def as_text(value: str) -> str:
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
