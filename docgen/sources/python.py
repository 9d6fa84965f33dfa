"""Python files with pandas or PySpark dataframe code: one `dataframe` object per function
(or per module, for a script without functions) that builds a frame.

Read with `ast`, nothing is imported or run. A function builds a frame when its module imports
pandas, PySpark or polars and the function reads data (`pd.read_sql`, `spark.table`,
`spark.sql`, `read_parquet`...) or transforms a frame (`merge`, `groupby`, `withColumn`...).
Its upstreams are the tables it reads (table names, and the tables inside SQL strings, found
with sqlglot) and the other dataframe functions of the same module it calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sqlglot
from sqlglot.errors import ParseError, TokenError

from docgen.errors import SourceError
from docgen.sources.base import (
    IngestWarning,
    SourceObject,
    SourceResult,
    existing_path,
    files_under,
    read_text,
    relative,
)
from docgen.sources.sql import read_tables

_FRAME_LIBRARIES = ("pandas", "pyspark", "polars", "dask", "modin")
_SQL_READS = {"read_sql", "read_sql_query", "sql"}
_TABLE_READS = {"read_sql_table", "table", "read_table", "ref"}
_FILE_READS = {
    "read_csv",
    "read_parquet",
    "read_json",
    "read_excel",
    "read_feather",
    "read_orc",
    "parquet",
    "csv",
    "json",
    "orc",
    "load",
    "scan_parquet",
    "scan_csv",
}
_TRANSFORMS = {
    "merge",
    "groupby",
    "groupBy",
    "agg",
    "withColumn",
    "withColumnRenamed",
    "join",
    "pivot",
    "pivot_table",
    "assign",
    "melt",
    "explode",
    "select",
    "filter",
    "where",
    "drop_duplicates",
    "dropDuplicates",
    "concat",
    "union",
    "unionByName",
    "fillna",
    "rename",
    "DataFrame",
    "createDataFrame",
    "to_datetime",
    "resample",
    "rolling",
    "apply",
    "sort_values",
    "orderBy",
}


def read_python(source: str | Path) -> SourceResult:
    path = existing_path(source, "Python source")
    warnings: list[IngestWarning] = []
    files = [path] if path.is_file() else files_under(path, [".py"], warnings)
    base = path.parent if path.is_file() else path
    if not files:
        raise SourceError(f"no .py files under {path}")
    kept: list[str] = []
    objects: list[SourceObject] = []
    for file in files:
        text = read_text(file, base, warnings)
        rel = relative(file, base)
        if text is None:
            kept.append(rel)
            continue
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as exc:
            warnings.append(
                IngestWarning(
                    path=rel, line=exc.lineno, message=f"Python syntax error ({exc.msg}); skipped"
                )
            )
            kept.append(rel)
            continue
        objects.extend(_module_objects(tree, text, rel, warnings))
    if not objects and not kept:
        raise SourceError(f"no pandas or PySpark dataframe code found in {path}")
    return SourceResult(
        kind="python", scope=f"python:{path}", objects=objects, warnings=warnings, kept_paths=kept
    )


def _imports_frames(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if any(n.split(".")[0] in _FRAME_LIBRARIES for n in names):
            return True
    return False


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _string(arg: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        return constants.get(arg.id)
    if isinstance(arg, ast.JoinedStr):  # f-string: keep its literal parts
        return "".join(
            v.value for v in arg.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def _constants(nodes: list[ast.stmt]) -> dict[str, str]:
    """Names assigned a string literal (`sql = "select ..."`), to read `pd.read_sql(sql, c)`."""
    found: dict[str, str] = {}
    for statement in nodes:
        for node in ast.walk(statement):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                value = _string(node.value, {})
                if isinstance(target, ast.Name) and value:
                    found[target.id] = value
    return found


def _first_string(node: ast.Call, constants: dict[str, str]) -> str | None:
    for arg in [
        *node.args,
        *(k.value for k in node.keywords if k.arg in ("sql", "table_name", "name", "path")),
    ]:
        value = _string(arg, constants)
        if value:
            return value
    return None


def _reads(
    nodes: list[ast.stmt], warnings: list[IngestWarning], path: str
) -> tuple[list[str], bool]:
    """Tables and files the statements read, and whether they transform a frame."""
    reads: list[str] = []
    transforms = False
    constants = _constants(nodes)
    for statement in nodes:
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name is None:
                continue
            literal = _first_string(node, constants)
            if name in _SQL_READS and literal:
                try:
                    parsed = sqlglot.parse_one(literal, read="spark")
                    reads.extend(read_tables(parsed))
                except (ParseError, TokenError):
                    warnings.append(
                        IngestWarning(
                            path=path,
                            line=node.lineno,
                            message="SQL string not understood; its tables are not in the lineage",
                        )
                    )
            elif name in _TABLE_READS and literal and isinstance(node.func, ast.Attribute):
                reads.append(literal.lower())
            elif name in _FILE_READS and literal and isinstance(node.func, ast.Attribute):
                reads.append(f"file:{literal}")
            elif name in _TRANSFORMS:
                transforms = True
    return list(dict.fromkeys(reads)), transforms


def _module_objects(
    tree: ast.Module, text: str, path: str, warnings: list[IngestWarning]
) -> list[SourceObject]:
    if not _imports_frames(tree):
        return []
    module = path.removesuffix(".py").replace("/", ".")
    lines = text.splitlines(keepends=True)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    found: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[str]]] = {}
    for fn in functions:
        reads, transforms = _reads(fn.body, warnings, path)
        if reads or transforms:
            found[fn.name] = (fn, reads)
    objects = []
    for name, (fn, reads) in found.items():
        start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
        code = "".join(lines[start - 1 : fn.end_lineno])
        calls = {
            n.func.id
            for n in ast.walk(fn)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in found
        } - {name}
        objects.append(
            SourceObject(
                unique_key=f"python:{path}:{name}",
                name=f"{module}.{name}",
                object_type="dataframe",
                code=code,
                language="python",
                dialect=_library(tree),
                source_path=path,
                upstream_keys=[f"python:{path}:{c}" for c in sorted(calls)],
                external_upstreams=reads,
                description=ast.get_docstring(fn),
                properties={"function": name, "line": fn.lineno},
            )
        )
    top_level = [
        n
        for n in tree.body
        if not isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom
        )
    ]
    reads, transforms = _reads(top_level, warnings, path)
    if not functions and (reads or transforms):
        objects.append(
            SourceObject(
                unique_key=f"python:{path}",
                name=module,
                object_type="dataframe",
                code=text,
                language="python",
                dialect=_library(tree),
                source_path=path,
                external_upstreams=reads,
                description=ast.get_docstring(tree),
                properties={"function": None},
            )
        )
    return objects


def _library(tree: ast.Module) -> str:
    text = ast.dump(tree)
    return "pyspark" if "pyspark" in text else "polars" if "'polars'" in text else "pandas"
