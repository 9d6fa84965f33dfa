"""Plain objects of dbt's template context: relations, the adapter, `exceptions`.

They hold data and small methods only (no module, no file, no connection): at parse time dbt
does not reach the warehouse either (`execute` is false), so introspection returns nothing.
"""

from __future__ import annotations

import datetime
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

_PREFIXES = {
    "redshift": ["redshift", "postgres"],
    "databricks": ["databricks", "spark"],
    "glue": ["glue", "spark"],
    "materialize": ["materialize", "postgres"],
    "synapse": ["synapse", "sqlserver"],
    "fabric": ["fabric", "sqlserver"],
}


def adapter_prefixes(dialect: str) -> list[str]:
    """The macro prefixes `adapter.dispatch` tries for a warehouse, most specific first."""
    return [*_PREFIXES.get(dialect, [dialect]), "default"]


class Namespace:
    """A read-only bag of allow-listed values, reached by attribute or item."""

    __slots__ = ("_label", "_items")

    def __init__(self, label: str, items: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_items", dict(items))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"{self._label} has no {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._label} is read-only")

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name, default)

    def __repr__(self) -> str:
        return f"<{self._label}>"


class Relation(Mapping[str, Any]):
    """What `ref()`, `source()` and `this` return: prints as the relation's name, and answers
    the attributes and mapping keys dbt's and dbt_utils' macros read."""

    def __init__(
        self,
        database: str | None = None,
        schema: str | None = None,
        identifier: str | None = None,
        type: str | None = None,  # noqa: A002 - dbt's keyword
        rendered: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.database = database
        self.schema = schema
        self.identifier = identifier
        self.type = type or "table"
        self._rendered = rendered or ".".join(
            p for p in (database, schema, identifier) if isinstance(p, str) and p
        )

    # attributes of dbt's BaseRelation
    @property
    def name(self) -> str | None:
        return self.identifier

    @property
    def table(self) -> str | None:
        return self.identifier

    is_table = property(lambda self: self.type == "table")
    is_view = property(lambda self: self.type == "view")
    is_cte = property(lambda self: False)
    is_materialized_view = property(lambda self: False)

    def render(self) -> str:
        return self._rendered

    def include(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def quote(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def incorporate(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def without_identifier(self) -> Relation:
        return Relation(self.database, self.schema, None)

    # a mapping, as dbt's relations are (dbt_utils checks `relation is mapping`)
    def _as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "schema": self.schema,
            "identifier": self.identifier,
            "type": self.type,
            "metadata": {"type": "BaseRelation"},
            "path": {"database": self.database, "schema": self.schema,
                     "identifier": self.identifier},
        }  # fmt: skip

    def __getitem__(self, key: str) -> Any:
        return self._as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())

    def __str__(self) -> str:
        return self._rendered

    def __repr__(self) -> str:
        return f"<Relation {self._rendered}>"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._rendered)


class Adapter:
    """`adapter` at parse time: dispatch works, introspection answers nothing."""

    def __init__(
        self,
        dialect: str,
        dispatch: Callable[..., Any],
        columns_of: Callable[[str], list[Any] | None],
        needs_warehouse: Callable[[str], None],
    ) -> None:
        self._dialect = dialect
        self.dispatch = dispatch
        self._columns_of = columns_of
        self._needs = needs_warehouse

    def type(self) -> str:
        return self._dialect

    def quote(self, identifier: Any) -> str:
        mark = "`" if self._dialect in ("bigquery", "databricks", "spark") else '"'
        return f"{mark}{identifier}{mark}"

    def quote_as_configured(self, identifier: Any, *args: Any) -> str:
        return str(identifier)

    def get_relation(self, *args: Any, **kwargs: Any) -> None:
        self._needs("adapter.get_relation")
        return None

    def get_columns_in_relation(self, relation: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
        """The columns the project's YAML declares for a source or model (what dbt would ask
        the warehouse for); a relation without declared columns needs the warehouse."""
        columns = self._columns_of(str(relation))
        if columns is None:
            self._needs("adapter.get_columns_in_relation")
            return []
        return columns

    def get_missing_columns(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def list_relations_without_caching(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def check_schema_exists(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def already_exists(self, *args: Any, **kwargs: Any) -> bool:
        return False


def dbt_exceptions(raise_error: Callable[..., Any]) -> Namespace:
    return Namespace(
        "exceptions",
        {
            "raise_compiler_error": raise_error,
            "raise_not_implemented": raise_error,
            "raise_database_error": raise_error,
            "raise_dependency_error": raise_error,
            "raise_fail_fast_error": raise_error,
            "column_type_missing": raise_error,
            "warn": lambda *a, **k: "",
        },
    )


def column_api(dialect: str) -> dict[str, Any]:
    """`api.Column`: type names as the warehouse spells them."""
    string = "string" if dialect in ("bigquery", "databricks", "spark") else "varchar"

    def translate_type(name: Any) -> str:
        return {"string": string, "text": string}.get(str(name).lower(), str(name))

    return {
        "translate_type": translate_type,
        "string_type": lambda size=None: f"{string}({size})" if size else string,
        "numeric_type": lambda dtype, precision=None, scale=None: (
            f"{dtype}({precision},{scale})" if precision is not None else str(dtype)
        ),
        "create": lambda name, label_or_dtype=None, *a, **k: column(name, label_or_dtype),
    }


def column(name: str, data_type: str | None = None) -> Namespace:
    """A column as dbt's `Column` answers the attributes macros read."""
    kind = (data_type or "").lower()
    return Namespace(
        "Column",
        {
            "name": name, "column": name, "quoted": f'"{name}"', "data_type": data_type,
            "dtype": data_type, "is_string": lambda: kind.startswith(("varchar", "text", "string",
            "char")), "is_number": lambda: kind.startswith(("int", "numeric", "float", "decimal",
            "number", "bigint", "double")), "is_numeric": lambda: kind.startswith(("numeric",
            "decimal", "number")), "is_float": lambda: kind.startswith(("float", "double")),
            "is_integer": lambda: kind.startswith(("int", "bigint")),
        },
    )  # fmt: skip


def modules() -> Namespace:
    """dbt's `modules`, as namespaces of plain functions and classes."""
    dt = Namespace(
        "modules.datetime",
        {
            "datetime": datetime.datetime,
            "date": datetime.date,
            "time": datetime.time,
            "timedelta": datetime.timedelta,
            "timezone": datetime.timezone,
            "tzinfo": datetime.tzinfo,
            "MINYEAR": datetime.MINYEAR,
            "MAXYEAR": datetime.MAXYEAR,
        },
    )
    regex_names = (
        "match fullmatch search sub subn split findall finditer compile escape purge "
        "IGNORECASE I MULTILINE M DOTALL S VERBOSE X ASCII A UNICODE U"
    ).split()
    regex = Namespace("modules.re", {n: getattr(re, n) for n in regex_names})
    iter_names = (
        "accumulate batched chain combinations combinations_with_replacement compress count "
        "cycle dropwhile filterfalse groupby islice pairwise permutations product repeat "
        "starmap takewhile tee zip_longest"
    ).split()
    tools = Namespace(
        "modules.itertools", {n: getattr(itertools, n) for n in iter_names if hasattr(itertools, n)}
    )
    items: dict[str, Any] = {"datetime": dt, "re": regex, "itertools": tools}
    try:
        import pytz
    except ImportError:  # pragma: no cover - pandas brings pytz
        pass
    else:
        items["pytz"] = Namespace(
            "modules.pytz",
            {
                "timezone": pytz.timezone,
                "utc": pytz.utc,
                "UTC": pytz.UTC,
                "all_timezones": list(pytz.all_timezones),
                "common_timezones": list(pytz.common_timezones),
            },
        )
    return Namespace("modules", items)


def as_bool(value: Any) -> Any:
    """dbt's `as_bool` filter: 'true'/'false' strings become booleans."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def as_number(value: Any) -> Any:
    try:
        return float(value) if "." in str(value) else int(value)
    except (TypeError, ValueError):
        return value


def tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except (TypeError, ValueError):
        return default


def fromjson(text: Any, default: Any = None) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def fromyaml(text: Any, default: Any = None) -> Any:
    try:
        return yaml.safe_load(str(text))
    except yaml.YAMLError:
        return default


def jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        return {}
