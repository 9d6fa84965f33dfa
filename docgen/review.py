"""Review: generated documentation is a draft until a person approves or rejects it.

    approve(conn, obj, by="ana@acme.com")                        # what awaits review
    approve(conn, obj, by=..., layer="business_rules")           # one layer
    reject(conn, obj, by=..., reason="Wrong grain", version=5)
    edit_layer(conn, obj, "executive_summary", "New text.", by=...)  # a new, human version
    pending(conn, organization_id)                               # proposals awaiting review

States of a version: draft -> approved | rejected; a version can also carry reviews of
single layers (`layer_reviews`) and the list of layers a person wrote (`edited_layers`).
Protection: when the current version is approved, or has an approved or edited layer, a
regeneration (nightly, --regenerate-all, a new job) does not replace it; it is stored beside
it as a *proposal* (`docgen.db.documentation.insert_version(protect=True)`), and the current
text stays until someone approves the proposal (it becomes current) or one of its layers
(copied into a new current version). `docgen docs diff` then shows the proposal against the
current version, including what changed in the code since.

Which version a command acts on: `--version N` when given; else the pending proposal if
there is one (that is what awaits review), else the current version. Reviews of a version
change its review columns in place (they are facts about the version, not new content);
edits and accepted proposal layers make new versions, so history keeps every text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from docgen.db import documentation
from docgen.db.objects import get_objects
from docgen.errors import InvalidInput, NotFound
from docgen.layers import LAYERS, LayerName
from docgen.model import LAYER_COLUMNS, DataObject, Documentation


def _now() -> datetime:
    return datetime.now(UTC)


def check_layer(layer: str | None) -> LayerName | None:
    if layer is not None and layer not in LAYER_COLUMNS:
        raise InvalidInput(f"--layer must be one of {', '.join(LAYER_COLUMNS)}, not {layer!r}")
    return layer  # type: ignore[return-value]


def pending_proposal(conn: Connection, object_id: UUID) -> Documentation | None:
    row = conn.execute(
        sa.text(
            "SELECT id FROM metadata.object_documentation"
            " WHERE object_id = :o AND review_state = 'proposed' ORDER BY version DESC LIMIT 1"
        ),
        {"o": object_id},
    ).first()
    return documentation.get(conn, row.id) if row else None


def target_version(conn: Connection, obj: DataObject, version: int | None) -> Documentation:
    """--version N, else the pending proposal, else the current version."""
    if version is not None:
        return documentation.get_version(conn, obj.id, version)
    found = pending_proposal(conn, obj.id) or documentation.current(conn, obj.id)
    if found is None:
        raise NotFound(f"object {obj.name} has no documentation yet")
    return found


def _set_review(conn: Connection, doc: Documentation, **columns: Any) -> Documentation:
    params = {k: json.dumps(v) if k == "layer_reviews" else v for k, v in columns.items()}
    sets = ", ".join(
        f"{k} = CAST(:{k} AS jsonb)" if k == "layer_reviews" else f"{k} = :{k}" for k in columns
    )
    conn.execute(
        sa.text(
            f"UPDATE metadata.object_documentation SET {sets}, updated_at = now() WHERE id = :id"
        ),
        {**params, "id": doc.id},
    )
    return documentation.get(conn, doc.id)


def _layer_values(doc: Documentation) -> dict[str, Any]:
    return {column: getattr(doc, column) for column in LAYER_COLUMNS}


def _derive(
    conn: Connection,
    base: Documentation,
    layers: dict[str, Any],
    *,
    edited_layers: list[str],
    layer_reviews: dict[str, Any],
    note: dict[str, Any],
) -> Documentation:
    """A new current version: `base` with `layers` replaced, its provenance kept."""
    meta = dict(base.generation_metadata)
    meta.setdefault("review_history", []).append(note)
    return documentation.insert_version(
        conn,
        base.organization_id,
        base.object_id,
        layers={**_layer_values(base), **layers},
        complexity_score=base.complexity_score,
        generated_by_model=base.generated_by_model,
        generation_metadata=meta,
        input_hash=base.input_hash,
        review={
            "edited_layers": sorted(set(edited_layers)),
            "layer_reviews": layer_reviews,
            "source_code": base.source_code,
        },
    )


def _approvals_as_layers(doc: Documentation) -> dict[str, Any]:
    """A version's approvals layer by layer (an approved version: every layer)."""
    reviews = dict(doc.layer_reviews)
    if doc.review_state == "approved":
        for column in LAYER_COLUMNS:
            reviews.setdefault(
                column,
                {"state": "approved", "by": doc.reviewed_by, "at": _iso(doc.reviewed_at)},
            )
    return reviews


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ReviewResult:
    doc: Documentation
    message: str


