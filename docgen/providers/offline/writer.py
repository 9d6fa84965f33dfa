"""Writes the six layers for one object from its facts, its YAML and its neighbours.

Every sentence says something the code, the YAML or the lineage shows: the owners' own
description opens the summary; steps, predicates, joins, groupings and calculations are read
out from the parsed code; who uses the object comes only from declared evidence
(docgen.providers.offline.usage). Sources and seeds are described as what they are (raw data
from a system, or a file in the project), from their YAML.
"""

from __future__ import annotations

import re
from typing import Any

from docgen.context import ObjectContext
from docgen.layers import LayerName
from docgen.providers.offline import usage
from docgen.providers.offline.facts import Facts, Step
from docgen.providers.offline.items import Collector, Item, fit
from docgen.providers.offline.python_facts import analyse_python
from docgen.providers.offline.sql_facts import analyse_sql
from docgen.providers.offline.words import Words, humanize, join_words, sentence

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
_RULE_KINDS = ["filter", "case", "grain", "distinct"]
_EXPLANATION_KINDS = ["join", "group", "aggregate", "window", "derived"]


def first_sentence(text: str, limit: int = 320) -> str:
    text = " ".join(text.split())
    cut = text.find(". ")
    if 0 < cut < limit:
        text = text[: cut + 1]
    if len(text) > limit:
        text = text[: limit - 3].rsplit(" ", 1)[0] + "..."
    return text


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
        self.facts: Facts = self._analyse()
        declared = [c.name for c in obj.columns]
        outputs = [o for o in self.facts.outputs if o != "*"]
        lower = {o.lower() for o in outputs}
        self.outputs = outputs + [c for c in declared if c.lower() not in lower]
        self.collector = Collector(self.facts, self.name)

    # -- analysis ----------------------------------------------------------------------

    def _analyse(self) -> Facts:
        obj = self.obj
        if self.kind != "model":
            return Facts("sql", False, [Step(self.name)], [], [c.name for c in obj.columns])
        if obj.language == "python":
            return analyse_python(obj.effective_code, self.name)
        return analyse_sql(obj.effective_code, obj.dialect, self.name, self._columns_of)

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

    def _inputs(self) -> list[str]:
        return self.facts.sources or [u.name for u in self.ctx.upstream]

    def _logic_phrases(self, limit: int = 3) -> list[str]:
        phrases: list[str] = []
        steps = self.facts.steps
        filters = [(s, f) for s in steps for f in s.filters]
        if filters:
            step, first = filters[0]
            said = Words(step.aliases).say(first.node) if first.node is not None else ""
            more = len(filters) - 1
            text = f"keeps only rows where {said}" if said else "filters its rows"
            if more:
                text += f" (and {more} more condition{'s' if more > 1 else ''})"
            phrases.append(text)
        joins = [j for s in steps for j in s.joins]
        if joins:
            kept = any(j.keeps_unmatched for j in joins)
            phrases.append(
                f"combines its rows with {join_words([j.target for j in joins], 4)}"
                + (", keeping rows without a match" if kept else "")
            )
        final = self.facts.final
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
        if not phrases and self.facts.parsed:
            inputs = join_words(self._inputs(), 3)
            phrases.append(
                f"keeps every row of {inputs} as it is" if inputs else "selects fixed values"
            )
        return phrases[:limit]

    # -- layers ------------------------------------------------------------------------

    def executive_summary(self) -> str:
        if self.kind != "model":
            return self._source_summary()
        obj = self.obj
        inputs = self._inputs()
        kind = {
            "table": "table",
            "view": "view",
            "dbt_model": "model",
            "cte": "query step",
            "dataframe": "dataframe",
        }[obj.object_type]
        origin = f" built from {join_words(inputs, 4)}" if inputs else ""
        if obj.description:
            first = f"{self.name}: {first_sentence(obj.description)}"
            second = f"This {kind},{origin}," if origin else f"This {kind}"
        else:
            grain = self.facts.final.group_names if self.facts.final.group_by else []
            first = f"{self.name} is a {kind}{origin}"
            if grain:
                first += f", with one row per {join_words(grain, 3)}"
            second = "It"
        logic = self._logic_phrases()
        second = f"{second} {join_words(logic, 3)}" if logic else ""
        third = self._columns_and_readers()
        parts = [first, second, third]
        return " ".join(sentence(p) for p in parts if p)[:1200]

    def _columns_and_readers(self) -> str:
        readers = [d.name for d in self.ctx.downstream]
        parts = []
        if self.outputs:
            count = len(self.outputs)
            parts.append(
                f"its {count} column{'s' if count != 1 else ''} "
                f"{'include' if count > 5 else 'are'} {join_words(self.outputs, 5)}"
            )
        if readers:
            parts.append(f"{join_words(readers, 3)} {'reads' if len(readers) == 1 else 'read'} it")
        return "; ".join(parts)

    def _source_summary(self) -> str:
        obj = self.obj
        props = obj.properties or {}
        system = self.name.split(".", 1)[0] if "." in self.name else self.name
        relation = props.get("relation") or self.name
        if self.kind == "source":
            first = f"{self.name} is raw data from the {system} source, read from {relation}"
        else:
            first = f"{self.name} is a seed: a fixed table loaded from a file in the project"
        if obj.description:
            first += f": {first_sentence(obj.description)}"
        system_text = props.get("source_description")
        second = (
            f"The {system} source is described as: {first_sentence(system_text)}"
            if system_text
            else ""
        )
        freshness = props.get("freshness")
        if freshness:
            second += (" " if second else "") + sentence(
                f"Freshness is checked: {_freshness_words(freshness)}"
            )
        third = self._columns_and_readers() or "its columns are not declared"
        return " ".join(sentence(p) for p in (first, second, third) if p)[:1200]

    def cards(self) -> list[dict[str, Any]]:
        if self.kind != "model":
            cards = self._source_cards()
        else:
            steps = self.facts.steps
            cards = [self._card(step, i == len(steps) - 1) for i, step in enumerate(steps)]
            if len(cards) < 3:
                cards.insert(0, self._read_card())
            if len(cards) < 3:
                cards.append(self._publish_card())
            if len(cards) > 7:
                middle = cards[1:-5]
                cards = [
                    cards[0],
                    {
                        "title": f"{len(middle)} intermediate steps",
                        "input": middle[0]["input"],
                        "logic": sentence(
                            "; ".join(f"{c['title']}: {c['logic'].rstrip('.')}" for c in middle)[
                                :1500
                            ]
                        ),
                        "output": middle[-1]["output"],
                        "whyItMatters": "They prepare the rows the last steps combine.",
                    },
                    *cards[-5:],
                ]
        for number, card in enumerate(cards, start=1):
            card["stepNumber"] = number
        return cards

    def _card(self, step: Step, last: bool) -> dict[str, Any]:
        kind, _, attr = step.name.partition(":")
        if attr:
            title = _PYTHON_TITLES.get(kind, "Transform rows")
        elif last and step.name == "final":
            title = f"Build {self.name}"
        else:
            title = sentence(humanize(step.name))[:-1][:60] or step.name
        words = Words(step.aliases)
        logic: list[str] = []
        for join in step.joins:
            how = "keeping rows without a match" if join.keeps_unmatched else "matching rows only"
            logic.append(f"adds {join.target} ({how})" if join.kind != "cross" else "")
        for f in step.filters:
            if f.node is not None:
                logic.append(f"keeps rows where {words.say(f.node)}")
            elif f.quote:
                logic.append(f"keeps the rows selected by {f.quote}")
        if step.group_by or step.group_quote:
            logic.append(f"one row per {join_words(step.group_names, 4)}")
        if step.aggregates:
            logic.append(f"adds up {join_words([a.output for a in step.aggregates], 4)}")
        if step.windows:
            logic.append(f"computes {join_words([w.output for w in step.windows], 3)} over rows")
        if step.cases:
            named = [c.output for c in step.cases if c.output]
            logic.append(f"decides {join_words(named, 3) or 'values'} by conditions")
        if step.union:
            logic.append(f"stacks the rows of its inputs ({step.union})")
        if step.distinct:
            logic.append("removes duplicate rows")
        if step.derived and len(logic) < 2:
            logic.append(f"calculates {join_words([d.output for d in step.derived], 4)}")
        if step.renamed and not logic:
            logic.append(f"renames {join_words([f'{a} to {b}' for a, b in step.renamed], 3)}")
        logic = [p for p in logic if p]
        if not logic:
            count = len(step.outputs)
            logic.append(
                f"selects {count} column{'s' if count != 1 else ''} without changing rows"
                if count
                else "selects every column without changing rows"
            )
        outputs = step.outputs
        return {
            "title": title,
            "input": sentence(join_words(step.inputs, 4) or "the rows of the previous step"),
            "logic": sentence("; ".join(logic)),
            "output": sentence(
                f"{len(outputs)} column{'s' if len(outputs) != 1 else ''}: {join_words(outputs, 5)}"
                if outputs
                else "the same columns as its input"
            ),
            "whyItMatters": sentence(self._why(step)),
        }

    def _why(self, step: Step) -> str:
        if step.filters:
            return f"Rows outside these conditions never reach {self.name}"
        if step.joins:
            return f"Columns of {join_words([j.target for j in step.joins], 3)} sit on the same row"
        if step.group_by or step.group_quote:
            return f"The figures are reported per {join_words(step.group_names, 3)}"
        if step.windows:
            return "Each row can be compared with related rows"
        if step.cases:
            return "Raw values become named categories"
        if step.union:
            return "Several inputs are reported as one"
        if step.derived:
            return "The calculation is defined once, here"
        return f"The next step reads {len(step.outputs) or 'all'} columns under these names"

    def _read_card(self) -> dict[str, Any]:
        inputs = self._inputs()
        read = self.facts.steps[0].reads
        return {
            "title": "Read the inputs",
            "input": sentence(join_words(inputs, 4) or "values written in the code"),
            "logic": sentence(
                f"reads {join_words(inputs, 4)}" if inputs else "uses values written in the code"
            ),
            "output": sentence(
                f"rows with {join_words(read, 5)}" if read else "the rows of its inputs"
            ),
            "whyItMatters": sentence(
                f"{self.name} is only as complete and fresh as {join_words(inputs, 3)}"
                if inputs
                else f"{self.name} changes only when its code changes"
            ),
        }

    def _publish_card(self) -> dict[str, Any]:
        readers = [d.name for d in self.ctx.downstream]
        return {
            "title": f"Publish {self.name}"[:60],
            "input": sentence(f"the rows built for {self.name}"),
            "logic": sentence(f"{self.name} is refreshed {usage.refresh(self.ctx)}"),
            "output": sentence(
                f"{self.name} with {len(self.outputs)} columns" if self.outputs else f"{self.name}"
            ),
            "whyItMatters": sentence(
                f"{join_words(readers, 3)} {'reads' if len(readers) == 1 else 'read'} {self.name}"
                if readers
                else f"No model in the project reads {self.name}"
            ),
        }

    def _source_cards(self) -> list[dict[str, Any]]:
        obj = self.obj
        props = obj.properties or {}
        relation = props.get("relation") or self.name
        readers = [d.name for d in self.ctx.downstream]
        described = [c for c in obj.columns if c.description]
        return [
            {
                "title": "Loaded from the source system" if self.kind == "source" else "Seed file",
                "input": sentence(
                    props.get("source_description") or f"the {self.name.split('.')[0]} system"
                    if self.kind == "source"
                    else f"a file in the project ({obj.source_path or self.name})"
                ),
                "logic": sentence(
                    f"declared in YAML as {relation}; loaded outside this project"
                    if self.kind == "source"
                    else "loaded by dbt seed as it is"
                ),
                "output": sentence(relation),
                "whyItMatters": sentence(
                    f"everything built on {self.name} depends on this load being complete"
                ),
            },
            {
                "title": "Declared columns",
                "input": sentence(f"the YAML of {self.name}"),
                "logic": sentence(
                    f"{len(obj.columns)} columns declared, {len(described)} with a description"
                    if obj.columns
                    else "no columns are declared"
                ),
                "output": sentence(join_words([c.name for c in obj.columns], 6) or "not declared"),
                "whyItMatters": sentence(
                    "column descriptions tell readers what each field means"
                    if described
                    else "without descriptions, readers must guess what each field means"
                ),
            },
            {
                "title": "Read by the project",
                "input": sentence("the lineage of the project's models"),
                "logic": sentence(
                    f"read by {join_words(readers, 5)}" if readers else "no model reads it"
                ),
                "output": sentence(
                    f"{len(readers)} model{'s' if len(readers) != 1 else ''} downstream"
                ),
                "whyItMatters": sentence(usage.downstream_impact(self.ctx)),
            },
        ]

    # -- code explanations and rules -----------------------------------------------------

    def _line_items(self) -> list[Item]:
        """True facts quoted line by line from the code (sources, seeds, unparsed code):
        declared columns first, then what the code declares, then its lines as written."""
        items: list[Item] = []
        lines: list[Item] = []
        described = {c.name.lower(): c for c in self.obj.columns}
        for line in self.obj.effective_code.splitlines():
            text = line.strip().rstrip(",")
            if not text or text in ("(", ");", ")"):
                continue
            head = text.split()[0].lower()
            column = described.get(head)
            if column is not None:
                meaning = column.description or "no description in the YAML"
                kind = f" ({column.data_type})" if column.data_type else ""
                items.append(Item("column", text, f"{column.name}{kind}: {meaning}", meaning))
            else:
                lines.append(
                    Item(
                        "line",
                        text,
                        f"the code reads: {text.lstrip('-# ')}",
                        "A line of the object's code, quoted as written",
                    )
                )
        fragments: list[Item] = []
        original = self.obj.effective_code
        for macro in dict.fromkeys(re.findall(r"\{\{-?\s*([\w.]+)\s*\(", original)):
            if macro in ("ref", "source", "config", "var", "this"):
                continue
            items.append(
                Item(
                    "macro",
                    macro,
                    f"part of the SQL is generated by the macro {macro}, which is not expanded "
                    "here",
                    "What the macro produces is documented only once the project is compiled",
                )
            )
        for value in dict.fromkeys(re.findall(r"'[^'\n{}]{2,80}'", original)):
            fragments.append(
                Item(
                    "value",
                    value,
                    f"the code uses the value {value}",
                    "A fixed value written in the code",
                )
            )
        for line in original.splitlines():
            for part in line.split(","):
                part = part.strip()
                if len(part) >= 3:
                    fragments.append(
                        Item(
                            "fragment",
                            part,
                            f"the code contains {part}",
                            "Quoted as written",
                        )
                    )
        code = self.obj.effective_code.lower()
        relation = str((self.obj.properties or {}).get("relation") or "")
        for fragment, said, why in (
            (
                f"source {self.name}",
                f"{self.name} is declared as a dbt source",
                "Its rows are loaded from outside the project",
            ),
            (
                f"seed {self.name}",
                f"{self.name} is a dbt seed",
                "Its rows come from a file kept with the project",
            ),
            (
                relation,
                f"its rows are read from the table {relation}",
                "Models that read it depend on this table being loaded",
            ),
            (
                "columns not declared",
                "no columns are declared for it in YAML",
                "Readers cannot see its fields before they query it",
            ),
        ):
            if fragment and fragment.lower() in code:
                items.append(Item("line", fragment, said, why))
        return items + lines + fragments

    def explanations(self) -> list[dict[str, str]]:
        items = self.collector.explanations()
        if len(items) < 3:
            items += self._filler_items(items, 3 - len(items), lines=False)
        if len(items) < 3:
            extra = [i for i in self.collector.rules() if i.quote not in {x.quote for x in items}]
            items += extra[: 3 - len(items)]
        if len(items) < 3:
            items += self._filler_items(items, 3 - len(items))
        items = fit(items, 6, _EXPLANATION_KINDS + _RULE_KINDS)
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
        items = fit(items, 5, _RULE_KINDS + _EXPLANATION_KINDS)
        return [i.rule() for i in items[:5]]

    def _filler_items(self, have: list[Item], count: int, lines: bool = True) -> list[Item]:
        """Other true facts: where rows come from and how columns are named, quoted."""
        quotes = {" ".join(i.quote.lower().split()) for i in have}
        found: list[Item] = []
        if self.kind == "model" and self.facts.parsed:
            for step in self.facts.steps:
                for original, new in step.renamed:
                    quote = _find_rename(self.obj.effective_code, original, new)
                    if quote:
                        found.append(
                            Item(
                                "rename",
                                quote,
                                f"{original} is published as {new}",
                                f"Readers of {self.name} know this field as {new}",
                            )
                        )
            if not any(s.has_logic for s in self.facts.steps):
                inputs = self._inputs()
                quote = _find_from(self.obj.effective_code)
                if quote and inputs:
                    found.append(
                        Item(
                            "from",
                            quote,
                            f"every row of {join_words(inputs, 3)} is kept; no row is "
                            "filtered, combined or added up",
                            f"{self.name} has exactly as many rows as {join_words(inputs, 3)}",
                        )
                    )
        if lines:
            found += self._line_items()
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
            "columns": self.column_notes() or None,
        }

    def column_notes(self) -> list[dict[str, str]]:
        """One note per output column: its YAML description, else the expression that makes
        it, quoted (docgen.columns.offline_notes)."""
        from docgen.columns import offline_notes

        final = self.facts.final
        computed = [*final.aggregates, *final.windows, *final.derived]
        return offline_notes(
            self.outputs,
            {c.name: c.description for c in self.obj.columns if c.description},
            {c.output: c.quote for c in computed},
            {c.output: c.quote for c in final.cases if c.output},
            {c.output for c in final.aggregates},
        )

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
                f"Which rows meet the condition that {Words(step.aliases).say(first.node)}?"
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
        builders = {
            "executive_summary": self.executive_summary,
            "business_narrative": self.narrative,
            "transformation_cards": self.cards,
            "code_explanations": self.explanations,
            "business_rules": self.rules,
            "impact_analysis": self.impact,
        }
        return builders[layer]()


def _freshness_words(freshness: Any) -> str:
    if not isinstance(freshness, dict):
        return str(freshness)
    parts = []
    for level in ("warn_after", "error_after"):
        value = freshness.get(level)
        if isinstance(value, dict) and value.get("count"):
            word = "a warning" if level == "warn_after" else "an error"
            parts.append(f"{word} after {value['count']} {value.get('period', 'hours')}")
    field = freshness.get("loaded_at_field")
    text = join_words(parts) or "declared"
    return text + (f", measured on {field}" if field else "")


def _find_rename(code: str, original: str, new: str) -> str | None:
    import re

    match = re.search(
        rf"\b[\w.]*{re.escape(original)}\s+as\s+{re.escape(new)}\b", code, re.IGNORECASE
    )
    return match.group(0) if match else None


def _find_from(code: str) -> str | None:
    import re

    match = re.search(r"(?i)\bfrom\s+(\{\{.*?\}\}|[\w.\"`]+)", code)
    return match.group(0) if match else None
