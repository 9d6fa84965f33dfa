"""SQL facts with sqlglot: one step per CTE (and per subquery), then the final query.

Each step records where its rows come from, every WHERE/HAVING/QUALIFY predicate, join (its
kind and target), grouping (positions such as `group by 1, 2` resolved to the selected
expressions), aggregation, window and CASE expression, each with its verbatim quote from the
code (docgen.providers.offline.spans). `select *` is resolved to the columns of its inputs
when they are known: CTEs from their own outputs, other relations through `columns_of`.
Code that sqlglot cannot parse yields one step with the relations named after FROM/JOIN.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from docgen.providers.offline.facts import Case, Computed, Facts, Filter, Join, Step
from docgen.providers.offline.spans import PLACEHOLDER, Source, parse
from docgen.providers.offline.words import Words
from docgen.sqltext import sqlglot_dialect

ColumnsOf = Callable[[str], list[str] | None]
#: names a model uses for itself (`{{ this }}`); never reported as one of its sources
SELF_NAMES = {"this_model", "this"}


def relation_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part) or table.name


def _split_and(condition: exp.Expr) -> list[exp.Expr]:
    if isinstance(condition, exp.And):
        return _split_and(condition.left) + _split_and(condition.right)
    if isinstance(condition, exp.Paren) and isinstance(condition.this, exp.And):
        return _split_and(condition.this)
    return [condition]


def _owner(node: exp.Expr) -> exp.Expr | None:
    """The SELECT a node belongs to."""
    return node.find_ancestor(exp.Select)


class _Reader:
    def __init__(self, source: Source, name: str, columns_of: ColumnsOf) -> None:
        self.source = source
        self.name = name
        self.columns_of = columns_of
        self.known: dict[str, list[str]] = {}  # CTE / subquery alias -> its output columns
        self.steps: list[Step] = []
        self.unresolved_star = False

    def quote(self, node: exp.Expr | None, clause: str | None = None) -> str | None:
        return None if node is None else self.source.excerpt(node, clause)

    def columns(self, relation: str) -> list[str] | None:
        if relation in self.known:
            return self.known[relation]
        return self.columns_of(relation)

    # -- one query ---------------------------------------------------------------------

    def read(self, name: str, query: exp.Expr) -> Step:
        step = Step(name=name)
        if isinstance(query, exp.Subquery):
            query = query.this
        with_ = query.args.get("with_") or query.args.get("with")
        for cte in with_.expressions if with_ is not None else []:
            # a WITH at any depth (dbt macros often nest one in a CTE): its CTEs come first
            inner = self.read(cte.alias, cte.this)
            self.steps.append(inner)
            self.known[cte.alias] = inner.outputs
        if isinstance(query, exp.SetOperation):
            kind = {"Union": "union", "Intersect": "intersect", "Except": "except"}.get(
                type(query).__name__, "union"
            )
            if kind == "union" and not query.args.get("distinct"):
                kind = "union all"
            parts = self._set_parts(query)
            for index, part in enumerate(parts):
                inner = self.read(name, part)
                for attribute in (
                    "filters",
                    "filter_quotes",
                    "joins",
                    "aggregates",
                    "windows",
                    "cases",
                    "derived",
                ):
                    getattr(step, attribute).extend(getattr(inner, attribute))
                step.inputs += [i for i in inner.inputs if i not in step.inputs]
                step.aliases.update(inner.aliases)
                if index == 0:
                    step.outputs = inner.outputs
                    step.group_by, step.group_names = inner.group_by, inner.group_names
                    step.group_quote = inner.group_quote
            step.union = kind
            return step
        if not isinstance(query, exp.Select):
            return step
        self._read_inner_queries(name, query)
        self._read_from(step, query)
        self._read_filters(step, query)
        self._read_projections(step, query)
        self._read_group(step, query)
        step.distinct = bool(query.args.get("distinct"))
        limit = query.args.get("limit")
        if limit is not None:
            step.limit = self.quote(limit.expression) if limit.expression is not None else None
        return step

    def _set_parts(self, query: exp.Expr) -> list[exp.Expr]:
        if isinstance(query, exp.SetOperation):
            return self._set_parts(query.left) + self._set_parts(query.right)
        return [query]

    def _read_inner_queries(self, name: str, select: exp.Select) -> None:
        """Inner queries (in FROM, JOIN, WHERE, EXISTS, IN, scalar subqueries) become steps
        of their own, before this one."""
        index = 0
        for node in select.find_all(exp.Select, exp.SetOperation):
            if node is select:
                continue
            if node.find_ancestor(exp.Select, exp.SetOperation, exp.CTE) is not select:
                continue  # read with its own query (a union part, a CTE body)
            index += 1
            parent = node.parent
            alias = parent.alias if isinstance(parent, exp.Subquery) and parent.alias else ""
            alias = alias or f"{name} subquery {index}"
            inner = self.read(alias, node)
            self.steps.append(inner)
            self.known[alias] = inner.outputs

    def _read_from(self, step: Step, select: exp.Select) -> None:
        from_ = select.args.get("from_") or select.args.get("from")
        sources: list[exp.Expr] = []
        if from_ is not None:
            sources.append(from_.this)
        for join in select.args.get("joins") or []:
            sources.append(join.this)
        for relation in sources:
            if isinstance(relation, exp.Table):
                target = relation_name(relation)
                if target not in step.inputs:
                    step.inputs.append(target)
                step.aliases[relation.alias_or_name] = target
                step.aliases[target] = target
            elif isinstance(relation, exp.Subquery):
                target = relation.alias or "a subquery"
                step.inputs.append(target)
                step.aliases[target] = target
        for join in select.args.get("joins") or []:
            side = (join.side or "").lower()
            kind = (join.kind or "").lower()
            if kind == "cross" or (not join.args.get("on") and not join.args.get("using")):
                kind_word = "cross" if not side else side
            else:
                kind_word = side or "inner"
            relation = join.this
            if isinstance(relation, exp.Table):
                target, alias = relation_name(relation), relation.alias or None
            elif isinstance(relation, exp.Unnest | exp.Lateral | exp.Explode):
                columns = [c.name for c in relation.find_all(exp.Column)]
                target = f"the elements of {', '.join(columns) or 'a list'}"
                alias, kind_word = None, "unnest"
            else:
                target, alias = relation.alias or "a subquery", None
            using = [u.name for u in join.args.get("using") or []]
            step.joins.append(
                Join(kind_word, target, alias, join.args.get("on"), using, self.quote(join, "join"))
            )

    def _read_filters(self, step: Step, select: exp.Select) -> None:
        for key in ("where", "having", "qualify"):
            clause = select.args.get(key)
            if clause is None:
                continue
            whole = self.quote(clause, key)
            if whole:
                step.filter_quotes.append(whole)
            for part in _split_and(clause.this):
                step.filters.append(Filter(key, part, self.quote(part)))

    def _read_projections(self, step: Step, select: exp.Select) -> None:
        for projection in select.expressions:
            inner = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(inner, exp.Star) or (
                isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)
            ):
                step.star = True
                table = inner.table if isinstance(inner, exp.Column) else ""
                targets = [step.aliases.get(table, table)] if table else step.inputs
                for target in targets:
                    known = self.columns(target)
                    if known is None:
                        self.unresolved_star = True
                        continue
                    step.outputs += [c for c in known if c not in step.outputs]
                    step.reads += [c for c in known if c not in step.reads]
                    for column in known:
                        step.origins.setdefault(column, (target, column))
                continue
            output = projection.alias_or_name
            if not output or (
                not isinstance(projection, exp.Alias) and not isinstance(inner, exp.Column)
            ):
                continue  # an unnamed value (a union part's literal): no column name to give
            step.outputs.append(output)
            for column in inner.find_all(exp.Column):
                if column.name not in step.reads and _owner(column) is select:
                    step.reads.append(column.name)
            if isinstance(inner, exp.Column) and inner.name != output:
                step.renamed.append((inner.name, output))
            if isinstance(inner, exp.Column):
                relation = step.aliases.get(inner.table, inner.table) if inner.table else ""
                if not relation and len(step.inputs) == 1:
                    relation = step.inputs[0]
                if relation:
                    step.origins[output] = (relation, inner.name)
            cases = [
                c
                for c in inner.find_all(exp.Case)
                if c.find_ancestor(exp.Case) is None and _owner(c) is select
            ]
            for case in cases:
                step.cases.append(
                    Case(
                        output,
                        case,
                        self.quote(case),
                        [(i.this, i.args["true"]) for i in case.args.get("ifs") or []],
                        case.args.get("default"),
                    )
                )
            if inner.find(exp.Window) is not None:
                step.windows.append(Computed(output, inner, self.quote(inner)))
            elif inner.find(exp.AggFunc) is not None:
                step.aggregates.append(Computed(output, inner, self.quote(inner)))
            elif not isinstance(inner, exp.Column | exp.Literal) and not cases:
                step.derived.append(Computed(output, inner, self.quote(inner)))
        # CASE expressions outside the select list (in WHERE, ORDER BY, GROUP BY)
        for case in select.find_all(exp.Case):
            if case.find_ancestor(exp.Case) is not None or _owner(case) is not select:
                continue
            if any(c.node is case for c in step.cases):
                continue
            step.cases.append(
                Case(
                    None,
                    case,
                    self.quote(case),
                    [(i.this, i.args["true"]) for i in case.args.get("ifs") or []],
                    case.args.get("default"),
                )
            )

    def _read_group(self, step: Step, select: exp.Select) -> None:
        group = select.args.get("group")
        if group is None:
            return
        step.group_quote = self.quote(group, "group")
        if step.group_quote is None and group.args.get("all"):
            found = re.search(r"(?i)\bgroup\s+by\s+all\b", self.source.original)
            step.group_quote = found.group(0) if found else None
        projections = select.expressions
        keys: list[exp.Expr] = list(group.expressions)
        if group.args.get("all"):
            keys = [p for p in projections if p.find(exp.AggFunc) is None]
        for key in keys:
            target = key
            if isinstance(key, exp.Literal) and key.is_int:
                position = int(key.this)
                if 1 <= position <= len(projections):
                    target = projections[position - 1]
            elif isinstance(key, exp.Column) and not key.table:
                # a key naming a select alias groups by that expression
                for projection in projections:
                    if isinstance(projection, exp.Alias) and projection.alias == key.name:
                        target = projection
                        break
            name = target.alias_or_name if isinstance(target, exp.Alias | exp.Column) else ""
            inner = target.this if isinstance(target, exp.Alias) else target
            step.group_by.append(inner)
            # an unnamed expression is named by what it does, never by truncated SQL
            step.group_names.append(name or Words.for_step(step).say(inner))


def _main_query(statements: list[exp.Expr]) -> exp.Expr | None:
    for statement in reversed(statements):
        if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
            return statement.expression
        if isinstance(statement, exp.Query):
            return statement
    return None


def analyse_sql(
    code: str,
    dialect: str | None,
    name: str,
    columns_of: ColumnsOf | None = None,
) -> Facts:
    own = {name, name.rsplit(".", 1)[-1], *SELF_NAMES}
    source = Source.from_code(code, sqlglot_dialect(dialect))
    query = _main_query(parse(source))
    if query is None:
        text = source.parsed
        named = set(re.findall(r"(?i)\b([a-z_]\w*)\s+as\s*\(", text))
        tables = sorted(
            {t for t in re.findall(r"(?i)\b(?:from|join)\s+([a-z_][\w.]*)", text)} - own - named
        )
        return Facts("sql", False, [Step(name, inputs=tables)], tables, [])
    reader = _Reader(source, name, columns_of or (lambda _relation: None))
    cte_names = {cte.alias for cte in query.find_all(exp.CTE)}
    # the final query is read in place (its CTEs first, as steps; every handler reads its own
    # clauses), so the nodes keep the offsets their quotes come from
    last = reader.read("final", query)
    steps = reader.steps
    passthrough = (
        steps
        and last.star
        and len(last.inputs) == 1
        and last.inputs[0] in cte_names
        and not last.has_logic
        and len(last.outputs) == len(reader.known.get(last.inputs[0], []))
    )
    if passthrough:
        steps[-1].outputs = last.outputs
    else:
        steps.append(last)
    inner = cte_names | set(reader.known)
    sources: list[str] = []
    for step in steps:
        for join in step.joins:
            if join.target in inner:  # a step of this query, not a table of the project
                join.label = f"the {join.target} step"
        step.inputs = [i for i in step.inputs if i not in own]
        for relation in step.inputs:
            if relation not in inner and relation not in sources:
                sources.append(relation)
    opaque = PLACEHOLDER in source.parsed
    return Facts("sql", True, steps, sources, steps[-1].outputs, reader.unresolved_star, opaque)
