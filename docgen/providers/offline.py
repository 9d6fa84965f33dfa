"""The offline provider: deterministic layers from static analysis, no key, no network.

It reads the code (docgen.providers.analysis) and writes the six layers from what it finds:
the CTE chain becomes transformation cards, WHERE/CASE/JOIN become code explanations and
business rules, the downstream lineage becomes the impact analysis. It is honest about what
it is: its model name is `offline-static-analysis-1`, its token usage is zero, and its text
says what the code does, not what the business intends.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any

from docgen.context import ObjectContext
from docgen.layers import LAYERS, LayerName
from docgen.pricing import Usage
from docgen.providers.analysis import Facts, Step, analyse
from docgen.providers.base import LayerRequest, LayerResult

OFFLINE_MODEL = "offline-static-analysis-1"

_OPERATORS = [
    (r"\s*<>\s*|\s*!=\s*", " is not "),
    (r"\s*>=\s*", " is at least "),
    (r"\s*<=\s*", " is at most "),
    (r"\s*>\s*", " is greater than "),
    (r"\s*<\s*", " is less than "),
    (r"\s*==?\s*", " is "),
    (r"(?i)\bis not null\b", "is present"),
    (r"(?i)\bis null\b", "is missing"),
    (r"(?i)\bnot in\b", "is not one of"),
    (r"(?i)\bin\b", "is one of"),
    (r"(?i)\bnot like\b|\bnot ilike\b", "does not match"),
    (r"(?i)\blike\b|\bilike\b", "matches"),
    (r"(?i)\bbetween\b", "is between"),
    (r"(?i)\band\b", "and"),
    (r"(?i)\bor\b", "or"),
    (r"(?i)\bcurrent_date\b|\bcurrent_timestamp\b|\bnow\(\)", "today"),
]

_PYTHON_TITLES = {
    "filter": "Filter rows",
    "join": "Combine data sets",
    "group": "Group rows",
    "aggregate": "Calculate totals",
    "derive": "Add calculated fields",
    "sort": "Sort rows",
    "dedupe": "Remove duplicates",
    "rename": "Rename fields",
    "select": "Choose fields",
    "clean": "Handle missing values",
}

_TEAMS = (
    (
        "Finance",
        (
            "revenue",
            "payment",
            "invoice",
            "amount",
            "price",
            "cost",
            "margin",
            "refund",
            "paid",
            "billing",
            "ltv",
            "lifetime_value",
        ),
    ),
    (
        "Marketing",
        (
            "customer",
            "campaign",
            "segment",
            "channel",
            "cohort",
            "retention",
            "acquisition",
            "session",
            "visit",
        ),
    ),
    (
        "Operations",
        ("order", "shipment", "delivery", "inventory", "product", "stock", "supplier", "fulfil"),
    ),
    ("Customer Support", ("ticket", "support", "complaint", "return")),
)


def humanize(name: str) -> str:
    """'stg_customer_orders' -> 'customer orders'."""
    base = name.rsplit(".", 1)[-1]
    base = re.sub(r"^(stg|int|fct|dim|base|tmp|raw|src|rpt|mart|agg)_+", "", base)
    base = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)
    words = re.sub(r"[_\-]+", " ", base).strip().lower()
    return words or name


def english(condition: str) -> str:
    """A rough plain-English reading of a SQL or pandas condition."""
    text = re.sub(r"\w+\[\s*['\"](\w+)['\"]\s*\]", r"\1", condition)  # df["col"] -> col
    text = re.sub(r"\b\w+\.(\w+)\b", r"\1", text)  # drop table qualifiers
    text = text.replace('"', "")
    for pattern, replacement in _OPERATORS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"\s+", " ", text).replace("_", " ").strip()
    return text


def _join_words(items: list[str], limit: int = 4) -> str:
    items = [i for i in items if i]
    if not items:
        return "nothing"
    shown = items[:limit]
    more = len(items) - len(shown)
    if more > 0:
        shown.append(f"{more} more")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


class _Writer:
    """Writes the six layers for one analysed object."""

    def __init__(self, ctx: ObjectContext) -> None:
        self.ctx = ctx
        obj = ctx.object
        self.obj = obj
        self.facts: Facts = analyse(obj.effective_code, obj.language, obj.dialect, obj.name)
        self.subject = humanize(obj.name)
        columns = [c.name for c in obj.columns] or [o for o in self.facts.outputs if o != "*"]
        self.columns = columns
        self.sources = [humanize(s) for s in self.facts.sources] or [
            humanize(u.name) for u in ctx.upstream
        ]
        self.final = self.facts.steps[-1]
        self.grain = [english(g) for g in self.final.group_by]

    # -- helpers -----------------------------------------------------------------------

    def _title(self, step: Step, last: bool) -> str:
        kind, _, attr = step.name.partition(":")
        if attr:  # Python operation
            return _PYTHON_TITLES.get(kind, "Transform rows")
        if last and step.name in ("final", self.obj.name):
            return "Produce the final result"
        return _sentence(humanize(step.name))[:-1][:60] or "Prepare data"

    def _kind(self) -> str:
        kind = {
            "table": "table",
            "view": "view",
            "dbt_model": "data model",
            "cte": "step",
            "dataframe": "dataframe",
        }[self.obj.object_type]
        return kind

    def _step_logic(self, step: Step) -> str:
        parts = []
        if step.joins:
            parts.append("combines it with " + _join_words([humanize(j[1]) for j in step.joins]))
        if step.filters:
            parts.append("keeps only rows where " + english(step.filters[0]))
        if step.group_by:
            parts.append("totals it per " + _join_words([english(g) for g in step.group_by]))
        if step.windows:
            parts.append("ranks or compares rows within groups")
        if step.cases:
            parts.append(
                "sorts rows into categories (" + _join_words([c[0] for c in step.cases]) + ")"
            )
        if step.distinct:
            parts.append("removes duplicate rows")
        if step.union:
            parts.append("stacks several inputs on top of each other")
        if not parts and step.derived:
            parts.append("calculates " + _join_words([d[0] for d in step.derived]))
        if not parts:
            parts.append("selects and renames the fields it needs")
        return "; ".join(parts)

    def _step_why(self, step: Step) -> str:
        if step.filters:
            return "Only the rows the business counts reach the numbers people see"
        if step.joins:
            return "Each row gets the related facts it needs in one place"
        if step.group_by:
            return "Detail becomes figures that can be compared and reported"
        if step.windows:
            return "Rows can be ranked or compared with others in their group"
        if step.cases:
            return "Raw values become categories people recognise"
        if step.distinct:
            return "Nothing is counted twice"
        return "Fields get clear names and a consistent shape for the next steps"

    def _usage_teams(self) -> list[tuple[str, str]]:
        haystack = " ".join([self.obj.name, *self.columns, *(d.name for d in self.ctx.downstream)])
        haystack = haystack.lower()
        teams = []
        for team, words in _TEAMS:
            hits = [w for w in words if w in haystack]
            if hits:
                teams.append((team, hits[0]))
        return teams or [("Analytics", "data")]

    # -- layers ------------------------------------------------------------------------

    def executive_summary(self) -> str:
        columns = _join_words(self.columns, 5) if self.columns else "the fields its users need"
        first = (
            f"{self.obj.name} is a {self._kind()} built from {_join_words(self.sources)} "
            f"that provides {columns}"
        )
        if self.grain:
            first += f", one row per {_join_words(self.grain, 3)}"
        rules = [f for s in self.facts.steps for f in s.filters]
        steps = len(self.facts.steps)
        second = (
            f"It applies {len(rules)} filtering rule{'s' if len(rules) != 1 else ''} over "
            f"{steps} step{'s' if steps != 1 else ''}, so reports start from the same figures"
            if rules
            else "It shapes its sources into one consistent, reusable form"
        )
        users = [humanize(d.name) for d in self.ctx.downstream]
        third = (
            f"It feeds {_join_words(users, 3)}"
            if users
            else "No other data model reads it yet; it is meant for direct reporting"
        )
        return " ".join(_sentence(part) for part in (first, second, third))

    def cards(self) -> list[dict[str, Any]]:
        steps = list(self.facts.steps)
        cards: list[dict[str, Any]] = []
        for index, step in enumerate(steps):
            inputs = [humanize(i) for i in step.inputs] or [self.subject]
            outputs = [o for o in step.outputs if o != "*"]
            cards.append(
                {
                    "title": self._title(step, index == len(steps) - 1),
                    "input": _sentence(_join_words(inputs)),
                    "logic": _sentence(self._step_logic(step)),
                    "output": _sentence(
                        f"{len(outputs)} fields: {_join_words(outputs, 4)}"
                        if outputs
                        else "The rows prepared by this step"
                    ),
                    "whyItMatters": _sentence(self._step_why(step)),
                }
            )
        if len(cards) < 3:
            cards.insert(
                0,
                {
                    "title": "Read source data",
                    "input": _sentence(_join_words(self.sources) if self.sources else self.subject),
                    "logic": "Reads the rows it needs from its sources.",
                    "output": "The raw rows to work with.",
                    "whyItMatters": "Everything after this step depends on these sources being "
                    "complete and fresh.",
                },
            )
        if len(cards) < 3:
            cards.append(
                {
                    "title": f"Deliver {self.subject}"[:60],
                    "input": "The prepared rows.",
                    "logic": "Publishes the result under one stable name.",
                    "output": _sentence(f"{self.subject}, ready for reports"),
                    "whyItMatters": "Reports and other data models read one agreed version.",
                }
            )
        if len(cards) > 7:
            middle = cards[1:-5]
            merged = {
                "title": "Intermediate preparation",
                "input": middle[0]["input"],
                "logic": _sentence(" Then ".join(c["logic"].rstrip(".") for c in middle)[:400]),
                "output": middle[-1]["output"],
                "whyItMatters": "Several small steps shape the data for the final result.",
            }
            cards = [cards[0], merged, *cards[-5:]]
        for number, card in enumerate(cards, start=1):
            card["stepNumber"] = number
        return cards

    def explanations(self) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        for step in self.facts.steps:
            for condition in step.filters:
                found.append(
                    {
                        "codeBlock": condition,
                        "plainEnglish": _sentence(f"Only rows where {english(condition)} are kept"),
                        "businessContext": "Rows outside this condition are left out of every "
                        "figure built on this data.",
                    }
                )
            for kind, target, on in step.joins:
                join_text = f"{kind} join {target}" + (f" on {on}" if on else "")
                keep = (
                    "every row is kept, even without a match"
                    if kind.startswith(("left", "full"))
                    else "only rows with a match on both sides are kept"
                )
                found.append(
                    {
                        "codeBlock": join_text[:160],
                        "plainEnglish": _sentence(f"Brings in {humanize(target)}; {keep}"),
                        "businessContext": "Related facts end up on the same row, so they can be "
                        "compared directly.",
                    }
                )
            for name, case in step.cases:
                found.append(
                    {
                        "codeBlock": case,
                        "plainEnglish": _sentence(
                            f"Assigns a category to each row as {humanize(name)}"
                        ),
                        "businessContext": "People filter and group by these categories instead of "
                        "raw values.",
                    }
                )
            for window in step.windows:
                found.append(
                    {
                        "codeBlock": window,
                        "plainEnglish": "Ranks or numbers rows within each group without "
                        "collapsing them.",
                        "businessContext": "Answers questions such as first, latest or top N.",
                    }
                )
            if step.group_by and not step.name.startswith("group:"):
                found.append(
                    {
                        "codeBlock": "group by " + ", ".join(step.group_by),
                        "plainEnglish": _sentence(
                            "Adds up the detail into one row per "
                            + _join_words([english(g) for g in step.group_by])
                        ),
                        "businessContext": "Sets the level at which the figures can be reported.",
                    }
                )
            for name, derived in step.derived:
                found.append(
                    {
                        "codeBlock": derived,
                        "plainEnglish": _sentence(f"Calculates {humanize(name)}"),
                        "businessContext": "Saves every report from recalculating the same figure.",
                    }
                )
        found = _dedupe(found, "codeBlock")
        columns = self.columns or ["*"]
        fallbacks = [
            {
                "codeBlock": f"from {source}",
                "plainEnglish": _sentence(f"Reads its rows from {humanize(source)}"),
                "businessContext": "The data is only as fresh and complete as this source.",
            }
            for source in self.facts.sources or [self.obj.name]
        ] + [
            {
                "codeBlock": "select " + ", ".join(columns[:6]),
                "plainEnglish": _sentence(
                    "Keeps every field of its source"
                    if columns == ["*"]
                    else f"Outputs {_join_words(columns, 6)}"
                ),
                "businessContext": "These are the fields reports and other models can use.",
            },
            {
                "codeBlock": f"-- {self.obj.name} ({self.obj.materialization or self._kind()})",
                "plainEnglish": _sentence(
                    f"The result is published as {self.obj.materialization or 'a ' + self._kind()}"
                ),
                "businessContext": "Everyone reads the same version of these figures.",
            },
        ]
        for fallback in fallbacks:
            if len(found) >= 3:
                break
            found = _dedupe([*found, fallback], "codeBlock")
        return found[:6]

    def rules(self) -> list[dict[str, str]]:
        rules: list[dict[str, str]] = []
        for step in self.facts.steps:
            for condition in step.filters:
                rules.append(
                    {
                        "rule": _sentence(f"Only rows where {english(condition)} count"),
                        "codeReference": condition,
                        "impact": _sentence(f"Rows that fail this never appear in {self.subject}"),
                    }
                )
            for name, case in step.cases:
                rules.append(
                    {
                        "rule": _sentence(f"{humanize(name)} is decided by fixed conditions"),
                        "codeReference": case,
                        "impact": "Changing these conditions moves rows between categories.",
                    }
                )
            for kind, target, on in step.joins:
                if kind.startswith("inner") or kind == "join":
                    rules.append(
                        {
                            "rule": _sentence(
                                f"Rows without matching {humanize(target)} are dropped"
                            ),
                            "codeReference": f"join {target}" + (f" on {on}" if on else ""),
                            "impact": "Records missing their counterpart are not counted.",
                        }
                    )
        if self.grain:
            rules.append(
                {
                    "rule": _sentence(f"There is one row per {_join_words(self.grain, 3)}"),
                    "codeReference": "group by " + ", ".join(self.final.group_by),
                    "impact": "Totals can be summed across rows without double counting.",
                }
            )
        if any(step.distinct for step in self.facts.steps):
            rules.append(
                {
                    "rule": "Duplicate rows are removed.",
                    "codeReference": "select distinct",
                    "impact": "Nothing is counted twice.",
                }
            )
        rules = _dedupe(rules, "codeReference")
        if len(rules) < 2:
            rules.append(
                {
                    "rule": _sentence(f"{self.subject} passes its source rows through unchanged"),
                    "codeReference": f"from {(self.facts.sources or [self.obj.name])[0]}",
                    "impact": "Figures match the source exactly; any issue there shows up here.",
                }
            )
        if len(rules) < 2:
            rules.append(
                {
                    "rule": "Field names are standardised.",
                    "codeReference": "select " + ", ".join((self.columns or ["*"])[:4]),
                    "impact": "Reports use the same names for the same facts.",
                }
            )
        return rules[:5]

    def impact(self) -> dict[str, Any]:
        frequency = (
            "daily" if (self.obj.materialization or "") in ("table", "incremental") else "on demand"
        )
        used_by = [
            {
                "team": team,
                "frequency": frequency,
                "purpose": _sentence(f"Follow {humanize(word)} figures from {self.subject}"),
            }
            for team, word in self._usage_teams()[:4]
        ]
        metrics = [
            c
            for c in self.columns
            if re.search(
                r"(amount|total|count|sum|revenue|value|number|qty|quantity|avg|rate|price|ltv)",
                c,
                re.I,
            )
        ]
        grain = _join_words(self.grain, 2) if self.grain else humanize(self.obj.name)
        questions = [f"What is the {humanize(m)} for each {grain}?" for m in metrics[:3]]
        questions.append(f"Which {self.subject} records exist right now?")
        if self.facts.steps and any(s.filters for s in self.facts.steps):
            questions.append(f"Which {self.subject} records meet the business's counting rules?")
        downstream = [humanize(d.name) for d in self.ctx.downstream]
        impact = (
            f"If {self.subject} is wrong or late, {_join_words(downstream, 4)} "
            f"{'show' if len(downstream) > 1 else 'shows'} wrong or stale figures too."
            if downstream
            else f"If {self.subject} is wrong or late, reports that read it directly show wrong "
            "or stale figures."
        )
        return {
            "usedBy": used_by,
            "questionsAnswered": questions[:5],
            "downstreamImpact": impact,
            "columns": self.column_notes() or None,
        }

    def column_notes(self) -> list[dict[str, str]]:
        """One note per output column (docgen.columns.offline_notes)."""
        from docgen.columns import offline_notes

        final = self.final
        return offline_notes(
            self.columns,
            {c.name: c.description for c in self.obj.columns if c.description},
            dict(final.derived),
            dict(final.cases),
            set(final.aggregates),
            english,
        )

    def narrative(self) -> dict[str, Any]:
        summary = self.executive_summary().split(". ")
        journey = [f"{card['title']}: {card['logic'].rstrip('.')}" for card in self.cards()][:6]
        if len(journey) < 2:
            journey.append(f"Publish {self.subject} for reporting")
        upstream = [u for u in self.ctx.upstream if u.summary]
        built_on = (
            f" It builds on {_join_words([humanize(u.name) for u in upstream], 3)}."
            if upstream
            else ""
        )
        return {
            "whatItDoes": _sentence(summary[0]) + built_on,
            "dataJourney": journey,
            "businessImpact": self.impact()["downstreamImpact"],
        }

    def layer(self, layer: LayerName) -> Any:
        builders = {
            "executive_summary": self.executive_summary,
            "business_narrative": self.narrative,
            "transformation_cards": self.cards,
            "code_explanations": self.explanations,
            "business_rules": self.rules,
            "impact_analysis": self.impact,
        }
        return builders[layer]()


def _dedupe(items: list[dict[str, str]], key: str) -> list[dict[str, str]]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item[key] not in seen:
            seen.add(item[key])
            out.append(item)
    return out


def _context_key(ctx: ObjectContext) -> tuple[Any, ...]:
    obj = ctx.object
    return (
        obj.id,
        obj.content_hash,
        obj.effective_code,
        tuple((u.id, u.summary) for u in ctx.upstream),
        tuple(d.id for d in ctx.downstream),
    )


@lru_cache(maxsize=64)
def _cached_writer(key: tuple[Any, ...], ctx_box: _Box) -> _Writer:
    return _Writer(ctx_box.ctx)


class _Box:
    """Carries the (unhashable) context into the cache; equal when the keys are."""

    def __init__(self, ctx: ObjectContext) -> None:
        self.ctx = ctx

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return True


def _writer(ctx: ObjectContext) -> _Writer:
    """One analysis per object version, shared by its six layer calls."""
    return _cached_writer(_context_key(ctx), _Box(ctx))


class OfflineProvider:
    """No key, no network: layers derived from the code by static analysis."""

    name = "offline"
    model = OFFLINE_MODEL

    def generate(self, request: LayerRequest) -> LayerResult:
        started = time.perf_counter()
        value = _writer(request.context).layer(request.layer)
        spec = LAYERS[request.layer]
        # the same validation an LLM answer gets: the offline analyser keeps the contract too
        parsed = spec.validate_stored(value)
        return LayerResult(
            layer=request.layer,
            value=spec.stored_value(parsed),
            usage=Usage(),
            finish_reason="stop",
            model=self.model,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )

    def close(self) -> None:
        return None
