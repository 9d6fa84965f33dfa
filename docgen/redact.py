"""Remove secrets from text before it reaches an error, a log line, the database or an artifact."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: shapes of API keys and credentials that must never be shown, even ones we were not told of
_PATTERNS = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"), "sk-***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9_\-.=+/]{6,}"), r"\1***"),
    (re.compile(r"(?i)(api[_-]?key[\"'\s:=]+)[A-Za-z0-9_\-.]{6,}"), r"\1***"),
    (re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
)
MASK = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secrets and anything shaped like a key replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def one_line(text: str, limit: int = 500) -> str:
    """The first line of `text`, shortened to `limit` characters."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def brief(text: str, limit: int = 500, lines: int = 4) -> str:
    """The first `lines` non-blank lines of `text` joined with " | ", cut to `limit`.

    For messages whose cause is on the second line ("1 validation error:" then the field):
    one line, but the useful part kept.
    """
    parts = [line.strip() for line in text.strip().splitlines() if line.strip()][:lines]
    joined = " | ".join(parts)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"
