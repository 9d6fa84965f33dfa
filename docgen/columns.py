"""Column descriptions: one sentence per output column, stored with the documentation version.

They travel in the impact-analysis layer (`ImpactAnalysis.columns`, nullable so older
versions stay valid): the LLM writes them in the existing sixth call, the offline analyser
from the human descriptions it was given and the expressions it can read
(docgen.providers.offline.column_notes). Readers (viewer,
Markdown, dbt YAML write-back) go through `column_rows()`, which puts a human description
first and marks generated text as such.

Faithfulness: a generated note is shown for a column the object is known to have; when the
object has no column list (a SQL file without a catalog), the notes for names that appear in
the code are shown, and names the code never mentions are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docgen.model import DataObject, Documentation


@dataclass(frozen=True)
class ColumnRow:
    name: str
    data_type: str | None
    #: the description people wrote (dbt YAML, catalog comment), or None
    human: str | None
    #: docgen's description from the documentation version, or None
    generated: str | None

    @property
    def description(self) -> str | None:
        return self.human or self.generated


def generated_notes(doc: Documentation | None) -> dict[str, str]:
    """name -> description from a version's impact analysis ({} when it has none)."""
    if doc is None or not isinstance(doc.impact_analysis, dict):
        return {}
    notes = doc.impact_analysis.get("columns") or []
    found: dict[str, str] = {}
    for note in notes if isinstance(notes, list) else []:
        if isinstance(note, dict) and note.get("name") and note.get("description"):
            found.setdefault(str(note["name"]), " ".join(str(note["description"]).split()))
    return found


def _mentioned(name: str, code: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", code, re.I) is not None


def column_rows(obj: DataObject, doc: Documentation | None) -> list[ColumnRow]:
    """The object's columns with their human and generated descriptions, in column order."""
    notes = generated_notes(doc)
    lowered = {k.lower(): v for k, v in notes.items()}
    if obj.columns:
        return [
            ColumnRow(c.name, c.data_type, c.description or None, lowered.get(c.name.lower()))
            for c in obj.columns
        ]
    code = obj.effective_code
    return [ColumnRow(n, None, None, d) for n, d in notes.items() if _mentioned(n, code)]
