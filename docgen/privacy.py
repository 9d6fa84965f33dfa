"""Privacy: literals that look like personal data are masked before code reaches an LLM.

    masked = mask_code(code, language="sql", dialect="postgres", max_literal=64)
    masked.code      # the code with such literals replaced by '[masked: email]' etc.
    masked.counts    # {"email": 1, "card": 1}: what was masked (shown in the per-layer log)

An organization switches this on with `docgen org privacy ORG on [--max-literal N]`; the
context loader (`docgen.context`) then masks every object's code and compiled code, so the
prompts, the input hash and the offline analyser all see the masked code, and turning
privacy on or off re-documents exactly the objects it changes.

What is masked:
- string literals (found with sqlglot's tokenizer for SQL, Python's `tokenize` for Python)
  that contain an email address, a phone number (9-15 digits), a payment card number (13-19
  digits passing the Luhn check), an IBAN (passing the mod-97 check) or a national id (US
  SSN `123-45-6789`, UK National Insurance number), and string literals longer than
  `max_literal` characters (free text rarely explains a model and often carries data);
  Python docstrings are exempt from the length rule (they explain the code);
- numeric literals that are Luhn-valid card numbers;
- anywhere else in the text (comments, Jinja): email addresses, IBANs and card numbers,
  whose shapes cannot be mistaken for code.
A literal keeps its quotes, so the masked code still reads as SQL or Python.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot.errors import SqlglotError
from sqlglot.tokens import Tokenizer, TokenType

#: default length above which a string literal is masked
DEFAULT_MAX_LITERAL = 64

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w.-])\+?\(?\d[\d ().-]{7,18}\d(?![\w.-])")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
UK_NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")

_SQL_STRINGS = {
    TokenType.STRING,
    TokenType.NATIONAL_STRING,
    TokenType.RAW_STRING,
    TokenType.HEREDOC_STRING,
    TokenType.UNICODE_STRING,
}
_QUOTED = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class Masked:
    code: str
    counts: dict[str, int] = field(default_factory=dict)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in _digits(number)]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def personal_data_kind(text: str) -> str | None:
    """The kind of personal data `text` contains (email, card, iban, national_id, phone)."""
    if EMAIL.search(text):
        return "email"
    if any(luhn_valid(m.group()) for m in CARD.finditer(text)):
        return "card"
    if any(iban_valid(m.group()) for m in IBAN.finditer(text)):
        return "iban"
    if SSN.search(text) or UK_NINO.search(text):
        return "national_id"
    if any(_phone_like(m.group()) for m in PHONE.finditer(_DATETIME.sub(" ", text))):
        return "phone"
    return None


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")


def _phone_like(candidate: str) -> bool:
    """9-15 digits written like a phone number: a leading + or at least two separators
    (a bare run of digits is more often an id, a decimal number never a phone)."""
    if not 9 <= len(_digits(candidate)) <= 15 or re.fullmatch(r"\d+\.\d+", candidate):
        return False
    return candidate.startswith("+") or len(re.findall(r"[ ().-]+", candidate)) >= 2


def _free_text(text: str, counts: Counter[str]) -> str:
    """Emails, IBANs and card numbers anywhere (comments, Jinja, identifiers never match)."""

    def replacer(kind: str, check: Callable[[str], bool] | None) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            if check is not None and not check(match.group()):
                return match.group()
            counts[kind] += 1
            return f"[masked: {kind}]"

        return replace

    text = EMAIL.sub(replacer("email", None), text)
    text = IBAN.sub(replacer("iban", iban_valid), text)
    return CARD.sub(replacer("card", luhn_valid), text)


def _literal_kind(body: str, max_literal: int | None, *, docstring: bool = False) -> str | None:
    kind = personal_data_kind(body)
    if kind is None and max_literal is not None and not docstring and len(body) > max_literal:
        kind = "long_literal"
    return kind


def _placeholder(kind: str, body: str) -> str:
    return f"[masked: {len(body)} characters]" if kind == "long_literal" else f"[masked: {kind}]"


def _sql_spans(code: str, dialect: str | None) -> list[tuple[int, int, str, bool]]:
    """(start, end exclusive, body, is_string) of every string and number literal."""
    try:
        tokenizer = Tokenizer(dialect=dialect) if dialect else Tokenizer()
        tokens = tokenizer.tokenize(code)
    except (SqlglotError, ValueError):
        return [(m.start(), m.end(), m.group()[1:-1], True) for m in _QUOTED.finditer(code)]
    spans = []
    for token in tokens:
        if token.token_type in _SQL_STRINGS:
            spans.append((token.start, token.end + 1, token.text, True))
        elif token.token_type == TokenType.NUMBER:
            spans.append((token.start, token.end + 1, token.text, False))
    return spans


def _mask_sql(code: str, dialect: str | None, max_literal: int | None) -> Masked:
    counts: Counter[str] = Counter()
    out, last = [], 0
    for start, end, body, is_string in _sql_spans(code, dialect):
        if start < last:
            continue
        if is_string:
            kind = _literal_kind(body, max_literal)
        else:
            kind = "card" if luhn_valid(body) and body.isdigit() else None
        if kind is None:
            continue
        raw = code[start:end]
        if is_string and body in raw:  # keep the quotes (and any prefix like E or N)
            head = raw.index(body) if body else len(raw) // 2
            replaced = raw[:head] + _placeholder(kind, body) + raw[head + len(body) :]
        else:
            replaced = f"'{_placeholder(kind, body)}'" if is_string else "0 /* [masked: card] */"
        out += [code[last:start], replaced]
        last = end
        counts[kind] += 1
    out.append(code[last:])
    text = _free_text("".join(out), counts)
    return Masked(text, dict(counts))


def _offsets(code: str) -> list[int]:
    """Offset of each line's start, split as `tokenize` reads them (on \\n only)."""
    starts, position = [0], 0
    for line in io.StringIO(code).readlines():
        position += len(line)
        starts.append(position)
    return starts


