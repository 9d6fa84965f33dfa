"""The complexity score (1-5) of an object, from its code's structure, without an API call.

SQL is measured with sqlglot: CTEs, joins, window functions, subqueries, CASE branches,
set operations and aggregations each add weighted points. Python dataframe code is measured
with `ast`: functions, joins/merges, group-bys, lambdas/applies, loops and branches.
Unparseable code falls back to keyword counts, so every object gets a score.

    points   <4   <8   <14   <22   >=22
    score     1    2     3     4      5
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from sqlglot import exp

from docgen.sqltext import parse_sql, strip_jinja

_THRESHOLDS = (4, 8, 14, 22)

SQL_WEIGHTS = {
    "ctes": 1.5,
    "joins": 1.5,
    "window_functions": 2.0,
    "subqueries": 2.0,
    "case_branches": 0.75,
    "set_operations": 1.5,
    "aggregations": 0.5,
    "group_bys": 1.0,
    "filters": 0.5,
}
PYTHON_WEIGHTS = {
    "functions": 1.0,
    "filters": 1.0,
    "merges": 2.0,
    "groupbys": 1.5,
    "lambdas": 1.5,
    "loops": 1.5,
    "branches": 0.75,
    "method_calls": 0.25,
}


@dataclass(frozen=True)
class Complexity:
    score: int
    points: float
    features: dict[str, int] = field(default_factory=dict)
    method: str = "sqlglot"


def _score(points: float) -> int:
    return 1 + sum(points >= t for t in _THRESHOLDS)


def sql_features(code: str, dialect: str | None = None) -> tuple[dict[str, int], str]:
    statements = parse_sql(code, dialect)
    if not statements:
        return _keyword_features(code), "keywords"
    features = dict.fromkeys(SQL_WEIGHTS, 0)
    for statement in statements:
        features["ctes"] += len(list(statement.find_all(exp.CTE)))
        features["joins"] += len(list(statement.find_all(exp.Join)))
        features["window_functions"] += len(list(statement.find_all(exp.Window)))
        features["subqueries"] += len(list(statement.find_all(exp.Subquery)))
        features["case_branches"] += len(list(statement.find_all(exp.If)))  # WHEN branches
        features["set_operations"] += len(list(statement.find_all(exp.SetOperation)))
        features["aggregations"] += len(list(statement.find_all(exp.AggFunc)))
        features["group_bys"] += len(list(statement.find_all(exp.Group)))
        features["filters"] += len(list(statement.find_all(exp.Where, exp.Having, exp.Qualify)))
    return features, "sqlglot"


def _keyword_features(code: str) -> dict[str, int]:
    text = strip_jinja(code).lower()

    def count(pattern: str) -> int:
        return len(re.findall(pattern, text))

    return {
        "ctes": count(r"\bas\s*\(\s*select\b"),
        "joins": count(r"\bjoin\b"),
        "window_functions": count(r"\bover\s*\("),
        "subqueries": count(r"\(\s*select\b") - count(r"\bas\s*\(\s*select\b"),
        "case_branches": count(r"\bwhen\b"),
        "set_operations": count(r"\bunion\b|\bintersect\b|\bexcept\b"),
        "aggregations": count(r"\b(sum|count|avg|min|max)\s*\("),
        "group_bys": count(r"\bgroup\s+by\b"),
        "filters": count(r"\bwhere\b|\bhaving\b|\bqualify\b"),
    }


def python_features(code: str) -> tuple[dict[str, int], str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        text = code
        return {
            "functions": len(re.findall(r"^\s*def\s", text, re.M)),
            "filters": len(re.findall(r"\.(filter|query|where)\(", text)),
            "merges": len(re.findall(r"\.(merge|join)\(", text)),
            "groupbys": len(re.findall(r"\.(groupby|groupBy)\(", text)),
            "lambdas": len(re.findall(r"\blambda\b|\.apply\(", text)),
            "loops": len(re.findall(r"^\s*(for|while)\s", text, re.M)),
            "branches": len(re.findall(r"^\s*(if|elif)\s", text, re.M)),
            "method_calls": len(re.findall(r"\.\w+\(", text)),
        }, "keywords"
    features = dict.fromkeys(PYTHON_WEIGHTS, 0)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            features["functions"] += 1
        elif isinstance(node, ast.For | ast.While | ast.comprehension):
            features["loops"] += 1
        elif isinstance(node, ast.If | ast.IfExp):
            features["branches"] += 1
        elif isinstance(node, ast.Lambda):
            features["lambdas"] += 1
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Compare | ast.BoolOp):
            features["filters"] += 1  # boolean mask: df[df["status"] == "completed"]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            features["method_calls"] += 1
            if name in ("filter", "query", "where"):
                features["filters"] += 1
            elif name in ("merge", "join"):
                features["merges"] += 1
            elif name in ("groupby", "groupBy", "pivot", "pivot_table"):
                features["groupbys"] += 1
            elif name in ("apply", "applymap", "transform", "udf"):
                features["lambdas"] += 1
    return features, "ast"


def compute_complexity(code: str, language: str = "sql", dialect: str | None = None) -> Complexity:
    if language == "python":
        features, method = python_features(code)
        weights = PYTHON_WEIGHTS
    else:
        features, method = sql_features(code, dialect)
        weights = SQL_WEIGHTS
    points = sum(weights[name] * max(0, value) for name, value in features.items())
    return Complexity(_score(points), round(points, 2), features, method)
