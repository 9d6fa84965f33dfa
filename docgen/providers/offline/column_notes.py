"""One note per output column for the impact-analysis layer (`ImpactAnalysis.columns`).

What the offline analyser can stand behind, in this order: the description people wrote for the
column (YAML, catalog); what the code does to make it (a CASE in words, an aggregation, a window,
a calculation); where it is taken from unchanged (the relation and column, with that column's
own description when the upstream object has one). Readers show a human description first and
mark generated text (docgen.columns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docgen.layers import MAX_COLUMN_NOTES
from docgen.providers.offline.items import case_words
from docgen.providers.offline.words import Words, sentence

if TYPE_CHECKING:
    from docgen.providers.offline.reading import Reading


def column_notes(w: Reading) -> list[dict[str, str]]:
    final = w.facts.final
    words = Words.for_step(final)
    human = {c.name.lower(): c.description for c in w.obj.columns if c.description}
    upstream = {
        (u.name.lower(), c.name.lower()): c.description
        for u in w.ctx.upstream
        for c in u.columns
        if c.description
    }
    cases = {c.output: c for step in w.facts.steps for c in step.cases if c.output}
    computed = {c.output: c for c in (*final.aggregates, *final.windows, *final.derived)}
    notes = []
    for name in w.outputs[:MAX_COLUMN_NOTES]:
        if human.get(name.lower()):
            text = str(human[name.lower()])
        elif name in cases and name in {c.output for c in final.cases}:
            text = "Set by conditions: " + case_words(words, cases[name])
        elif name in computed and computed[name].node is not None:
            kind = "Aggregated" if computed[name] in final.aggregates else "Calculated"
            text = f"{kind}: {name} is {words.say(computed[name].node)}"
        elif name in final.origins:
            relation, column = final.origins[name]
            described = upstream.get((relation.lower().rsplit(".", 1)[-1], column.lower()))
            described = described or upstream.get((relation.lower(), column.lower()))
            text = f"{column} of {relation}, unchanged"
            if described:
                text += f": {described}"
        else:
            continue  # nothing true to say beyond its name
        notes.append({"name": name, "description": sentence(text, keep_case=True)})
    return notes
