"""Grounding: nothing is stored that the object's code does not say.

Every layer answer is checked against the object before it is kept:

- code: each `codeBlock` (code explanations) and `codeReference` (business rules) must be
  found in the object's code, ignoring case and whitespace (a fragment with "..." in it:
  each part), or match a piece of the parsed SQL (sqlglot: `amount>0` is `amount > 0`);
- names: snake_case names and `quoted` names in business rules and transformation cards
  must exist in the code, the column list, or the names of the object and its neighbours;
- reference examples: text that is a near-copy of an instruction's reference example
  (docgen.prompts, `EXAMPLE`) or a copied `<placeholder>` is not about this object.

`GroundedProvider` wraps any provider: an answer with findings is asked for once more with
the findings named (a repair turn), then the items that still fail are removed. A layer whose
problem cannot be removed (the summary copies the example; too few cards left) fails with
NotGrounded. The result goes to the per-layer log (`LayerResult.grounding`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from docgen.context import ObjectContext
from docgen.errors import NotGrounded, ProviderError
from docgen.layers import LAYERS, LayerName
from docgen.pricing import Usage
from docgen.providers.base import LayerRequest, LayerResult, Provider, Repair

#: similarity (difflib ratio) from which a text counts as a copy of a reference example
COPY_RATIO = 0.8
#: texts shorter than this are too generic to call copies ("daily", "Marketing")
COPY_MIN_CHARS = 24

_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_QUOTED = re.compile(r"`([A-Za-z_][\w.]*)`")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"^\s*<[^<>]{3,}>\s*$")
_LEADING_KEYWORD = re.compile(r"^(?:where|and|or|on|having|when|qualify|if)\s+", re.I)
#: text fields whose names of columns and tables are checked, per list layer
_NAMED_FIELDS = {
    "transformation_cards": ("title", "input", "logic", "output", "whyItMatters"),
    "business_rules": ("rule", "impact"),
}
_CODE_FIELD = {"code_explanations": "codeBlock", "business_rules": "codeReference"}


@dataclass(frozen=True)
class Finding:
    """One unsupported part of an answer. `item` is the index of the list entry it is in
    (removable), or None when it concerns the layer as a whole."""

    where: str
    problem: str
    item: int | None = None
    kind: str = "code"  # code | name | example

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def describe(findings: list[Finding], limit: int = 8) -> str:
    """The findings as one paragraph for a repair turn or an error message."""
    text = "; ".join(str(f) for f in findings[:limit])
    more = f" (and {len(findings) - limit} more)" if len(findings) > limit else ""
    return (
        f"these parts are not supported by the code of this object: {text}{more}. Quote code "
        "exactly as it is written above, name only columns and tables that exist, and do "
        "not reuse the instruction's example."
    )


# --- what the object has --------------------------------------------------------------------


def _squash(text: str) -> str:
    """Lower case, one kind of quote, one space between tokens, none around punctuation."""
    text = re.sub(r"\s+", " ", text.lower().replace('"', "'")).strip()
    return re.sub(r"\s*([(),=<>!+\-*/;:.\[\]{}|])\s*", r"\1", text)


@dataclass(frozen=True)
class _Known:
    code: str
    names: frozenset[str]
    #: the code's names, values and operators in order (keywords left out)
    tokens: tuple[str, ...]
    codes: tuple[str, ...]
    dialect: str | None

    @property
    def sql_pieces(self) -> frozenset[str]:
        """The canonical text of every expression of the parsed code. Built on first use
        only: most fragments are found in the text, and printing every node of a long
        query costs more than the rest of the check (measured: 9% of a job's CPU)."""
        return _all_sql_pieces(self.codes, self.dialect)


@lru_cache(maxsize=256)
def _known(codes: tuple[str, ...], dialect: str | None, extra_names: tuple[str, ...]) -> _Known:
    """What an object has: its code (source and compiled form, each parsed on its own),
    the words in it, and the names of its columns and neighbours."""
    names = {w.lower() for code in codes for w in _WORD.findall(code)}
    for name in extra_names:
        names.add(name.lower())
        names.update(part.lower() for part in name.split("."))
    tokens = tuple(t for code in codes for t in (*_tokens(code), "\x00"))
    squashed = "\n".join(_squash(c) for c in codes)
    return _Known(squashed, frozenset(names), tokens, codes, dialect)


@lru_cache(maxsize=64)
def _all_sql_pieces(codes: tuple[str, ...], dialect: str | None) -> frozenset[str]:
    return frozenset(p for code in codes for p in _sql_pieces(code, dialect))


def _sql_pieces(code: str, dialect: str | None) -> Iterator[str]:
    """The canonical text of every expression of the parsed code (empty if unparseable)."""
    from docgen.sqltext import parse_sql

    try:
        statements = parse_sql(code, dialect)
    except Exception:  # noqa: BLE001 - not SQL, or SQL sqlglot cannot read: text match only
        return
    for statement in statements or []:
        if statement is None:
            continue
        for node in statement.walk():
            try:
                yield _squash(node.sql())
            except Exception:  # noqa: BLE001 - a node sqlglot cannot print
                continue


def _known_for(ctx: ObjectContext) -> _Known:
    obj = ctx.object
    codes = tuple(dict.fromkeys(c for c in (obj.code, obj.effective_code) if c and c.strip()))
    extra = [obj.name, *(c.name for c in obj.columns)]
    extra += [r.name for r in (*ctx.upstream, *ctx.downstream)]
    # what the context message also showed: descriptions of the object, its columns and its
    # neighbours ("status: placed, shipped or return_pending")
    described = [obj.description, *(c.description for c in obj.columns)]
    described += [r.summary for r in (*ctx.upstream, *ctx.downstream)]
    for related in ctx.upstream:  # the upstream's columns and code (`select *` over them)
        described += [related.code, *(c.name for c in related.columns)]
        described += [c.description for c in related.columns]
    extra += [w for text in described if text for w in _WORD.findall(text)]
    if obj.object_type == "table" or not codes:
        # a table or source has no query: reading it by its name and columns is all a
        # citation of it can say (`select id, email from shop.customers`)
        kind = obj.materialization or obj.object_type
        columns = ", ".join(c.name for c in obj.columns) or "*"
        codes += (f"-- {obj.name} ({kind})\nselect {columns}\nfrom {obj.name}",)
    return _known(codes, obj.dialect, tuple(extra))


#: words a re-rendered fragment may add or drop without changing what it says
_KEYWORDS = frozenset(
    "select from where and or on as join inner left right full outer cross group by order "
    "having with distinct all is not null case when then else end in like between".split()
)
_KINDS = frozenset(
    "table view source data model dbt dataframe cte incremental ephemeral snapshot seed".split()
)
_TOKEN = re.compile(
    r"'[^']*'|\"[^\"]*\"|[0-9]*[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[<>!=]=?|<>|[*/+%-]"
)


def _tokens(code: str) -> list[str]:
    found = []
    for token in _TOKEN.findall(code.lower()):
        token = token.strip("\"'")
        if token and token not in _KEYWORDS:
            found.append(token)
    return found


def _in_order(fragment: str, known: _Known) -> bool:
    """The fragment's names, values and operators appear in the code in the same order and
    close together: how a fragment re-rendered by an analyser (aliases or keywords dropped,
    `inner join x on ...` for `join {{ ref('x') }} as i on ...`) still matches."""
    wanted = _tokens(fragment)
    if not any(_WORD.fullmatch(t) or t[:1].isdigit() for t in wanted):
        return True  # keywords and operators only (`select *`): it cites nothing specific
    if fragment.lstrip().startswith("--"):  # a comment naming the object and its kind
        return all(t in known.names or t in _KINDS for t in wanted if _WORD.fullmatch(t))
    if len(wanted) == 1:
        return wanted[0] in known.tokens
    window = 3 * len(wanted) + 8
    tokens = known.tokens
    for start, token in enumerate(tokens):
        if token != wanted[0]:
            continue
        position, matched = start + 1, 1
        while matched < len(wanted) and position < min(len(tokens), start + window):
            if tokens[position] == wanted[matched]:
                matched += 1
            elif tokens[position] == "\x00":
                break
            position += 1
        if matched == len(wanted):
            return True
    return False


def in_code(fragment: str, known: _Known) -> bool:
    """The fragment is in the code, ignoring case and whitespace, or is a parsed-SQL match."""
    fragment = fragment.strip().strip("`").strip()
    if not fragment:
        return False
    parts = [p for p in re.split(r"\.\.\.|…", fragment) if p.strip(" ;,\n")]
    if parts and all(_squash(p.strip(" ;,\n")) in known.code for p in parts):
        return True
    if known.sql_pieces:
        import sqlglot

        try:
            parsed = sqlglot.parse_one(_LEADING_KEYWORD.sub("", fragment.strip(" ;,\n")))
        except Exception:  # noqa: BLE001 - not an expression sqlglot can read
            parsed = None
        if parsed is not None and _squash(parsed.sql()) in known.sql_pieces:
            return True
    return _in_order(fragment, known)


# --- the checks -----------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@lru_cache(maxsize=8)
def _examples(layer: LayerName) -> tuple[str, ...]:
    from docgen.prompts import LAYER_PROMPTS

    example = getattr(LAYER_PROMPTS[layer], "EXAMPLE", None)
    return tuple(_squash(s) for s in _strings(example) if len(s) >= COPY_MIN_CHARS)


def copies_example(text: str, layer: LayerName) -> bool:
    """A near-copy of the layer's reference example, or a copied <placeholder>."""
    if _PLACEHOLDER.match(text):
        return True
    if len(text) < COPY_MIN_CHARS:
        return False
    squashed = _squash(text)
    for example in _examples(layer):
        matcher = difflib.SequenceMatcher(None, squashed, example, autojunk=False)
        # the quick ratios are upper bounds of ratio(), in linear time: most texts are
        # ruled out without the quadratic matching (measured: 8% of a job's CPU)
        if (
            matcher.real_quick_ratio() >= COPY_RATIO
            and matcher.quick_ratio() >= COPY_RATIO
            and matcher.ratio() >= COPY_RATIO
        ):
            return True
    return False


def _unknown_names(text: str, known: _Known) -> list[str]:
    found = set(_SNAKE.findall(text)) | set(_QUOTED.findall(text))
    return sorted(n for n in found if n.lower() not in known.names)


def _items(layer: LayerName, value: Any) -> list[tuple[str, Any, int | None]]:
    """(where, part, item index) for every part of the stored value a check looks at."""
    spec = LAYERS[layer]
    if spec.list_key:
        return [(f"{spec.list_key}[{i}]", item, i) for i, item in enumerate(value or [])]
    if layer == "business_narrative" and isinstance(value, dict):
        parts: list[tuple[str, Any, int | None]] = [
            ("whatItDoes", value.get("whatItDoes"), None),
            ("businessImpact", value.get("businessImpact"), None),
        ]
        journey = value.get("dataJourney") or []
        return parts + [(f"dataJourney[{i}]", s, i) for i, s in enumerate(journey)]
    if layer == "impact_analysis" and isinstance(value, dict):
        used = [(f"usedBy[{i}]", u, i) for i, u in enumerate(value.get("usedBy") or [])]
        return [*used, ("downstreamImpact", value.get("downstreamImpact"), None)]
    return [("text", value, None)]


def check_layer(layer: LayerName, value: Any, ctx: ObjectContext) -> list[Finding]:
    """Everything in the layer's value the object does not support (empty: grounded)."""
    known = _known_for(ctx)
    findings: list[Finding] = []
    code_field = _CODE_FIELD.get(layer)
    named = _NAMED_FIELDS.get(layer, ())
    for where, part, index in _items(layer, value):
        if isinstance(part, dict) and code_field:
            fragment = str(part.get(code_field) or "")
            if not in_code(fragment, known):
                shown = fragment if len(fragment) <= 80 else fragment[:79] + "…"
                findings.append(
                    Finding(f"{where}.{code_field}", f"{shown!r} is not in the code", index)
                )
        for field in named:
            text = part.get(field) if isinstance(part, dict) else None
            missing = _unknown_names(str(text or ""), known)
            if missing:
                findings.append(
                    Finding(
                        f"{where}.{field}",
                        f"names {', '.join(missing)}, which the code does not have",
                        index,
                        "name",
                    )
                )
        if any(copies_example(s, layer) for s in _strings(part)):
            findings.append(
                Finding(where, "copies the instruction's reference example", index, "example")
            )
    return findings


def remove_unsupported(layer: LayerName, value: Any, findings: list[Finding]) -> Any | None:
    """The value without the items the findings point at; None when that is not possible
    (a finding about the whole layer, or fewer items left than the layer needs)."""
    if any(f.item is None for f in findings):
        return None
    drop = {f.item for f in findings}
    spec = LAYERS[layer]
    if spec.list_key:
        kept = [item for i, item in enumerate(value) if i not in drop]
        if layer == "transformation_cards":
            kept = [{**card, "stepNumber": n} for n, card in enumerate(kept, 1)]
        cleaned: Any = kept
    elif layer == "business_narrative":
        journey = [s for i, s in enumerate(value["dataJourney"]) if i not in drop]
        cleaned = {**value, "dataJourney": journey}
    elif layer == "impact_analysis":
        used = [u for i, u in enumerate(value["usedBy"]) if i not in drop]
        cleaned = {**value, "usedBy": used}
    else:
        return None
    try:
        spec.validate_stored(cleaned)
    except ValueError:
        return None
    return cleaned


def _record(status: str, retried: bool, findings: list[Finding]) -> dict[str, Any]:
    """The grounding entry of the per-layer log (what the first answer had wrong)."""
    found = summary(findings)
    return {
        "status": status,
        "retried": retried,
        "removed": 0,
        "found": found,
        "example_copies": found["example"],
        "findings": [str(f) for f in findings[:10]],
    }


def summary(findings: list[Finding]) -> dict[str, int]:
    counts = {"code": 0, "name": 0, "example": 0}
    for finding in findings:
        counts[finding.kind] += 1
    return counts


# --- the provider wrapper ---------------------------------------------------------------------


class GroundedProvider:
    """Any provider whose answers pass the grounding check before they are returned."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model

    def generate(self, request: LayerRequest) -> LayerResult:
        result = self.inner.generate(request)
        if request.context is None:
            return result
        layer = request.layer
        findings = check_layer(layer, result.value, request.context)
        if not findings:
            return replace(result, grounding={"status": "passed", "retried": False, "removed": 0})
        first = findings
        if self.inner.name == "offline":
            # the offline analyser re-renders the code it parsed: it cannot invent a column
            # the way a model can, and asking again gives the same answer; its findings are
            # logged, not enforced
            return replace(result, grounding=_record("reported", False, first))
        answer = result.raw or json.dumps(result.value)
        try:
            again = self.inner.generate(
                replace(request, repair=Repair(answer=answer, problem=describe(findings)))
            )
        except ProviderError as exc:  # keep the first answer, count the tokens spent
            if exc.fails_job:
                raise
            extra = exc.usage if isinstance(exc.usage, Usage) else Usage()
            result = result.with_extra_usage(extra, 1)
        else:
            usage = result.usage + again.usage
            result = replace(again, usage=usage, attempts=result.attempts + again.attempts)
            findings = check_layer(layer, result.value, request.context)
        record = _record("passed", True, first)
        if not findings:
            return replace(result, grounding=record)
        cleaned = remove_unsupported(layer, result.value, findings)
        if cleaned is None:
            record.update(status="failed", remaining=[str(f) for f in findings[:10]])
            error = NotGrounded(
                f"{layer}: not grounded in the code after a retry naming the problems: "
                + "; ".join(str(f) for f in findings[:3]),
                raw=result.raw,
                layer=layer,
                usage=result.usage,
            )
            error.grounding = record
            raise error
        record.update(status="cleaned", removed=len({f.item for f in findings}))
        record["remaining"] = [str(f) for f in findings[:10]]
        return replace(result, value=cleaned, grounding=record)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # structured_outputs, verify, breaker, ...
        return getattr(self.inner, name)
