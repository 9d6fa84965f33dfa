"""Who uses and who owns a dbt object, as the project declares it, for `properties`.

Read the same way from schema `.yml` files (the folder route) and from `manifest.json`:

- exposures (`exposures:`): each object an exposure `depends_on` gets
  `properties["exposures"]`, a list of `{name, type, owner, description, maturity, url}`;
- owners: `meta` (top level and `config.meta`, dbt 1.10 puts it there) is kept as
  `properties["meta"]`; a model's `group` (`group:`, `config.group`, `+group` in
  dbt_project.yml) becomes `properties["group"] = {name, owner}` with the owner the group
  declares (`groups:`);
- sources: `freshness` (source level, overridden per table, `freshness: null` turns it off;
  `config.freshness` too) with `loaded_at_field`, as `properties["freshness"]`, and
  `properties["loader"]`.

Only what is declared is stored: nothing is inferred from names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from docgen.sources.base import SourceObject
from docgen.sources.dbt.calls import REF_CALL, SOURCE_CALL

_EXPOSURE_KEYS = ("name", "label", "type", "description", "maturity", "url")


def plain(value: Any) -> Any:
    """YAML values as JSON values (dates become text)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def owner_name(owner: Any) -> str | None:
    """`owner: {name, email}` (or a bare string) as one name: `Jane Doe <jane@x.com>`."""
    if isinstance(owner, str):
        return owner.strip() or None
    if not isinstance(owner, dict):
        return None
    name, email = owner.get("name"), owner.get("email")
    name = str(name).strip() if isinstance(name, str | int) and str(name).strip() else None
    if isinstance(email, list):
        email = ", ".join(str(e) for e in email if e)
    email = str(email).strip() if isinstance(email, str | int) and str(email).strip() else None
    if name and email:
        return f"{name} <{email}>"
    return name or email


def meta_of(*entries: Any) -> dict[str, Any] | None:
    """`meta:` and `config: {meta:}` of the entries, later entries winning."""
    meta: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for value in (entry.get("meta"), (entry.get("config") or {}).get("meta")
                      if isinstance(entry.get("config"), dict) else None):  # fmt: skip
            if isinstance(value, dict):
                meta.update(plain(value))
    return meta or None


def group_of(*entries: Any) -> str | None:
    """The `group:` (or `config.group`) of the entries, later entries winning."""
    found = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        config = _config(entry)
        for value in (entry.get("group"), config.get("group")):
            if isinstance(value, str) and value.strip():
                found = value.strip()
    return found


def _config(entry: dict[str, Any]) -> dict[str, Any]:
    config = entry.get("config")
    return config if isinstance(config, dict) else {}


def group_property(name: str | None, groups: dict[str, Any]) -> dict[str, Any] | None:
    if not name:
        return None
    return {"name": name, "owner": owner_name(groups.get(name))}


def freshness_of(source: dict[str, Any], table: dict[str, Any]) -> dict[str, Any] | None:
    """The freshness check dbt applies to a source table: the table's own `freshness`, else the
    source's (`freshness: null` on the table turns it off); `loaded_at_field` likewise."""
    chosen: Any = None
    loaded_at: Any = None
    for entry in (source, table):
        for holder in (entry, _config(entry)):
            if "freshness" in holder:
                chosen = holder["freshness"]
            if isinstance(holder.get("loaded_at_field"), str):
                loaded_at = holder["loaded_at_field"]
    if not isinstance(chosen, dict):
        return None
    found: dict[str, Any] = {}
    for level in ("warn_after", "error_after"):
        value = chosen.get(level)
        if isinstance(value, dict) and isinstance(value.get("count"), int | float):
            found[level] = {"count": value["count"], "period": str(value.get("period") or "hour")}
    if isinstance(chosen.get("filter"), str):
        found["filter"] = chosen["filter"]
    if not any(k in found for k in ("warn_after", "error_after")):
        return None
    if isinstance(loaded_at, str) and loaded_at.strip():
        found["loaded_at_field"] = loaded_at.strip()
    return found


def exposure_record(entry: dict[str, Any]) -> dict[str, Any]:
    record = {k: plain(entry[k]) for k in _EXPOSURE_KEYS if isinstance(entry.get(k), str)}
    owner = owner_name(entry.get("owner"))
    if owner:
        record["owner"] = owner
    return record


def exposure_targets(depends_on: Any) -> list[tuple[str, ...]]:
    """`depends_on: [ref('x'), source('s', 't')]` of a YAML exposure: ("ref", name) and
    ("source", source, table) targets."""
    targets: list[tuple[str, ...]] = []
    for item in depends_on if isinstance(depends_on, list) else []:
        text = str(item)
        for ref in REF_CALL.finditer(text):
            name = ref.group(4) or ref.group(2)
            targets.append(("ref", name + (f".v{ref.group(5)}" if ref.group(5) else "")))
        for src in SOURCE_CALL.finditer(text):
            targets.append(("source", src.group(2), src.group(4)))
    return targets


def attach_exposures(
    objects: Iterable[SourceObject], by_key: dict[str, list[dict[str, Any]]]
) -> None:
    """Each exposure on the objects it depends on (by unique key), in declaration order."""
    for obj in objects:
        found = by_key.get(obj.unique_key)
        if found:
            obj.properties = {**(obj.properties or {}), "exposures": found}
