"""Python dataframe code (pandas, PySpark, dbt Python models) read with `ast`.

Each dataframe operation (filter, merge, groupby, assign...) becomes a step, in the order of
the code, with its verbatim source segment as the quote; the frames it reads (`read_csv`,
`dbt.ref`, `spark.table`...) are its sources. Code that does not parse gives one empty step.
"""

from __future__ import annotations

import ast
import re

import sqlglot
from sqlglot import exp

from docgen.providers.offline.facts import Case, Computed, Facts, Filter, Join, Step

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
}


def _literal_args(call: ast.Call) -> list[str]:
    return [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def _as_sql(node: ast.expr) -> exp.Expr | None:
    """A row test or value of a Python function (`row["n"] >= 3`) as a SQL expression."""
    text = ast.unparse(node)
    text = re.sub(r"\w+\[\s*['\"](\w+)['\"]\s*\]", r"\1", text)  # row["x"] -> x
    text = text.replace("==", "=").replace("!=", "<>").replace(" is None", " is null")
    try:
        return sqlglot.parse_one(text)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return None


def _function_rules(
    call: ast.Call, functions: dict[str, ast.FunctionDef], code: str
) -> tuple[list[tuple[exp.Expr, exp.Expr]], exp.Expr | None, str | None] | None:
    """`df.apply(f)` where f is a chain of `if test: return value`: its branches, like a CASE."""
    if not call.args or not isinstance(call.args[0], ast.Name):
        return None
    function = functions.get(call.args[0].id)
    if function is None:
        return None
    branches: list[tuple[exp.Expr, exp.Expr]] = []
    default: exp.Expr | None = None
    for statement in function.body:
        if isinstance(statement, ast.If) and len(statement.body) == 1:
            body = statement.body[0]
            if not isinstance(body, ast.Return) or body.value is None:
                return None
            test, value = _as_sql(statement.test), _as_sql(body.value)
            if test is None or value is None:
                return None
            branches.append((test, value))
        elif isinstance(statement, ast.Return) and statement.value is not None:
            default = _as_sql(statement.value)
        elif not isinstance(statement, ast.Expr):  # anything but a docstring: not a plain chain
            return None
    if not branches:
        return None
    return branches, default, ast.get_source_segment(code, function)


def analyse_python(code: str, name: str) -> Facts:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return Facts("python", False, [Step(name)], [], [])
    sources: list[str] = []
    steps: list[Step] = []
    outputs: list[str] = []

    def segment(node: ast.AST) -> str | None:
        return ast.get_source_segment(code, node)

    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    # df["segment"] = df.apply(...): the call computes the column it is assigned to
    assigned_to: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                    assigned_to[id(node.value)] = str(target.slice.value)

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr
        if attr in _READERS:
            args = _literal_args(node)
            if args:
                read = ".".join(args) if attr == "source" else args[-1]
                if read not in sources:
                    sources.append(read)
        kind = _OPERATIONS.get(attr)
        if kind is None:
            continue
        step = Step(name=f"{kind}:{attr}", position=(node.lineno, node.func.end_col_offset or 0))
        quote = segment(node)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if kind == "filter":
            step.filters.append(Filter("filter", None, quote))
        elif kind == "join":
            how = keywords.get("how")
            side = how.value if isinstance(how, ast.Constant) else "inner"
            on = keywords.get("on")
            using = [on.value] if isinstance(on, ast.Constant) and isinstance(on.value, str) else []
            if isinstance(on, ast.List):
                using = [str(e.value) for e in on.elts if isinstance(e, ast.Constant)]
            other = node.args[0] if node.args else None
            joined = ast.unparse(other) if other is not None else "another frame"
            step.joins.append(Join(str(side), joined, None, None, using, quote))
        elif kind == "group":
            keys = _literal_args(node)
            by = keywords.get("by")
            if isinstance(by, ast.List):
                keys += [str(e.value) for e in by.elts if isinstance(e, ast.Constant)]
            if node.args and isinstance(node.args[0], ast.List):
                keys += [str(e.value) for e in node.args[0].elts if isinstance(e, ast.Constant)]
            step.group_names = [str(k) for k in keys] or ["the grouping keys"]
            step.group_quote = quote
        elif kind == "aggregate":
            for key in keywords:
                step.aggregates.append(Computed(str(key), None, quote))
                outputs.append(str(key))
            if not keywords:
                step.aggregates.append(Computed("totals", None, quote))
        elif kind == "derive":
            if id(node) in assigned_to:
                names = [assigned_to[id(node)]]
            elif attr in ("assign", "withColumn"):
                names = [str(k) for k in keywords] or _literal_args(node)[:1]
            else:
                names = []
            names = names or [attr]
            rules = _function_rules(node, functions, code) if attr == "apply" else None
            for output in names:
                if rules is not None:
                    branches, default, source = rules
                    step.cases.append(Case(output, None, source, branches, default))
                else:
                    step.derived.append(Computed(output, None, quote))
            if attr in ("assign", "withColumn"):
                outputs.extend(names)
        elif kind == "dedupe":
            step.distinct = True
        else:
            step.derived.append(Computed(attr, None, quote))
        steps.append(step)
    # boolean-mask filters: df[df["status"] == "completed"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Compare | ast.BoolOp):
            steps.append(
                Step(
                    name="filter:mask",
                    position=(node.lineno, node.col_offset),
                    filters=[Filter("filter", None, segment(node.slice))],
                )
            )
    for node in ast.walk(tree):
        # df["segment"] = ... adds a column; return df[["a", "b"]] chooses the final ones
        if isinstance(node, ast.Assign):
            for assigned in node.targets:
                if isinstance(assigned, ast.Subscript) and isinstance(assigned.slice, ast.Constant):
                    if isinstance(assigned.slice.value, str):
                        outputs.append(assigned.slice.value)
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
        steps.append(Step(name, inputs=list(sources)))
    steps[0].inputs = list(sources) or steps[0].inputs
    return Facts("python", True, steps, sources, list(dict.fromkeys(outputs)))
