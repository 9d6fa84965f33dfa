"""What the offline analyser reads of one object: its kind, the code it quotes, the facts
parsed from it, its output columns and the meanings the YAML gives them.

`Reading` is what the page helpers (cards, column notes, source pages) work from; the
`Writer` (docgen.providers.offline.writer) extends it with the six layers. Keeping the
reading apart means the helpers do not import the writer that calls them.
"""

from __future__ import annotations

from docgen.context import ObjectContext
from docgen.providers.offline.facts import Facts, Step
from docgen.providers.offline.items import Collector
from docgen.providers.offline.python_facts import analyse_python
from docgen.providers.offline.sql_facts import analyse_sql
from docgen.providers.offline.words import join_words


class Reading:
    """One analysed object: what the six layers are written from."""

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
