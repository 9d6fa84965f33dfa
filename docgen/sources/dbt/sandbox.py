"""The Jinja environment a dbt project's templates run in: dbt's context, nothing else.

It runs in a child process (`render_worker`), never in docgen's own process, and holds only
allow-listed values:

- `modules.datetime`, `modules.re`, `modules.itertools` (and `modules.pytz` when installed) are
  read-only namespaces of the functions and classes dbt documents, never the module objects
  (a module has a path to `sys.modules`, hence to `os`);
- `is_safe_attribute` refuses, on top of Jinja's sandbox rules (no `_` names, no function
  internals), any module value and any `mro`; so no attribute chain from the context reaches a
  module, `open` or `__import__` (tests/test_hostile_dbt.py walks the whole context);
- `env_var()` sees only the `DBT_*` variables the parent passed in (never `DBT_ENV_SECRET_*`),
  `var()` only the project's vars: a name without a value and without a default makes the model
  unrenderable instead of inventing a placeholder;
- `*` and `**` refuse results over a few million items (time and memory are bounded by the
  parent: a per-file timeout and rlimits on the child).

The sandbox is Jinja's mutable `SandboxedEnvironment`, as in dbt: projects build lists with
`{% do names.append(x) %}`; everything docgen exposes is a copy or read-only, so a template
can only change its own values.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import re
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.sandbox
import yaml

from docgen.sources.dbt.context import (
    Adapter,
    Namespace,
    Relation,
    adapter_prefixes,
    as_bool,
    as_number,
    column,
    column_api,
    dbt_exceptions,
    fromjson,
    fromyaml,
    jsonable,
    modules,
    tojson,
)
from docgen.sources.dbt.sandbox_env import (
    Config,
    DbtSandbox,
    MacroReturn,
    RenderError,
    Unknown,
    needs_warehouse,
    new_state,
    state,
)

#: longest rendered model (characters)
MAX_RENDERED = 2_000_000

_MACRO_NAME = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")
_SPECIAL_BLOCK = re.compile(
    r"\{%-?\s*(materialization|test|snapshot)\b.*?\{%-?\s*end\1\s*-?%\}", re.S
)


@dataclass
class ModelRequest:
    """One file to render, as the parent sends it."""

    name: str
    text: str
    package: str
    config: dict[str, Any]
    schema: str | None = None
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)


class Renderer:
    """dbt's parse-time context over one project and its installed packages."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.root: str = spec["project"]
        self.dialect: str = spec.get("dialect") or "postgres"
        self.vars: dict[str, Any] = spec.get("vars") or {}
        self.scoped_vars: dict[str, dict[str, Any]] = spec.get("scoped_vars") or {}
        self.package_vars: dict[str, dict[str, Any]] = spec.get("package_vars") or {}
        self.env_vars: dict[str, str] = spec.get("env") or {}
        self.dispatch_order: dict[str, list[str]] = spec.get("dispatch") or {}
        self.models: dict[str, dict[str, Any]] = spec.get("models") or {}
        self.docs: dict[str, str] = spec.get("docs") or {}
        self.macros: dict[str, dict[str, Any]] = {}  # package -> name -> macro
        self.current_package = self.root
        self.env = DbtSandbox(
            undefined=Unknown, extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]
        )
        self.env.filters.update(
            as_bool=as_bool, as_number=as_number, as_text=str, as_native=lambda value: value
        )
        self.base: dict[str, Any] = self._context()
        self.env.globals.update(self.base)
        self.package_globals: dict[str, ChainMap[str, Any]] = {}
        self._files: list[tuple[str, str, str]] = []
        self._modules: dict[int, dict[str, Any]] = {}
        self._broken: dict[int, str] = {}

    # macros ----------------------------------------------------------------------------------
    def load_macro_file(self, package: str, text: str, path: str = "") -> list[str]:
        """Declare a file's macros under its package; the file is compiled when one of them
        is first called (a project with packages has hundreds of macro files, few used)."""
        text = _SPECIAL_BLOCK.sub("", text)
        names = _MACRO_NAME.findall(text)
        if not names:
            return []
        index = len(self._files)
        self._files.append((package, text, path or f"a macro file of {package}"))
        for name in names:
            self.macros.setdefault(package, {})[name] = LazyMacro(self, index, name)
        return names

    def compiled(self, index: int, name: str) -> Any:
        """The macro `name` of macro file `index`, compiling the file the first time."""
        if index not in self._modules:
            package, text, path = self._files[index]
            self._modules[index] = {}
            try:
                template = self.env.from_string(text)
                # what make_module() does, keeping the `_private` macros it does not export
                context = template.new_context(vars=self._package_scope(package), shared=True)  # type: ignore[arg-type]
                for _ in template.root_render_func(context):
                    pass
            except jinja2.TemplateSyntaxError as exc:
                self._broken[index] = f"{path} has a Jinja syntax error at line {exc.lineno}"
            else:
                self._modules[index] = {
                    k: v for k, v in context.vars.items() if isinstance(v, jinja2.runtime.Macro)
                }
        if index in self._broken:
            raise RenderError(self._broken[index])
        macro = self._modules[index].get(name)
        if macro is None:
            raise RenderError(f"macro {name!r} is not defined where its file says")
        return macro

    def _package_scope(self, package: str) -> ChainMap[str, Any]:
        """Names a macro of `package` sees: its own package's macros, then the global ones."""
        if package == self.root:
            return ChainMap(self.env.globals)
        if package not in self.package_globals:
            own = self.macros.setdefault(package, {})
            self.package_globals[package] = ChainMap(own, self.env.globals)
        return self.package_globals[package]

    def finish_macros(self) -> None:
        """Publish the macros: dbt's own ones bare, package namespaces, the root's bare."""
        glob = self.env.globals
        glob.update(self.macros.get("dbt", {}))
        glob.update(self.base)
        for package, macros in self.macros.items():
            glob[package] = Namespace(package, macros)
        for package in self.spec.get("packages") or []:
            glob.setdefault(package, Namespace(package, {}))
        glob.update(self.macros.get(self.root, {}))

    def lookup(self, package: str | None, name: str) -> Any:
        if package is None:
            for scope in (self.current_package, self.root, "dbt"):
                macro = self.macros.get(scope, {}).get(name)
                if macro is not None:
                    return macro
            return None
        return self.macros.get(package, {}).get(name)

    def dispatch(
        self, macro_name: str, macro_namespace: str | None = None, packages: Any = None
    ) -> Callable[..., Any]:
        """dbt's `adapter.dispatch`: the first `<adapter>__name` or `default__name` found in
        the project's dispatch search order for the namespace (else the root then the
        namespace)."""
        if isinstance(packages, list) and packages:
            search: list[str | None] = list(packages)
        elif macro_namespace is None:
            search = [None]
        else:
            search = list(self.dispatch_order.get(macro_namespace) or []) or [
                self.root,
                macro_namespace,
            ]
        for package in search:
            for prefix in adapter_prefixes(self.dialect):
                macro = self.lookup(package, f"{prefix}__{macro_name}")
                if macro is not None:
                    return macro
        tried = ", ".join(str(p) for p in search)
        raise RenderError(f"adapter.dispatch found no {macro_name!r} macro in {tried}")

    def _columns_of(self, relation: str) -> list[Any] | None:
        declared = (self.spec.get("columns") or {}).get(relation)
        if declared is None:
            state().asked.add(relation)
            return None
        return [column(name, data_type) for name, data_type in declared]

    # the context -----------------------------------------------------------------------------
    def _context(self) -> dict[str, Any]:
        target = Namespace("target", self.spec.get("target") or {})

        def ref(*args: Any, **kwargs: Any) -> Relation:
            name = str(args[-1] if args else kwargs.get("model_name", kwargs.get("name", "")))
            version = kwargs.get("v", kwargs.get("version"))
            state().refs.append(name if version is None else f"{name}.v{version}")
            info = self.models.get(name, {})
            latest = info.get("latest")
            chosen = str(version) if version is not None else latest
            identifier = info.get("alias") or name
            if chosen is not None and info.get("versions"):
                identifier = f"{name}_v{chosen}"
            return Relation(
                database=target.get("database"),
                schema=info.get("schema") or target.get("schema"),
                identifier=identifier,
                rendered=identifier,
            )

        def source(source_name: Any, table_name: Any) -> Relation:
            state().sources.append((str(source_name), str(table_name)))
            return Relation(
                database=target.get("database"),
                schema=str(source_name),
                identifier=str(table_name),
                rendered=f"{source_name}.{table_name}",
            )

        def var(name: str, default: Any = _MISSING) -> Any:
            package = self.current_package
            scopes = (self.scoped_vars.get(package), self.vars, self.package_vars.get(package))
            for values in scopes:
                if isinstance(values, dict) and name in values:
                    value = values[name]
                    if isinstance(value, str) and ("{{" in value or "{%" in value):
                        # dbt renders a var's text in the calling model's context
                        # (Fivetran packages keep `{{ source('x', 'y') }}` in vars)
                        return self.env.from_string(value).render()
                    return copy.deepcopy(value)
            if default is not _MISSING:
                return default
            raise RenderError(f"var({name!r}) has no value in dbt_project.yml and no default")

        def env_var(name: str, default: Any = _MISSING) -> Any:
            if name in self.env_vars:
                return self.env_vars[name]
            if default is not _MISSING:
                return default
            raise RenderError(f"env_var({name!r}) is not set for docgen and has no default")

        def return_(value: Any) -> Any:
            raise MacroReturn(value)

        def raise_error(message: Any = "", *args: Any) -> Any:
            raise RenderError(f"the project raised: {' '.join(str(message).split())[:200]}")

        # `builtins.ref.config`: the little of dbt's runtime config projects read (versions)
        versions = self.spec.get("versions") or {}
        runtime = Namespace("config", {
            "project_name": self.root,
            "dependencies": {name: Namespace(name, {"project_name": name, "version": version})
                             for name, version in versions.items()},
        })  # fmt: skip
        ref = _WithConfig(ref, runtime)
        builtins = Namespace("builtins", {"ref": ref, "source": source})
        context: dict[str, Any] = {
            "run_started_at": datetime.datetime.fromisoformat(self.spec["run_started_at"]),
            "invocation_id": "00000000-0000-0000-0000-000000000000",
            "dbt_version": "1.10.13",
            "modules": modules(),
            "project_name": self.root,
            "ref": ref,
            "source": source,
            "var": var,
            "env_var": env_var,
            "builtins": builtins,
            "is_incremental": lambda: False,
            "should_full_refresh": lambda: False,
            "execute": False,
            "flags": Namespace(
                "flags", {"FULL_REFRESH": False, "STORE_FAILURES": False, "WHICH": "compile"}
            ),
            "target": target,
            "adapter": Adapter(self.dialect, self.dispatch, self._columns_of, needs_warehouse),
            "api": Namespace(
                "api",
                {
                    "Relation": Namespace("Relation", {"create": Relation}),
                    "Column": Namespace("Column", column_api(self.dialect)),
                },
            ),
            "exceptions": dbt_exceptions(raise_error),
            "graph": {"nodes": {}, "sources": {}, "macros": {}, "exposures": {}},
            "selected_resources": [],
            "invocation_args_dict": {},
            "run_query": lambda *a, **k: needs_warehouse("run_query"),
            "load_result": lambda *a, **k: None,
            "store_result": lambda *a, **k: "",
            "log": lambda *a, **k: "",
            "print": lambda *a, **k: "",
            "doc": lambda name: self.docs.get(str(name), ""),
            "tojson": tojson,
            "fromjson": fromjson,
            "toyaml": lambda value, *a, **k: yaml.safe_dump(value),
            "fromyaml": fromyaml,
            "local_md5": lambda value: hashlib.md5(str(value).encode()).hexdigest(),  # noqa: S324
            "zip": zip,
            "zip_strict": lambda *a: list(zip(*a, strict=True)),
            "set": set,
            "set_strict": set,
            "return": return_,
        }
        return context

    # rendering -------------------------------------------------------------------------------
    def render(self, request: ModelRequest) -> dict[str, Any]:
        """Render one model; the result is plain JSON values."""
        state = new_state()
        self.current_package = request.package
        this = Relation(
            database=self.spec.get("target", {}).get("database"),
            schema=request.schema or self.spec.get("target", {}).get("schema"),
            identifier=request.name,
            rendered=request.name,
        )
        config = Config(request.config)
        model = {
            "name": request.name,
            "unique_id": f"model.{request.package}.{request.name}",
            "package_name": request.package,
            "config": dict(request.config),
            "resource_type": "model",
            "tags": list(request.config.get("tags") or []),
        }
        # macros see the model being rendered too (dbt's macros read `this`, `config`)
        self.env.globals.update(this=this, model=model, config=config)
        sql: str | None = None
        error: str | None = None
        line: int | None = None
        try:
            sql = self.env.from_string(request.text).render()
        except jinja2.TemplateSyntaxError as exc:
            error = f"Jinja syntax error: {_one_line(exc.message or '')}"
            line = exc.lineno
        except RenderError as exc:
            error = str(exc)
        except MacroReturn:
            error = "return() outside a macro"
        except RecursionError:
            error = "macros call each other too deeply"
        except MemoryError:
            error = "rendering needs more memory than allowed"
        except jinja2.sandbox.SecurityError as exc:
            error = f"refused by the sandbox: {_one_line(str(exc))}"
        except Exception as exc:  # noqa: BLE001 - any template runtime error: raw code kept
            error = f"{type(exc).__name__}: {_one_line(str(exc))}"
        if sql is not None and len(sql) > MAX_RENDERED:
            sql, error = None, f"rendered SQL is over {MAX_RENDERED:,} characters"
        if sql is not None and state.unknown:
            sql = None
        if sql is not None and state.warehouse:
            sql, error = None, "needs the warehouse: " + ", ".join(sorted(state.warehouse))
        return {
            "sql": None if sql is None else sql.strip() + "\n",
            "error": error,
            "line": line,
            "refs": state.refs,
            "sources": [list(s) for s in state.sources],
            "config": jsonable(state.config),
            "unknown": sorted(state.unknown),
            "asked": sorted(state.asked),
        }


class LazyMacro:
    """A project or package macro: compiled on its first call; a `return()` inside it ends
    this call (as a call of a dbt macro does)."""

    def __init__(self, renderer: Renderer, index: int, name: str) -> None:
        self._renderer = renderer
        self._index = index
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        macro = self._renderer.compiled(self._index, self.name)
        try:
            return macro(*args, **kwargs)
        except MacroReturn as returned:
            return returned.value

    def __repr__(self) -> str:
        return f"<macro {self.name}>"


class _WithConfig:
    """A function with dbt's `.config` attribute (`ref.config`)."""

    def __init__(self, function: Callable[..., Any], config: Namespace) -> None:
        self._function = function
        self.config = config

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


_MISSING: Any = _Missing()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
