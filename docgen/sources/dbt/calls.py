"""What a model calls, read from its text: `ref()`/`source()` written in Jinja, and the
`dbt.ref`/`dbt.source`/`dbt.config` calls of a Python model (read with `ast`, never run)."""

from __future__ import annotations

import ast
import re
from typing import Any

from docgen.sources.dbt.project import Problems

JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
REF_CALL = re.compile(
    r"(?<![\w.])ref\s*\(\s*(['\"])([^'\"]+)\1\s*(?:,\s*(['\"])([^'\"]+)\3\s*)?"
    r"(?:,\s*(?:v|version)\s*=\s*['\"]?([\w.]+)['\"]?\s*)?\)"
)
SOURCE_CALL = re.compile(
    r"(?<![\w.])source\s*\(\s*(['\"])([^'\"]+)\1\s*,\s*(['\"])([^'\"]+)\3\s*\)"
)
DYNAMIC_REF = re.compile(r"(?<![\w.])ref\s*\(\s*[A-Za-z_]")
LITERAL = re.compile(r"['\"]([A-Za-z_][\w]*)['\"]")
NAME = re.compile(r"^[\w.-]+$")


def python_calls(
    text: str, path: str, problems: Problems
) -> tuple[list[str], list[tuple[str, str]], dict[str, Any]]:
    """dbt.ref / dbt.source / dbt.config calls of a Python model."""
    refs: list[str] = []
    sources: list[tuple[str, str]] = []
    config: dict[str, Any] = {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        problems.add(
            path,
            f"Python that cannot be parsed ({type(exc).__name__}); lineage read from its text",
            line=getattr(exc, "lineno", None),
        )
        refs = [m.group(4) or m.group(2) for m in REF_CALL.finditer(
            text.replace("dbt.ref", "ref"))]  # fmt: skip
        sources = [(m.group(2), m.group(4)) for m in SOURCE_CALL.finditer(
            text.replace("dbt.source", "source"))]  # fmt: skip
        return refs, sources, config
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        args = [a.value for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)]  # fmt: skip
        if node.func.attr == "ref" and args:
            refs.append(args[-1])
        elif node.func.attr == "source" and len(args) == 2:
            sources.append((args[0], args[1]))
        elif (
            node.func.attr == "config"
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id == "dbt")
        ):
            for kw in node.keywords:
                if kw.arg and isinstance(kw.value, ast.Constant):
                    config[kw.arg] = kw.value.value
    return refs, sources, config