def _mask_python(code: str, max_literal: int | None) -> Masked:
    counts: Counter[str] = Counter()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        text = _free_text(code, counts)
        return Masked(text, dict(counts))
    starts = _offsets(code)
    out, last = [], 0
    previous = tokenize.NEWLINE
    for token in tokens:
        if token.type == tokenize.STRING:
            docstring = previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, None)
            quote = re.match(r"(?is)^([rbuf]*)('''|\"\"\"|'|\")", token.string)
            if quote:
                prefix, delimiter = quote.group(1), quote.group(2)
                body = token.string[len(prefix) + len(delimiter) : -len(delimiter)]
                kind = _literal_kind(body, max_literal, docstring=docstring)
                if kind is not None:
                    start = starts[token.start[0] - 1] + token.start[1]
                    end = starts[token.end[0] - 1] + token.end[1]
                    placeholder = _placeholder(kind, body)
                    out += [code[last:start], f"{delimiter}{placeholder}{delimiter}"]
                    last = end
                    counts[kind] += 1
        elif token.type == tokenize.NUMBER and luhn_valid(token.string) and token.string.isdigit():
            start = starts[token.start[0] - 1] + token.start[1]
            out += [code[last:start], "0"]
            last = start + len(token.string)
            counts["card"] += 1
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    out.append(code[last:])
    text = _free_text("".join(out), counts)
    return Masked(text, dict(counts))


def mask_code(
    code: str,
    *,
    language: str = "sql",
    dialect: str | None = None,
    max_literal: int | None = DEFAULT_MAX_LITERAL,
) -> Masked:
    """`code` with personal-data literals (and literals over `max_literal` chars) masked."""
    if not code:
        return Masked(code, {})
    if language == "python":
        return _mask_python(code, max_literal)
    return _mask_sql(code, dialect, max_literal)
