"""Writes the six layers for one object from its facts, its YAML and its neighbours.

Every sentence says something the code, the YAML or the lineage shows: the owners' own
description opens the summary; steps, predicates, joins, groupings and calculations are read
out from the parsed code; who uses the object comes only from declared evidence
(docgen.providers.offline.usage). Sources and seeds are described as what they are (raw data
from a system, or a file in the project), from their YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from docgen.context import ObjectContext
from docgen.layers import LayerName
from docgen.providers.offline import usage
from docgen.providers.offline.cards import cards
from docgen.providers.offline.column_notes import column_notes
from docgen.providers.offline.facts import Facts, Step
from docgen.providers.offline.items import Collector, Item, fit
from docgen.providers.offline.python_facts import analyse_python
from docgen.providers.offline.source_pages import (
    first_sentence,
    leading_comment,
    line_items,
    source_summary,
)
from docgen.providers.offline.sql_facts import analyse_sql
from docgen.providers.offline.words import Words, join_words, sentence

_RULE_KINDS = ["filter", "case", "grain", "distinct"]
#: text fields whose names docgen.grounding checks, per list layer
_NAMED_FIELDS = {
    "transformation_cards": ("title", "input", "logic", "output", "whyItMatters"),
    "business_rules": ("rule", "impact"),
}
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_URL = re.compile(r"https?://\S+")
_QUOTED = re.compile(r"`([A-Za-z_][\w.]*)`")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"('[^'\n]+')")
_EXPLANATION_KINDS = ["join", "group", "aggregate", "window", "derived"]


class Writer:
    """The six layers of one analysed object (one instance serves its six layer calls)."""

    def __init__(self, ctx: ObjectContext) -> None:
        self.ctx = ctx
        self.obj = obj = ctx.object
        self.name = obj.name
        props = obj.properties or {}
        resource = props.get("resource_type")
        self.kind = (
            "source"
            if resource == "source" or obj.materialization == "source"
            else "seed"
            if resource == "seed" or obj.materialization == "seed"
            else "model"
        )
        self._upstream_outputs: dict[str, list[str]] = {}
        self._names: set[str] | None = None
        #: the code read and quoted: the compiled SQL when it holds anything, else the source
        self.code: str = (
            obj.compiled_code if obj.compiled_code and obj.compiled_code.strip() else obj.code
        )
        self.facts: Facts = self._analyse()
        declared = [c.name for c in obj.columns]
        outputs = [o for o in self.facts.outputs if o != "*"]
        lower = {o.lower() for o in outputs}
        self.outputs = outputs + [c for c in declared if c.lower() not in lower]
        columns = [c for u in ctx.upstream for c in u.columns] + list(obj.columns)
        meanings = {c.name.lower(): c.description for c in columns if c.description}
        self.meanings = meanings
        self.collector = Collector(self.facts, self.name, meanings)

    # -- analysis ----------------------------------------------------------------------

    def _analyse(self) -> Facts:
        obj = self.obj
        if self.kind != "model":
            return Facts("sql", False, [Step(self.name)], [], [c.name for c in obj.columns])
        if obj.language == "python":
            return analyse_python(self.code, self.name)
        return analyse_sql(self.code, obj.dialect, self.name, self._columns_of)

    def _columns_of(self, relation: str) -> list[str] | None:
        """The columns of an upstream relation: declared in YAML, else what its SQL selects."""
        wanted = relation.lower()
        for upstream in self.ctx.upstream:
            names = {upstream.name.lower(), upstream.name.rsplit(".", 1)[-1].lower()}
            if wanted not in names and wanted.rsplit(".", 1)[-1] not in names:
                continue
            if upstream.columns:
                return [c.name for c in upstream.columns]
            if upstream.id not in self._upstream_outputs and upstream.language == "sql":
                facts = analyse_sql(upstream.code, upstream.dialect, upstream.name)
                if not facts.unresolved_star:
                    self._upstream_outputs[str(upstream.id)] = list(facts.outputs)
            return self._upstream_outputs.get(str(upstream.id))
        return None

    # -- shared facts in words ---------------------------------------------------------

    def inputs(self) -> list[str]:
        return self.facts.sources or [u.name for u in self.ctx.upstream]

    def _logic_phrases(self, limit: int = 3) -> list[str]:
        phrases: list[str] = []
        steps = self.facts.steps
        filters = [(s, f) for s in steps for f in s.filters]
        if filters:
            step, first = filters[0]
            said = Words.for_step(step).say(first.node) if first.node is not None else ""
            more = len(filters) - 1
            text = f"keeps only rows where {said}" if said else "filters its rows"
            if more:
                text += f" (and {more} more condition{'s' if more > 1 else ''})"
            phrases.append(text)
        joins = [j for s in steps for j in s.joins]
        if joins:
            kept = [j.label for j in joins if j.keeps_unmatched]
            strict = [j.label for j in joins if j.kind in ("inner", "right")]
            spread = [j.label for j in joins if j.kind in ("cross", "unnest")]
            if spread:
                phrases.append(f"repeats each row for each of {join_words(spread, 3)}")
            if strict:
                phrases.append(f"keeps only rows with a match in {join_words(strict, 3)}")
            if kept:
                verb = "holds" if len(kept) == 1 else "hold"
                phrases.append(f"adds what {join_words(kept, 3)} {verb} where a match exists")
        final = self.facts.final
        if final.aggregates and not final.group_by and not final.group_quote:
            figures = [a.output for a in final.aggregates]
            phrases.append(f"turns all its rows into one row of {join_words(figures, 3)}")
        if final.group_by:
            figures = [a.output for a in final.aggregates]
            what = f"adds up {join_words(figures, 3)}" if figures else "combines rows"
            phrases.append(f"{what} per {join_words(final.group_names, 3)}")
        cases = [c.output for s in steps for c in s.cases if c.output]
        if cases:
            phrases.append(f"decides {join_words(cases, 3)} by conditions")
        windows = [w.output for s in steps for w in s.windows]
        if windows:
            phrases.append(f"computes {join_words(windows, 3)} over related rows")
        unions = [s for s in steps if s.union]
        if unions:
            phrases.append(f"stacks the rows of {join_words(unions[0].inputs, 4)}")
        if any(s.distinct for s in steps):
            phrases.append("removes duplicate rows")
        if not phrases:
            renamed = [f"{a} to {b}" for s in steps for a, b in s.renamed]
            derived = [d.output for s in steps for d in s.derived]
            if renamed:
                phrases.append(f"renames {join_words(renamed, 3)}")
            if derived:
                phrases.append(f"calculates {join_words(derived, 4)}")
        if not phrases and self.facts.opaque:
            macros = re.findall(r"\{\{-?\s*([\w.]+)\s*\(", self.code)
            macros = [m for m in dict.fromkeys(macros) if m not in ("ref", "source", "config")]
            phrases.append(
                f"has part of its SQL generated by {join_words(macros, 3)}"
                if macros
                else "has part of its SQL generated by Jinja expressions"
            )
        if not phrases and self.facts.parsed:
            inputs = join_words(self.inputs(), 3)
            phrases.append(
                f"keeps every row of {inputs} as it is" if inputs else "selects fixed values"
            )
        return phrases[:limit]

    # -- layers ------------------------------------------------------------------------

    def executive_summary(self) -> str:
        if self.kind != "model":
            return source_summary(self)
        obj = self.obj
        inputs = self.inputs()
        kind = {
            "table": "table",
            "view": "view",
            "dbt_model": "model",
            "cte": "query step",
            "dataframe": "dataframe",
        }[obj.object_type]
        origin = f" built from {join_words(inputs, 4)}" if inputs else ""
        comment = None if obj.description else leading_comment(self.code, obj.language)
        if obj.description:
            first = f"{self.name}: {first_sentence(obj.description)}"
            second = f"This {kind},{origin}," if origin else f"This {kind}"
        elif comment:
            first = f"{self.name}, in its author's words: “{first_sentence(comment)}”"
            second = f"This {kind},{origin}," if origin else f"This {kind}"
        else:
            grain = self.facts.final.group_names if self.facts.final.group_by else []
            first = f"{self.name} is a {kind}{origin}"
            if grain:
                first += f", with one row per {join_words(grain, 3)}"
            second = "It"
        logic = self._logic_phrases()
        second = f"{second} {join_words(logic, 3)}" if logic else ""
        third = self.columns_and_readers()
        parts = [first, second, third]
        return " ".join(sentence(p) for p in parts if p)[:1200]

    def columns_and_readers(self) -> str:
        readers = [d.name for d in self.ctx.downstream]
        parts = []
        if self.outputs:
            count = len(self.outputs)
            parts.append(
                f"its {count} column{'s' if count != 1 else ''} "
                f"{'include' if count > 5 else 'are'} {join_words(self.outputs, 5)}"
            )
        if readers:
            one = len(readers) == 1
            parts.append(
                f"{'the model' if one else 'the models'} {join_words(readers, 3)} "
                f"{'reads' if one else 'read'} it"
            )
        return "; ".join(parts)

    def cards(self) -> list[dict[str, Any]]:
        return cards(self)

    def explanations(self) -> list[dict[str, str]]:
        items = self.collector.explanations()
        if len(items) < 3:
            items += self._filler_items(items, 3 - len(items), lines=False)
        if len(items) < 3:
            extra = [i for i in self.collector.rules() if i.quote not in {x.quote for x in items}]
            items += extra[: 3 - len(items)]
        if len(items) < 3:
            items += self._filler_items(items, 3 - len(items))
        items = fit(items, 6, _EXPLANATION_KINDS + _RULE_KINDS, minimum=3)
        return [i.explanation() for i in items[:6]]

    def rules(self) -> list[dict[str, str]]:
        items = self.collector.rules()
        if len(items) < 2:
            derived = [
                i for i in self.collector.explanations() if i.kind in ("derived", "aggregate")
            ]
            items += derived[: 2 - len(items)]
        if len(items) < 2:
            items += self._filler_items(items, 2 - len(items))
        items = fit(items, 5, _RULE_KINDS + _EXPLANATION_KINDS, minimum=2)
        return [i.rule() for i in items[:5]]

    def _filler_items(self, have: list[Item], count: int, lines: bool = True) -> list[Item]:
        """Other true facts: where rows come from and how columns are named, quoted."""
        quotes = {" ".join(i.quote.lower().split()) for i in have}
        found: list[Item] = []
        if self.kind == "model" and self.facts.parsed:
            for step in self.facts.steps:
                for original, new in step.renamed:
                    quote = _find_rename(self.code, original, new)
                    if quote:
                        found.append(
                            Item(
                                "rename",
                                quote,
                                f"the column {original} is published as {new}",
                                f"Readers of {self.name} know this field as {new}",
                            )
                        )
            inputs = self.inputs()
            quote = _find_from(self.code, [i for s in self.facts.steps for i in s.inputs])
            unchanged = not any(s.has_logic for s in self.facts.steps) and not self.facts.opaque
            if quote and inputs and unchanged:
                found.append(
                    Item(
                        "from",
                        quote,
                        f"every row of {join_words(inputs, 3)} is kept; no row is "
                        "filtered, combined or added up",
                        f"{self.name} has exactly as many rows as {join_words(inputs, 3)}",
                    )
                )
            elif quote:
                read = re.sub(r"(?i)^from\s+", "", quote)
                named = re.search(r"['\"]([\w.]+)['\"]\s*\)", read)
                relation = named.group(1) if named else read.strip('"`')
                found.append(
                    Item(
                        "from",
                        quote,
                        f"the query starts from the rows of {relation}",
                        f"{self.name} depends on {relation} being complete and current",
                    )
                )
        star = re.search(r"(?i)\bselect\s+\*", self.code)
        if star and self.facts.final.star:
            found.append(
                Item(
                    "star",
                    star.group(0),
                    f"every column of {join_words(self.inputs(), 3) or 'its input'} is selected",
                    f"A column added upstream appears in {self.name} too",
                )
            )
        if lines:
            found += line_items(self)
            # the last resort for very short code: its words, each quoted as written
            for word in dict.fromkeys(re.findall(r"[A-Za-z_][\w.]{2,}", self.code)):
                found.append(Item("word", word, f"the code names {word}", "Quoted as written"))
        out = []
        for item in found:
            key = " ".join(item.quote.lower().split())
            if key in quotes:
                continue
            quotes.add(key)
            out.append(item)
            if len(out) == count:
                break
        return out

    def impact(self) -> dict[str, Any]:
        return {
            "usedBy": usage.used_by(self.ctx),
            "questionsAnswered": [sentence(q) for q in self._questions()[:8]],
            "downstreamImpact": usage.downstream_impact(self.ctx),
            "columns": column_notes(self) or None,
        }

    def _questions(self) -> list[str]:
        final = self.facts.final
        questions: list[str] = []
        grain = join_words(final.group_names, 3)
        for agg in final.aggregates[:3]:
            questions.append(f"What is {agg.output}" + (f" per {grain}?" if grain else "?"))
        for case in [c for s in self.facts.steps for c in s.cases if c.output][:2]:
            questions.append(f"Which rows get each value of {case.output}?")
        for window in [w for s in self.facts.steps for w in s.windows][:1]:
            questions.append(f"What is the {window.output} of each row?")
        filters = [(s, f) for s in self.facts.steps for f in s.filters if f.node is not None]
        if filters:
            step, first = filters[0]
            questions.append(
                f"Which rows meet the condition that {Words.for_step(step).say(first.node)}?"
            )
        if self.outputs and len(questions) < 2:
            questions.append(f"What are the {join_words(self.outputs[:3], 3)} of each row?")
        if not questions:
            questions.append(f"What does {self.name} hold, and where does it come from?")
        return questions

    def narrative(self) -> dict[str, Any]:
        summary = self.executive_summary()
        what = " ".join(re.split(r"(?<=[.!?])\s+", summary)[:2]).strip()
        journey = [f"{card['title']}: {card['logic'].rstrip('.')}" for card in self.cards()][:8]
        upstream = [u.name for u in self.ctx.upstream if u.summary]
        if upstream:
            what = sentence(what) + " " + sentence(f"It builds on {join_words(upstream, 3)}")
        return {
            "whatItDoes": sentence(what),
            "dataJourney": journey,
            "businessImpact": usage.downstream_impact(self.ctx),
        }

    def layer(self, layer: LayerName) -> Any:
        builders: dict[str, Callable[[], Any]] = {
            "executive_summary": self.executive_summary,
            "business_narrative": self.narrative,
            "transformation_cards": self.cards,
            "code_explanations": self.explanations,
            "business_rules": self.rules,
            "impact_analysis": self.impact,
        }
        value = builders[layer]()
        fields = _NAMED_FIELDS.get(layer)
        if fields:
            value = [{k: self._plain(v) if k in fields else v for k, v in i.items()} for i in value]
        return value

    def _plain(self, text: str) -> str:
        """Names neither the code nor the neighbours have (an upstream column reached through
        `select *`, a name inside a YAML description) are written as words, so that every
        name a card or a rule gives is one docgen.grounding finds."""
        if self._names is None:
            obj = self.obj
            names = {w.lower() for code in (obj.code, self.code) for w in _WORD.findall(code)}
            for name in [obj.name, *(c.name for c in obj.columns)] + [
                r.name for r in (*self.ctx.upstream, *self.ctx.downstream)
            ]:
                names.add(name.lower())
                names.update(part.lower() for part in name.split("."))
            self._names = names
        known = self._names

        def word(match: re.Match[str]) -> str:
            name = match.group(1) if match.group(0).startswith("`") else match.group(0)
            return name if name.lower() in known else name.replace("_", " ")

        def plain(text: str) -> str:
            # links in YAML descriptions: their text stays, the address (full of names) goes
            text = _URL.sub("(link)", _LINK.sub(r"\1", text))
            text = _DOTTED.sub(
                lambda m: (
                    m.group(0) if m.group(0).lower() in known else re.sub(r"[_.]", " ", m.group(0))
                ),
                text,
            )
            return _SNAKE.sub(word, _QUOTED.sub(word, text))

        # a value quoted from the code ('%@mattermost.com') is left as written
        code = f"{self.obj.code}\n{self.code}".lower()
        parts = _LITERAL.split(text)
        return "".join(
            part if index % 2 and part.lower() in code else plain(part)
            for index, part in enumerate(parts)
        )


def _find_rename(code: str, original: str, new: str) -> str | None:

    match = re.search(
        rf"\b[\w.]*{re.escape(original)}\s+as\s+{re.escape(new)}\b", code, re.IGNORECASE
    )
    return match.group(0) if match else None


def _find_from(code: str, inputs: list[str]) -> str | None:
    """The first `from <relation>` of the code that reads one of the parsed inputs (not a
    "from" in a comment)."""
    wanted = {i.lower().rsplit(".", 1)[-1] for i in inputs}
    for match in re.finditer(r"(?i)\bfrom\s+(\{\{.*?\}\}|[\w.\"`]+)", code):
        relation = match.group(1)
        named = re.search(r"['\"]([\w.]+)['\"]\s*\)", relation)
        name = (named.group(1) if named else relation.strip('"`')).lower().rsplit(".", 1)[-1]
        if name in wanted:
            return match.group(0)
    return None
