"""Transformation cards: one per step of the code (CTE, subquery, final query; or dataframe
operation), 3 to 7 of them. Fewer steps than three: a card for reading the inputs and one for
publishing the result, both saying true, specific things; more than seven: the middle ones
merged into one card that names each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docgen.providers.offline import usage
from docgen.providers.offline.facts import Step
from docgen.providers.offline.source_pages import source_cards
from docgen.providers.offline.words import Words, humanize, join_words, sentence

if TYPE_CHECKING:
    from docgen.providers.offline.reading import Reading

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


def cards(w: Reading) -> list[dict[str, Any]]:
    if w.kind != "model":
        cards = source_cards(w)
    else:
        steps = w.facts.steps
        cards = [card(w, step, i == len(steps) - 1) for i, step in enumerate(steps)]
        if len(cards) < 3:
            cards.insert(0, read_card(w))
        if len(cards) < 3:
            cards.append(publish_card(w))
        if len(cards) > 7:
            middle = cards[1:-5]
            cards = [
                cards[0],
                {
                    "title": f"{len(middle)} intermediate steps",
                    "input": middle[0]["input"],
                    "logic": sentence(
                        _cut("; ".join(f"{c['title']}: {c['logic'].rstrip('.')}" for c in middle))
                    ),
                    "output": middle[-1]["output"],
                    "whyItMatters": "They prepare the rows the last steps combine.",
                },
                *cards[-5:],
            ]
    for number, made in enumerate(cards, start=1):
        made["stepNumber"] = number
    return cards


def card(w: Reading, step: Step, last: bool) -> dict[str, Any]:
    kind, _, attr = step.name.partition(":")
    if attr:
        title = _PYTHON_TITLES.get(kind, "Transform rows")
    elif last and step.name == "final":
        title = f"Build {w.name}"
    else:
        title = sentence(humanize(step.name))[:-1][:60] or step.name
    words = Words.for_step(step)
    logic: list[str] = []
    for join in step.joins:
        how = "keeping rows without a match" if join.keeps_unmatched else "matching rows only"
        logic.append(f"adds {join.label} ({how})" if join.kind != "cross" else "")
    for f in step.filters:
        if f.node is not None:
            logic.append(f"keeps rows where {words.say(f.node)}")
        elif f.quote:
            logic.append(f"keeps the rows selected by {f.quote}")
    if step.group_by or step.group_quote:
        logic.append(f"one row per {join_words(step.group_names, 12)}")
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
            else f"selects every column of {join_words(step.inputs, 3) or 'its input'} "
            "without changing rows"
        )
    outputs = step.outputs
    return {
        "title": title,
        "input": sentence(join_words(step.inputs, 4) or "the rows of the previous step"),
        "logic": sentence("; ".join(logic)),
        "output": sentence(
            f"{len(outputs)} column{'s' if len(outputs) != 1 else ''}: "
            + (described(w, w.outputs) if last else join_words(outputs, 5))
            if outputs
            else f"every column of {join_words(step.inputs, 3) or 'its input'}"
        ),
        "whyItMatters": sentence(why(w, step)),
    }


def described(w: Reading, names: list[str]) -> str:
    """Every output column, with its type and YAML description where known."""
    declared = {c.name.lower(): c for c in w.obj.columns}
    shown = []
    for name in names:
        column = declared.get(name.lower())
        notes = [
            n
            for n in (
                column.data_type if column else None,
                w.meanings.get(name.lower(), "").rstrip(".") or None,
            )
            if n
        ]
        shown.append(f"{name} ({'; '.join(notes)})" if notes else name)
    return join_words(shown, 40)


def why(w: Reading, step: Step) -> str:
    if step.filters:
        return f"Rows outside these conditions never reach {w.name}"
    if step.joins:
        return f"Columns of {join_words([j.label for j in step.joins], 3)} sit on the same row"
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
    count = len(step.outputs)
    if not count:
        return f"{step.name} hands on the rows of {join_words(step.inputs, 3) or 'its input'}"
    return f"{step.name} hands on {count} column{'s' if count != 1 else ''} under these names"


def read_card(w: Reading) -> dict[str, Any]:
    inputs = w.inputs()
    read = w.facts.steps[0].reads
    return {
        "title": "Read the inputs",
        "input": sentence(join_words(inputs, 4) or "values written in the code"),
        "logic": sentence(
            f"reads {join_words(inputs, 4)}" if inputs else "uses values written in the code"
        ),
        "output": sentence(
            f"rows with {join_words(read, 5)}"
            if read
            else f"the rows of {join_words(inputs, 3) or 'its inputs'}"
        ),
        "whyItMatters": sentence(
            f"{w.name} is only as complete and fresh as {join_words(inputs, 3)}"
            if inputs
            else f"{w.name} changes only when its code changes"
        ),
    }


def publish_card(w: Reading) -> dict[str, Any]:
    readers = [d.name for d in w.ctx.downstream]
    return {
        "title": f"Publish {w.name}",
        "input": sentence(f"the rows built for {w.name}"),
        "logic": sentence(f"{w.name} is refreshed {usage.refresh(w.ctx)}"),
        "output": sentence(f"{w.name} with {len(w.outputs)} columns" if w.outputs else f"{w.name}"),
        "whyItMatters": sentence(
            f"{'the model' if len(readers) == 1 else 'the models'} {join_words(readers, 3)} "
            f"{'reads' if len(readers) == 1 else 'read'} {w.name}"
            if readers
            else f"No model in the project reads {w.name}"
        ),
    }


def _cut(text: str, limit: int = 1500) -> str:
    """At most `limit` characters, cut between words (a cut name would be a wrong one)."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0].rstrip(",;") + " ..."