def approve(
    conn: Connection,
    obj: DataObject,
    *,
    by: str,
    layer: str | None = None,
    version: int | None = None,
) -> ReviewResult:
    layer = check_layer(layer)
    target = target_version(conn, obj, version)
    now = _now()
    if target.review_state in ("superseded",):
        raise InvalidInput(
            f"version {target.version} of {obj.name} was replaced by a newer proposal;"
            " review that one"
        )
    if target.review_state == "proposed" or (not target.is_current and layer is None):
        current = documentation.current(conn, obj.id)
        if layer is None:  # the whole proposal (or an old version) becomes current
            documentation.make_current(conn, obj.id, target.version)
            done = _set_review(
                conn,
                target,
                review_state="approved",
                reviewed_by=by,
                reviewed_at=now,
                review_reason=None,
            )
            was = f" (was v{current.version})" if current else ""
            return ReviewResult(done, f"{obj.name}: v{done.version} approved and current{was}")
        if current is None:
            raise NotFound(f"object {obj.name} has no current documentation to merge into")
        reviews = _approvals_as_layers(current)
        reviews[layer] = {"state": "approved", "by": by, "at": now.isoformat()}
        merged = _derive(
            conn,
            current,
            {layer: getattr(target, layer)},
            edited_layers=[e for e in current.edited_layers if e != layer],
            layer_reviews=reviews,
            note={"accepted": layer, "from_version": target.version, "by": by},
        )
        return ReviewResult(
            merged,
            f"{obj.name}: {layer} of proposal v{target.version} approved into v{merged.version}",
        )
    if layer is None:
        done = _set_review(
            conn, target, review_state="approved", reviewed_by=by, reviewed_at=now,
            review_reason=None,
        )  # fmt: skip
        return ReviewResult(done, f"{obj.name}: v{done.version} approved")
    reviews = dict(target.layer_reviews)
    reviews[layer] = {"state": "approved", "by": by, "at": now.isoformat()}
    done = _set_review(conn, target, layer_reviews=reviews)
    return ReviewResult(done, f"{obj.name}: {layer} of v{done.version} approved")


def reject(
    conn: Connection,
    obj: DataObject,
    *,
    by: str,
    reason: str,
    layer: str | None = None,
    version: int | None = None,
) -> ReviewResult:
    layer = check_layer(layer)
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("give the reason for the rejection with --reason")
    target = target_version(conn, obj, version)
    now = _now()
    if layer is None:
        done = _set_review(
            conn, target, review_state="rejected", reviewed_by=by, reviewed_at=now,
            review_reason=reason,
        )  # fmt: skip
        still = " (still current: edit it, roll back or regenerate)" if done.is_current else ""
        return ReviewResult(done, f"{obj.name}: v{done.version} rejected{still}")
    reviews = dict(target.layer_reviews)
    reviews[layer] = {"state": "rejected", "by": by, "at": now.isoformat(), "reason": reason}
    done = _set_review(conn, target, layer_reviews=reviews)
    return ReviewResult(done, f"{obj.name}: {layer} of v{done.version} rejected")


# --- editing ---------------------------------------------------------------------------------


def layer_text(doc: Documentation, layer: LayerName) -> str:
    """What the editor opens: the summary as plain text, a JSON layer as indented JSON."""
    value = getattr(doc, layer)
    if not LAYERS[layer].is_json:
        return (value or "") + "\n"
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def parse_layer_text(layer: LayerName, text: str) -> Any:
    """The stored value of an edited layer; InvalidInput naming the first problem."""
    spec = LAYERS[layer]
    if not spec.is_json:
        value: Any = " ".join(text.split())
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{layer}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
    try:
        parsed = spec.validate_stored(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise InvalidInput(f"{layer}: {where}: {first['msg']}") from None
    return spec.stored_value(parsed)


def edit_layer(
    conn: Connection, obj: DataObject, layer: str, value: Any, *, by: str
) -> Documentation | None:
    """Store the current version with `layer` replaced by a person's `value` (validated) as a
    new current version marked human-edited; None when nothing changed."""
    checked = check_layer(layer)
    assert checked is not None
    base = documentation.current(conn, obj.id)
    if base is None:
        raise NotFound(f"object {obj.name} has no documentation to edit yet")
    if getattr(base, checked) == value:
        return None
    reviews = _approvals_as_layers(base)
    reviews.pop(checked, None)
    return _derive(
        conn,
        base,
        {checked: value},
        edited_layers=[*base.edited_layers, checked],
        layer_reviews=reviews,
        note={"edited": checked, "by": by, "at": _now().isoformat()},
    )


# --- what awaits review ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingItem:
    obj: DataObject
    doc: Documentation
    current_version: int | None


def pending(
    conn: Connection, organization_id: UUID, *, include_drafts: bool = False
) -> list[PendingItem]:
    """Proposals awaiting review (and with `include_drafts`, current versions nobody has
    reviewed yet), by object name."""
    states = ["proposed", "draft"] if include_drafts else ["proposed"]
    rows = conn.execute(
        sa.text(
            "SELECT d.id, d.object_id, c.version AS current_version"
            " FROM metadata.object_documentation d"
            " LEFT JOIN metadata.object_documentation c"
            "   ON c.object_id = d.object_id AND c.is_current"
            " JOIN metadata.objects o ON o.id = d.object_id AND o.removed_at IS NULL"
            " WHERE d.organization_id = :org AND d.review_state = ANY(:states)"
            "   AND (d.review_state = 'proposed' OR d.is_current)"
        ),
        {"org": organization_id, "states": states},
    ).all()
    objects = get_objects(conn, [r.object_id for r in rows])
    items = [
        PendingItem(objects[r.object_id], documentation.get(conn, r.id), r.current_version)
        for r in rows
        if r.object_id in objects
    ]
    return sorted(items, key=lambda i: (i.obj.name, i.doc.version))


def latest_hashes(conn: Connection, object_ids: list[UUID]) -> dict[UUID, set[str]]:
    """Input hashes a regeneration would only repeat: the current version's and a pending
    proposal's (nightly must not make the same proposal every night)."""
    rows = conn.execute(
        sa.text(
            "SELECT object_id, input_hash FROM metadata.object_documentation"
            " WHERE object_id = ANY(:ids) AND input_hash IS NOT NULL"
            " AND (is_current OR review_state = 'proposed')"
        ),
        {"ids": list(object_ids)},
    )
    found: dict[UUID, set[str]] = {}
    for row in rows:
        found.setdefault(row.object_id, set()).add(row.input_hash)
    return found
