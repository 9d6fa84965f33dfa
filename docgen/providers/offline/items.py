"""Code explanations and business rules: every construct once, in words, with its quote.

Constructs come from the facts in the order of the code. Filters, CASE classifications, the
grain and de-duplication are business rules; joins, groupings, aggregations, windows and
calculations are code explanations. A layer holds few items (rules 2-5, explanations 3-6), so
when a model has more constructs than places, those of one kind are merged into one item that
names each of them (the quote is the first one's). With fewer constructs than the minimum, the
layer is completed with other true facts of the code (where the rows come from, renamed and
calculated columns), never with filler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp

from docgen.providers.offline.facts import Case, Computed, Facts, Join, Step
from docgen.providers.offline.words import Words, is_condition, join_words, sentence

MAX_TEXT = 3000


@dataclass
class Item:
    kind: str
    quote: str
    text: str  # plainEnglish / rule
    context: str  # businessContext / impact
    members: list[str] = field(default_factory=list)  # what a merged item lists
    short: str = ""  # how a merged item names it
    keep_case: bool = False  # the text starts with a column name

    def explanation(self) -> dict[str, str]:
        return {
            "codeBlock": self.quote,
            "plainEnglish": sentence(_cap(self.text), self.keep_case),
            "businessContext": sentence(self.context),
        }

    def rule(self) -> dict[str, str]:
        return {
            "rule": sentence(_cap(self.text), self.keep_case),
            "codeReference": self.quote,
            "impact": sentence(self.context),
        }


def _cap(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3].rsplit(" ", 1)[0] + "..."


def case_words(words: Words, case: Case) -> str:
    branches = [f"{words.say(value)} when {words.say(cond)}" for cond, value in case.branches]
    if case.default is not None:
        branches.append(f"otherwise {words.say(case.default)}")
    target = case.output or "a value"
    shown = branches[:8] + ([f"{len(branches) - 8} more cases"] if len(branches) > 8 else [])
    return f"{target} is {'; '.join(shown)}"


def join_words_for(words: Words, join: Join, subject: str) -> str:
    on = words.say(join.on) if join.on is not None else ""
    condition = join.on
    if (
        isinstance(condition, exp.EQ)
        and isinstance(condition.this, exp.Column)
        and isinstance(condition.expression, exp.Column)
        and condition.this.name == condition.expression.name
    ):
        on = f"the same {condition.this.name}"
    if join.using:
        on = f"the same {join_words(join.using)}"
    match = f" matched on {on}" if on else ""
    if join.kind == "unnest":
        return f"expands each row into one row for each of {join.label}"
    if join.kind == "cross":
        return f"pairs every row with every row of {join.label}"
    if join.kind == "left":
        keep = f"rows without a match are kept, with the columns of {join.label} empty"
    elif join.kind == "right":
        keep = f"every row of {join.label} is kept, even without a match"
    elif join.kind == "full":
        keep = "rows from both sides are kept, matched or not"
    else:
        keep = "rows without a match are dropped"
    return f"adds {join.label}{match}; {keep}"


class Collector:
    """Turns the facts of one object into candidate rules and explanations."""

    def __init__(self, facts: Facts, subject: str, meanings: dict[str, str] | None = None) -> None:
        self.facts = facts
        self.subject = subject
        #: column name (lower case) -> the description its owners wrote in YAML
        self.meanings = meanings or {}

    def meaning(self, node: exp.Expr | None, context: str) -> str:
        """The context, preceded by what the YAML says the columns in `node` mean."""
        if node is None:
            return context
        said = []
        for column in dict.fromkeys(c.name for c in node.find_all(exp.Column)):
            text = self.meanings.get(column.lower())
            if text:
                said.append(f"{column}: {text.rstrip('.')}")
        return "; ".join([*said[:3], context]) if said else context

    def words(self, step: Step) -> Words:
        return Words.for_step(step)

    def rules(self) -> list[Item]:
        found: list[Item] = []
        for step in self.facts.steps:
            words = self.words(step)
            for item in step.filters:
                if not item.quote:
                    continue
                clause = {"having": "groups", "qualify": "rows after ranking"}.get(
                    item.clause, "rows"
                )
                first = words.first_rows(item.node)
                found.append(
                    Item(
                        "filter",
                        item.quote,
                        first or f"only {clause} where {words.say(item.node)} are kept",
                        self.meaning(
                            item.node,
                            f"{clause.capitalize()} that fail this never reach {self.subject}",
                        ),
                        short=words.say(item.node),
                    )
                )
            for case in step.cases:
                if not case.quote:
                    continue
                found.append(
                    Item(
                        "case",
                        case.quote,
                        case_words(words, case),
                        self.meaning(
                            case.node,
                            "Changing these conditions moves rows between the values of "
                            f"{case.output or 'this expression'}",
                        ),
                        short=case.output or "",
                        keep_case=bool(case.output),
                    )
                )
            if step.distinct:
                found.append(
                    Item(
                        "distinct",
                        _distinct_quote(step),
                        f"duplicate rows of {join_words(step.outputs, 4) or 'the result'} "
                        "are removed",
                        "Each combination is counted once",
                    )
                )
        final = self.facts.final
        if final.group_by and final.group_quote:
            found.append(
                Item(
                    "grain",
                    final.group_quote,
                    f"{self.subject} has one row per {join_words(final.group_names, 12)}",
                    "Figures can be added up across rows without counting anything twice",
                )
            )
        return _dedupe(found)

    def explanations(self) -> list[Item]:
        found: list[Item] = []
        for step in self.facts.steps:
            words = self.words(step)
            where = "" if step.name == "final" else f" (in the {step.name} step)"
            for join in step.joins:
                if join.quote:
                    found.append(
                        Item(
                            "join",
                            join.quote,
                            join_words_for(words, join, self.subject) + where,
                            _join_context(join),
                            short=f"{join.label}"
                            + (
                                " (kept without a match)"
                                if join.keeps_unmatched
                                else " (matching rows only)"
                            ),
                        )
                    )
            if step.group_by and step.group_quote and step is not self.facts.final:
                found.append(
                    Item(
                        "group",
                        step.group_quote,
                        f"rows are combined into one per {join_words(step.group_names, 12)}"
                        + where,
                        f"From {step.name} on, figures are per {join_words(step.group_names, 3)}",
                    )
                )
            for agg in step.aggregates:
                if agg.quote:
                    found.append(
                        Item(
                            "aggregate",
                            agg.quote,
                            f"{agg.output} is {words.say(agg.node)}"
                            + (f" per {join_words(step.group_names, 3)}" if step.group_by else ""),
                            f"{agg.output} summarises many detail rows in one figure",
                            short=agg.output,
                            keep_case=True,
                        )
                    )
            for window in step.windows:
                if window.quote:
                    found.append(
                        Item(
                            "window",
                            window.quote,
                            f"{window.output} is {words.say(window.node)}",
                            f"Each row keeps its detail and gains {window.output}",
                            keep_case=True,
                        )
                    )
            for derived in step.derived:
                if derived.quote:
                    found.append(
                        Item(
                            "derived",
                            derived.quote,
                            _calculated(words, derived),
                            f"Every reader of {self.subject} gets {derived.output} computed "
                            "the same way",
                            keep_case=True,
                        )
                    )
        return _dedupe(found)


def _calculated(words: Words, derived: Computed) -> str:
    if derived.node is None:  # Python: the quoted code is the definition
        return f"{derived.output} is computed by the code quoted here"
    if is_condition(derived.node):
        return f"{derived.output} is true when {words.say(derived.node)}"
    return f"{derived.output} is {words.say(derived.node)}"


def _join_context(join: Join) -> str:
    if join.kind in ("left", "full"):
        return f"Nothing is lost when {join.label} has no matching row"
    if join.kind in ("cross", "unnest"):
        return "The row count multiplies"
    return f"Only rows present in {join.label} as well are counted"


def _distinct_quote(step: Step) -> str:
    return "distinct"


def _dedupe(items: list[Item]) -> list[Item]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = " ".join(item.quote.lower().split())
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def fit(items: list[Item], limit: int, kinds: list[str], minimum: int = 1) -> list[Item]:
    """At most `limit` items: copies of one construct that differ in one value are merged
    first (unless that leaves fewer than `minimum`), then the kind with most items has its last
    ones merged into one item that names each of them, as few as needed, until they fit."""
    items = list(items)
    if len(items) > limit:  # copies of one construct (a Jinja loop's) first, as one item
        forms: dict[tuple[str, ...], list[Item]] = {}
        for item in items:
            phrase = item.short or item.text
            if len(_VALUE.findall(phrase)) == 1:
                forms.setdefault((item.kind, *_VALUE.split(phrase)), []).append(item)
        for take in forms.values():
            if len(take) < 3 or len(items) <= limit or len(items) - len(take) + 1 < minimum:
                continue
            merged = Item(
                take[0].kind,
                take[0].quote,
                _merged_text(take[0].kind, take),
                take[0].context,
                [i.quote for i in take],
                short="; ".join(
                    collapse([i.short for i in take if i.short], _NOUNS.get(take[0].kind, "items"))
                ),
            )
            position = items.index(take[0])
            items = [i for i in items if not any(i is t for t in take)]
            items.insert(position, merged)
    while len(items) > limit:
        counts: dict[str, int] = {}
        for item in items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        kind = max(
            (k for k in counts if counts[k] > 1),
            key=lambda k: (counts[k], -kinds.index(k) if k in kinds else 0),
            default=None,
        )
        if kind is None:
            return items[:limit]
        group = [i for i in items if i.kind == kind]
        take = group[-min(len(group), len(items) - limit + 1) :]
        merged = Item(
            kind,
            take[0].quote,
            _merged_text(kind, take),
            take[0].context,
            [i.quote for i in take],
            short="; ".join(i.short for i in take if i.short),
        )
        position = items.index(take[0])
        items = [i for i in items if not any(i is t for t in take)]
        items.insert(position, merged)
    return items


_MERGED_HEADS = {
    "join": "it adds",
    "filter": "rows are kept only where",
    "case": "values decided by conditions",
    "aggregate": "figures",
    "window": "row-by-row comparisons",
    "derived": "calculated columns",
    "group": "groupings",
}


#: a quoted value or a number in a phrase: what varies between copies of one construct
_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def collapse(phrases: list[str], noun: str = "filters") -> list[str]:
    """Phrases that differ only in one value (a Jinja loop renders one filter once per day,
    feed or table) said once, with every value listed: `x is 'a'`, `x is 'b'`, `x is 'c'` ->
    `x is each of 'a', 'b' and 'c' (one per value, 3 filters of this form)`. Order is kept."""
    forms: dict[tuple[str, ...], list[str]] = {}
    for phrase in phrases:
        values = _VALUE.findall(phrase)
        if len(values) == 1:
            forms.setdefault(tuple(_VALUE.split(phrase)), []).append(values[0])
    out: list[str] = []
    done: set[tuple[str, ...]] = set()
    for phrase in phrases:
        values = _VALUE.findall(phrase)
        form = tuple(_VALUE.split(phrase)) if len(values) == 1 else None
        if form is None or len(set(forms[form])) < 3:
            out.append(phrase)
            continue
        if form in done:
            continue
        done.add(form)
        listed = list(dict.fromkeys(forms[form]))
        every = ", ".join(listed[:-1]) + " and " + listed[-1]
        out.append(
            f"{form[0]}each of {every}{form[1]} (one per value, {len(forms[form])} {noun} "
            "of this form)"
        )
    return out


_NOUNS = {"filter": "filters", "case": "classifications", "join": "joins"}


def _merged_text(kind: str, group: list[Item]) -> str:
    shorts = collapse([i.short or i.text for i in group], _NOUNS.get(kind, "items"))
    head = _MERGED_HEADS.get(kind)
    if head and all(i.short for i in group):
        return f"{head}: " + "; ".join(shorts)
    return "; ".join(shorts)
