"""Static analysis of an object's code for the offline provider: the facts, no prose.

SQL is read with sqlglot into steps (one per CTE, then the final query) with their inputs,
filters, joins, groupings, windows and CASE expressions. Python dataframe code is read with
`ast` into the frames it reads and the operations it applies, in order. Code that cannot be
parsed yields a single generic step, never an error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from sqlglot import exp

from docgen.sqltext import main_query, sqlglot_dialect

MAX_SNIPPET = 160


@dataclass
class Step:
    name: str
    position: tuple[int, int] = (0, 0)  # where it starts in the code (Python ordering)
    inputs: list[str] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)  # SQL text of WHERE/HAVING/QUALIFY parts
    joins: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, table, on)
    group_by: list[str] = field(default_factory=list)
    aggregates: list[str] = field(default_factory=list)  # output names of aggregated columns
    windows: list[str] = field(default_factory=list)  # SQL text of window expressions
    cases: list[tuple[str, str]] = field(default_factory=list)  # (output name, SQL text)
    derived: list[tuple[str, str]] = field(default_factory=list)  # (output name, SQL text)
    outputs: list[str] = field(default_factory=list)
    distinct: bool = False
    union: bool = False


@dataclass
class Facts:
    language: str
    parsed: bool
    steps: list[Step]
    sources: list[str]  # tables/frames read from outside the code
    outputs: list[str]  # final output columns


def _sql(node: exp.Expr, dialect: str | None) -> str:
    text = node.sql(dialect=dialect)
    return text if len(text) <= MAX_SNIPPET else text[: MAX_SNIPPET - 3] + "..."


def _table_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.db, table.name) if part) or table.name


def _split_and(condition: exp.Expr) -> list[exp.Expr]:
    if isinstance(condition, exp.And):
        return _split_and(condition.left) + _split_and(condition.right)
    return [condition]


def _output_name(projection: exp.Expr) -> str:
    return projection.alias_or_name or projection.sql()[:40]


def _read_select(name: str, select: exp.Expr, dialect: str | None, ctes: set[str]) -> Step:
    step = Step(name=name)
    if isinstance(select, exp.SetOperation):
        step.union = True
        for side in (select.left, select.right):
            inner = _read_select(name, side, dialect, ctes)
            step.inputs += [i for i in inner.inputs if i not in step.inputs]
            step.filters += inner.filters
            step.outputs = step.outputs or inner.outputs
        return step
    if not isinstance(select, exp.Select):
        return step
    from_ = select.args.get("from") or select.args.get("from_")
    if from_ is not None:
        for table in from_.find_all(exp.Table):
            step.inputs.append(_table_name(table))
    for join in select.args.get("joins") or []:
        table = join.find(exp.Table)
        target = _table_name(table) if table is not None else join.this.sql()[:40]
        kind = " ".join(p for p in (join.side, join.kind) if p).lower() or "inner"
        on = join.args.get("on")
        step.joins.append((kind, target, _sql(on, dialect) if on is not None else ""))
        if target not in step.inputs:
            step.inputs.append(target)
    for key in ("where", "having", "qualify"):
        clause = select.args.get(key)
        if clause is not None:
            step.filters += [_sql(part, dialect) for part in _split_and(clause.this)]
    group = select.args.get("group")
    if group is not None:
        step.group_by = [_sql(e, dialect) for e in group.expressions]
    step.distinct = bool(select.args.get("distinct"))
    for projection in select.expressions:
        out = _output_name(projection)
        step.outputs.append(out)
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if inner.find(exp.Window) is not None:
            step.windows.append(_sql(projection, dialect))
        elif inner.find(exp.Case) is not None:
            step.cases.append((out, _sql(projection, dialect)))
        elif inner.find(exp.AggFunc) is not None:
            step.aggregates.append(out)
            step.derived.append((out, _sql(projection, dialect)))
        elif not isinstance(inner, exp.Column | exp.Star) and isinstance(projection, exp.Alias):
            step.derived.append((out, _sql(projection, dialect)))
    # subqueries in FROM/JOIN read tables too
    for table in select.find_all(exp.Table):
        name_ = _table_name(table)
        if name_ not in step.inputs and table.find_ancestor(exp.Subquery) is not None:
            step.inputs.append(name_)
    return step


def analyse_sql(code: str, dialect: str | None, fallback_name: str) -> Facts:
    query = main_query(code, dialect)
    if query is None:
        tables = sorted(set(re.findall(r"(?i)\b(?:from|join)\s+([a-z_][\w.]*)", code)))
        return Facts("sql", False, [Step(fallback_name, inputs=tables)], tables, [])
    read = sqlglot_dialect(dialect)
    ctes = [cte for cte in query.find_all(exp.CTE) if cte.find_ancestor(exp.CTE) is None]
    cte_names = {cte.alias for cte in ctes}
    steps = [_read_select(cte.alias, cte.this, read, cte_names) for cte in ctes]
    final = query.copy()
    final.set("with", None)
    final.set("with_", None)
    last = _read_select("final", final, read, cte_names)
    passthrough = (
        steps
        and last.outputs == ["*"]
        and len(last.inputs) == 1
        and last.inputs[0] in cte_names
        and not (last.filters or last.joins or last.group_by or last.distinct or last.union)
    )
    if not passthrough:
        steps.append(last)
    sources: list[str] = []
    for step in steps:
        for name in step.inputs:
            if name not in cte_names and name not in sources:
                sources.append(name)
    return Facts("sql", True, steps, sources, steps[-1].outputs)


# --- Python dataframe code -----------------------------------------------------------------

_READERS = {
    "read_csv",
    "read_parquet",
    "read_sql",
    "read_sql_query",
    "read_sql_table",
    "read_json",
    "read_excel",
    "table",
    "csv",
    "parquet",
    "json",
    "load",
    "ref",
    "source",
    "sql",
}
_OPERATIONS = {
    "merge": "join",
    "join": "join",
    "groupby": "group",
    "groupBy": "group",
    "agg": "aggregate",
    "pivot_table": "group",
    "query": "filter",
    "filter": "filter",
    "where": "filter",
    "assign": "derive",
    "withColumn": "derive",
    "apply": "derive",
    "sort_values": "sort",
    "orderBy": "sort",
    "drop_duplicates": "dedupe",
    "dropDuplicates": "dedupe",
    "distinct": "dedupe",
    "rename": "rename",
    "withColumnRenamed": "rename",
    "select": "select",
    "fillna": "clean",
    "dropna": "clean",
    "na": "clean",
}


def _literal_args(call: ast.Call) -> list[str]:
    return [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def analyse_python(code: str, fallback_name: str) -> Facts:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return Facts("python", False, [Step(fallback_name)], [], [])
    sources: list[str] = []
    steps: list[Step] = []
    outputs: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr
        if attr in _READERS:
            args = _literal_args(node)
            if args:
                name = ".".join(args) if attr == "source" else args[-1]
                if name not in sources:
                    sources.append(name)
        kind = _OPERATIONS.get(attr)
        if kind is None:
            continue
        step = Step(name=f"{kind}:{attr}", position=(node.lineno, node.func.end_col_offset or 0))
        snippet = ast.unparse(node)
        snippet = snippet if len(snippet) <= MAX_SNIPPET else snippet[: MAX_SNIPPET - 3] + "..."
        if kind == "filter":
            step.filters.append(snippet)
        elif kind == "join":
            on = next((ast.unparse(k.value) for k in node.keywords if k.arg in ("on", "how")), "")
            step.joins.append(("left" if "left" in snippet else "inner", "frame", on or snippet))
        elif kind == "group":
            step.group_by = [snippet]
        elif kind in ("aggregate", "derive"):
            step.derived.append((attr, snippet))
            if attr in ("agg", "aggregate", "assign", "named_aggregation"):
                outputs.extend(k.arg for k in node.keywords if k.arg)
            elif attr in ("withColumn", "alias") and _literal_args(node):
                outputs.append(_literal_args(node)[0])
        else:
            step.derived.append((attr, snippet))
        steps.append(step)
    # boolean-mask filters: df[df["status"] == "completed"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Compare | ast.BoolOp):
            steps.append(
                Step(
                    name="filter:mask",
                    position=(node.lineno, node.col_offset),
                    filters=[ast.unparse(node.slice)[:MAX_SNIPPET]],
                )
            )
    for node in ast.walk(tree):
        # df["segment"] = ... adds a column; return df[["a", "b"]] chooses the final ones
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                    if isinstance(target.slice.value, str):
                        outputs.append(target.slice.value)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Subscript):
            chosen = node.value.slice
            if isinstance(chosen, ast.List):
                outputs = [
                    e.value
                    for e in chosen.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
    steps.sort(key=lambda s: s.position)
    if not steps:
        steps.append(Step(fallback_name, inputs=list(sources)))
    steps[0].inputs = list(sources) or steps[0].inputs
    return Facts("python", True, steps, sources, list(dict.fromkeys(outputs)))


def analyse(code: str, language: str, dialect: str | None, name: str) -> Facts:
    if language == "python":
        return analyse_python(code, name)
    return analyse_sql(code, dialect, name)
