"""The sandboxed Jinja environment of `sandbox.py` and what one render records.

`DbtSandbox` is Jinja's sandbox tightened (no module reachable, big `*`/`**` results refused, a
`return()` ends the innermost macro call); `Unknown` is what a name nobody defines evaluates to;
`Config` is dbt's `config`; `state()` is what the current model's render saw (one child process
renders one model at a time).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jinja2.runtime
import jinja2.sandbox

from docgen.sources.dbt.context import Namespace

#: biggest `*` / `**` result the sandbox allows
MAX_ITEMS = 5_000_000


class RenderError(Exception):
    """The template cannot be rendered the way dbt would (a var without a value, an error the
    project raises): the model keeps its raw code and this reason."""


class MacroReturn(Exception):  # noqa: N818 - control flow, as in dbt
    """dbt's `{{ return(value) }}`: the innermost macro call evaluates to `value`."""

    def __init__(self, value: Any) -> None:
        self.value = value


class DbtSandbox(jinja2.sandbox.SandboxedEnvironment):
    """Jinja's sandbox, tightened: no module is reachable, big results are refused, and a
    `return()` ends the innermost macro call."""

    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, types.ModuleType) or isinstance(value, types.ModuleType):
            return False
        if attr in ("mro", "func_globals", "f_globals", "gi_frame", "cr_frame", "tb_frame"):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Namespace):  # its items only (package macros may start with _)
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_ITEMS:
                        raise jinja2.sandbox.SecurityError("a repeated value over the size limit")
        elif operator == "**" and isinstance(right, int | float) and abs(right) > 1000:
            raise jinja2.sandbox.SecurityError("an exponent over 1000")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        try:
            return super().call(__context, __obj, *args, **kwargs)
        except MacroReturn as returned:
            if isinstance(__obj, jinja2.runtime.Macro):
                return returned.value
            raise


class Unknown(jinja2.ChainableUndefined):
    """A name the project uses but nobody defines (a macro of a package that is not installed):
    calling it is allowed and recorded, so the render goes on far enough to see the model's
    `ref()` calls, but such a model is not counted as rendered."""

    def __call__(self, *args: Any, **kwargs: Any) -> Unknown:  # type: ignore[override]
        _STATE.unknown.add(self._undefined_name or "an item of an empty value")
        return self

    def __str__(self) -> str:
        _STATE.unknown.add(self._undefined_name or "an item of an empty value")
        return ""

    __iter__ = jinja2.Undefined.__iter__


@dataclass
class RenderState:
    """What one model's render saw."""

    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    #: what the render asked of the warehouse, which dbt answers only when it runs
    warehouse: set[str] = field(default_factory=set)
    #: relations whose columns it asked for and nobody declared
    asked: set[str] = field(default_factory=set)


_STATE = RenderState()


def state() -> RenderState:
    """What the render under way has seen so far."""
    return _STATE


def new_state() -> RenderState:
    """A fresh record, for the next model."""
    global _STATE
    _STATE = RenderState()
    return _STATE


def needs_warehouse(what: str) -> None:
    _STATE.warehouse.add(what)


class Config:
    """dbt's `config`: `config(materialized='table')`, `config({...})`, `config.get('x')`."""

    def __init__(self, base: dict[str, Any]) -> None:
        self._base = base

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        for arg in args:
            if isinstance(arg, dict):
                _STATE.config.update(arg)
        _STATE.config.update(kwargs)
        return ""

    def get(self, name: str, default: Any = None, validator: Any = None) -> Any:
        if name in _STATE.config:
            return _STATE.config[name]
        return self._base.get(name, default)

    def require(self, name: str, validator: Any = None) -> Any:
        value = self.get(name)
        if value is None:
            raise RenderError(f"config {name!r} is required")
        return value

    def set(self, name: str, value: Any) -> str:
        _STATE.config[name] = value
        return ""

    def persist_relation_docs(self) -> bool:
        return False

    def persist_column_docs(self) -> bool:
        return False
