"""Turn data-model code into something sqlglot can parse.

dbt models that were ingested from a folder (not a manifest) still hold Jinja. For analysis
(complexity, the offline analyser) `{{ ref('x') }}` becomes `x`, `{{ source('s', 't') }}`
becomes `s.t`, other expressions become a neutral literal and statements (`{% ... %}`,
`{# ... #}`) disappear, so `is_incremental()` blocks keep their SQL.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

_REF = re.compile(r"\{\{\s*ref\(\s*(?:['\"][^'\"]+['\"]\s*,\s*)?['\"]([^'\"]+)['\"][^)]*\)\s*\}\}")
_SOURCE = re.compile(r"\{\{\s*source\(\s*['\"]([^'\"]+)['\"]\s*,\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")
_THIS = re.compile(r"\{\{\s*this\s*\}\}")
_CONFIG = re.compile(r"\{\{\s*config\(.*?\)\s*\}\}", re.S)
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
_STATEMENT = re.compile(r"\{%-?.*?-?%\}", re.S)
_COMMENT = re.compile(r"\{#.*?#\}", re.S)

#: sqlglot dialect names for the dialect labels we store (dbt adapter names mostly match)
DIALECTS = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "duckdb": "duckdb",
    "databricks": "databricks",
    "spark": "spark",
    "trino": "trino",
    "athena": "athena",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "tsql": "tsql",
    "sqlserver": "tsql",
}


def strip_jinja(code: str) -> str:
    code = _COMMENT.sub("", code)
    code = _CONFIG.sub("", code)
    code = _REF.sub(lambda m: m.group(1), code)
    code = _SOURCE.sub(lambda m: f"{m.group(1)}.{m.group(2)}", code)
    code = _THIS.sub("this_model", code)
    code = _EXPRESSION.sub("NULL", code)
    return _STATEMENT.sub("", code)


def sqlglot_dialect(dialect: str | None) -> str | None:
    return DIALECTS.get((dialect or "").lower())


@lru_cache(maxsize=256)
def parse_sql(code: str, dialect: str | None = None) -> tuple[exp.Expr, ...]:
    """Parse (Jinja stripped) SQL; an empty tuple when sqlglot cannot read it."""
    text = strip_jinja(code).strip().rstrip(";")
    if not text:
        return ()
    for candidate in dict.fromkeys((sqlglot_dialect(dialect), None)):
        try:
            statements = sqlglot.parse(text, read=candidate)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
            continue
        parsed = tuple(s for s in statements if s is not None)
        if parsed:
            return parsed
    return ()


def main_query(code: str, dialect: str | None = None) -> exp.Expr | None:
    """The statement that defines the object: the SELECT of a CREATE ... AS, or the last query."""
    statements = parse_sql(code, dialect)
    for statement in reversed(statements):
        if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
            return statement.expression
        if isinstance(statement, exp.Query):
            return statement
    return None
