"""Who uses an object, from evidence only: exposures, owners and teams in YAML `meta`, tags that
name an audience, and the models that read it. Nothing is guessed from column names; with no
evidence the layer says so.

Keys read from `DataObject.properties` (filled by the dbt reader where the project declares
them, docgen.sources.dbt.evidence): `exposures` (a list of {name, type, owner, description} or
names), `meta` (dbt `meta:`, its `owner`/`owners`/`team`/`teams` keys), `owner`, `group`
({name, owner}), and for sources `freshness` and `loader`.
"""

from __future__ import annotations

from typing import Any

from docgen.context import ObjectContext
from docgen.providers.offline.words import join_words, sentence

#: tags that say where a model sits in the project, not who reads it
STRUCTURAL_TAGS = {
    "staging",
    "stg",
    "intermediate",
    "int",
    "mart",
    "marts",
    "base",
    "core",
    "source",
    "sources",
    "daily",
    "hourly",
    "nightly",
    "weekly",
    "incremental",
    "pii",
    "deprecated",
    "snapshot",
    "seed",
    "view",
    "table",
}


def _owners(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return []
    found: list[str] = []
    for key in ("owner", "owners", "team", "teams", "business_owner", "contact"):
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
        elif isinstance(value, list):
            found += [str(v).strip() for v in value if str(v).strip()]
        elif isinstance(value, dict):
            name = value.get("name") or value.get("email")
            if name:
                found.append(str(name))
    return found


def _period(count: Any, period: Any) -> str:
    word = str(period or "hour").lower().rstrip("s")
    number = int(count) if isinstance(count, float) and count.is_integer() else count
    return f"{number} {word}{'' if number == 1 else 's'}"


def freshness_words(freshness: Any) -> str:
    """dbt's source freshness check: 'warn after 12 hours, error after 1 day, measured on
    _loaded_at'."""
    if not isinstance(freshness, dict):
        return "declared"
    parts = []
    for level, word in (("warn_after", "warn"), ("error_after", "error")):
        value = freshness.get(level)
        if isinstance(value, dict) and value.get("count"):
            parts.append(f"{word} after {_period(value['count'], value.get('period'))}")
    field = freshness.get("loaded_at_field")
    text = ", ".join(parts) or "declared"
    return text + (f", measured on {field}" if field else "")


def refresh(ctx: ObjectContext) -> str:
    """How often it changes: a source's declared freshness and loader, else its
    materialization."""
    materialization = (ctx.object.materialization or "").lower()
    props = ctx.object.properties or {}
    if materialization == "source" and (props.get("freshness") or props.get("loader")):
        loader = props.get("loader")
        parts = [f"loaded by {loader}" if isinstance(loader, str) and loader else ""]
        if props.get("freshness"):
            parts.append(f"freshness: {freshness_words(props['freshness'])}")
        return "; ".join(p for p in parts if p)
    return {
        "view": "whenever it is queried (a view)",
        "table": "each time the project runs (a table)",
        "incremental": "each project run adds new rows (incremental)",
        "ephemeral": "inside the models that use it (ephemeral)",
        "snapshot": "each snapshot run records changes",
        "seed": "when the seed file changes",
        "source": "as its source system loads it (no schedule declared here)",
    }.get(materialization, "not declared")


def used_by(ctx: ObjectContext) -> list[dict[str, str]]:
    obj = ctx.object
    props = obj.properties or {}
    frequency = refresh(ctx)
    found: list[dict[str, str]] = []
    for exposure in props.get("exposures") or []:
        if isinstance(exposure, dict):
            name = str(exposure.get("name") or "an exposure")
            owners = _owners({"owner": exposure.get("owner")}) or [name]
            kind = exposure.get("type") or "exposure"
            what = exposure.get("description") or f"the {kind} {name}"
            found.append(
                {
                    "team": owners[0],
                    "frequency": frequency,
                    "purpose": sentence(f"Declared exposure {name} ({kind}): {what}"),
                }
            )
        elif isinstance(exposure, str):
            found.append(
                {
                    "team": exposure,
                    "frequency": frequency,
                    "purpose": sentence(f"Declared as used by the exposure {exposure}"),
                }
            )
    for owner in _owners(props.get("meta")) + _owners({"owner": props.get("owner")}):
        found.append(
            {
                "team": owner,
                "frequency": frequency,
                "purpose": sentence(f"Named as the owner of {obj.name} in the project's YAML"),
            }
        )
    group = props.get("group")
    if isinstance(group, dict) and group.get("name"):
        group_owner = group.get("owner")
        found.append(
            {
                "team": str(group_owner or f"the {group['name']} group"),
                "frequency": frequency,
                "purpose": sentence(
                    f"{obj.name} belongs to the {group['name']} group in the project's YAML"
                    + (f", owned by {group_owner}" if group_owner else "")
                ),
            }
        )
    audience = [t for t in obj.tags if t.lower() not in STRUCTURAL_TAGS]
    if audience:
        found.append(
            {
                "team": join_words(audience, 3),
                "frequency": frequency,
                "purpose": sentence(
                    f"{obj.name} is tagged {join_words([repr(t) for t in audience], 3)} "
                    "in the project"
                ),
            }
        )
    readers = [d.name for d in ctx.downstream]
    if readers:
        found.append(
            {
                "team": f"Users of {readers[0]}"
                + (f" and {len(readers) - 1} more models" if len(readers) > 1 else ""),
                "frequency": frequency,
                "purpose": sentence(f"Read by {join_words(readers, 5)}"),
            }
        )
    if not found:
        found.append(
            {
                "team": "No known users",
                "frequency": frequency,
                "purpose": sentence(
                    f"No exposure, owner, audience tag or downstream model names a user of "
                    f"{obj.name}"
                ),
            }
        )
    return found[:6]


def downstream_impact(ctx: ObjectContext) -> str:
    obj = ctx.object
    readers = [d.name for d in ctx.downstream]
    exposures = [
        str(e.get("name") if isinstance(e, dict) else e)
        for e in (obj.properties or {}).get("exposures") or []
    ]
    parts = []
    if readers:
        verb = "reads" if len(readers) == 1 else "read"
        parts.append(
            f"{'the model' if len(readers) == 1 else 'the models'} {join_words(readers, 5)} "
            f"{verb} {obj.name}, so an error or delay here reaches "
            f"{'it on its' if len(readers) == 1 else 'them on their'} next build"
        )
    if exposures:
        parts.append(f"the declared exposures {join_words(exposures, 4)} depend on it")
    if not parts:
        return sentence(
            f"No model or exposure in the project reads {obj.name}; an error here shows only "
            f"where {obj.name} itself is queried"
        )
    return " ".join(sentence(p) for p in parts)
