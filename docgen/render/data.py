"""What every export reads: objects, their current documentation, lineage, and display facts.

`load_catalog()` is the one query the exporters need (objects of an organization, their
current versions, upstream and downstream links between them); `resolve_object()` turns a
user's OBJECT argument (id, name or unique key) into one object. Everything else here is pure:
slugs for file names, and the formatted facts (model, prompt version, tokens, cost, date)
shown beside a version.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.db import documentation, objects, orgs
from docgen.errors import InvalidInput, NotFound, PermissionDenied
from docgen.model import DataObject, Documentation

COMPLEXITY_LABELS = {
    1: "Very simple",
    2: "Simple",
    3: "Moderate",
    4: "Complex",
    5: "Very complex",
}

_RESERVED_SLUGS = frozenset({"index", "readme", "lineage"})


@dataclass(frozen=True)
class Link:
    """A lineage neighbour: `slug` is None when it has no page in this export."""

    object_id: UUID
    name: str
    object_type: str
    slug: str | None


@dataclass(frozen=True)
class Entry:
    """One object of an export with its current documentation (None: not documented yet)."""

    obj: DataObject
    doc: Documentation | None
    slug: str
    upstream: list[Link] = field(default_factory=list)
    downstream: list[Link] = field(default_factory=list)
    #: documentation left out because it is not approved (export --approved-only)
    withheld: bool = False
    #: a regenerated version awaiting review beside the current one (its number)
    proposal_version: int | None = None


@dataclass(frozen=True)
class Catalog:
    organization: orgs.Organization
    entries: list[Entry]
    generated_at: datetime
    #: every object the lineage pictures may draw (the org's objects) and its upstream ids
    graph_nodes: dict[UUID, Link] = field(default_factory=dict)
    graph_upstream: dict[UUID, list[UUID]] = field(default_factory=dict)

    @property
    def documented(self) -> list[Entry]:
        return [e for e in self.entries if e.doc is not None]


def slugify(name: str) -> str:
    """A file-name-safe form of an object name: lowercase letters, digits, `_` and `-`."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:80].strip("-_")
    return slug or "object"


def assign_slugs(items: list[DataObject]) -> dict[UUID, str]:
    """One unique slug per object; names that collide (also case-insensitively, or with a
    reserved page name) all get a short id suffix, so no page depends on the order."""
    base = {o.id: slugify(o.name) for o in items}
    counts: dict[str, int] = {}
    for slug in base.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {
        object_id: (
            f"{slug}-{object_id.hex[:8]}" if counts[slug] > 1 or slug in _RESERVED_SLUGS else slug
        )
        for object_id, slug in base.items()
    }


def load_catalog(
    conn: Connection,
    organization_ref: str | UUID,
    select: list[str] | None = None,
    *,
    approved_only: bool = False,
) -> Catalog:
    """The organization's objects (not removed; filtered by name globs when `select` is
    given), each with its current documentation and its lineage links. `approved_only`
    leaves out documentation whose current version a person has not approved."""
    organization = orgs.get_organization(conn, organization_ref)
    everything = objects.list_objects(conn, organization.id)
    chosen = [
        o
        for o in everything
        if not select
        or any(
            fnmatch.fnmatchcase(o.name, p) or fnmatch.fnmatchcase(o.unique_key, p) for p in select
        )
    ]
    if not chosen:
        what = "matches the selection" if select else "exists"
        raise InvalidInput(
            f"no object of organization {organization.name} {what}; nothing to export"
        )
    slugs = assign_slugs(chosen)
    docs = documentation.current_for_objects(conn, [o.id for o in chosen])
    known = {o.id: o for o in everything}
    missing = {u for o in chosen for u in o.upstream_object_ids if u not in known}
    if missing:  # removed objects still named as upstreams: shown, not linked
        known.update(objects.get_objects(conn, list(missing)))

    def link(object_id: UUID) -> Link | None:
        neighbour = known.get(object_id)
        if neighbour is None:
            return None
        return Link(object_id, neighbour.name, neighbour.object_type, slugs.get(object_id))

    downstream: dict[UUID, list[UUID]] = {}
    for o in everything:
        for upstream_id in o.upstream_object_ids:
            downstream.setdefault(upstream_id, []).append(o.id)
    proposals = _proposal_versions(conn, [o.id for o in chosen])
    entries = []
    for o in chosen:
        ups = [lk for u in dict.fromkeys(o.upstream_object_ids) if (lk := link(u))]
        downs = [lk for d in downstream.get(o.id, []) if (lk := link(d))]
        doc = docs.get(o.id)
        withheld = approved_only and doc is not None and doc.review_state != "approved"
        entries.append(
            Entry(
                obj=o,
                doc=None if withheld else doc,
                slug=slugs[o.id],
                upstream=sorted(ups, key=lambda lk: lk.name),
                downstream=sorted(downs, key=lambda lk: lk.name),
                withheld=withheld,
                proposal_version=proposals.get(o.id),
            )
        )
    graph_nodes = {object_id: lk for object_id in known if (lk := link(object_id))}
    graph_upstream = {o.id: [u for u in o.upstream_object_ids if u in known] for o in everything}
    return Catalog(organization, entries, datetime.now(UTC), graph_nodes, graph_upstream)


def _proposal_versions(conn: Connection, object_ids: list[UUID]) -> dict[UUID, int]:
    rows = conn.execute(
        sa.text(
            "SELECT object_id, max(version) AS version FROM metadata.object_documentation"
            " WHERE object_id = ANY(:ids) AND review_state = 'proposed' GROUP BY object_id"
        ),
        {"ids": object_ids},
    )
    return {r.object_id: r.version for r in rows}


def object_lineage(conn: Connection, obj: DataObject) -> tuple[list[Link], list[Link]]:
    """One object's upstream and downstream neighbours (same organization, downstream ones
    not removed), sorted by name, without pages to link to (for a Prefect artifact)."""
    upstream = objects.get_objects(conn, list(dict.fromkeys(obj.upstream_object_ids)))
    rows = conn.execute(
        sa.text(
            "SELECT id, name, object_type FROM metadata.objects"
            " WHERE organization_id = :o AND upstream_object_ids @> ARRAY[CAST(:i AS uuid)]"
            " AND removed_at IS NULL AND id <> :i"
        ),
        {"o": obj.organization_id, "i": obj.id},
    )
    ups = [
        Link(o.id, o.name, o.object_type, None)
        for o in upstream.values()
        if o.organization_id == obj.organization_id
    ]
    downs = [Link(r.id, r.name, r.object_type, None) for r in rows]
    return sorted(ups, key=lambda lk: lk.name), sorted(downs, key=lambda lk: lk.name)


def _parse_uuid(ref: str) -> UUID | None:
    try:
        return UUID(ref.strip())
    except ValueError:
        return None


def resolve_object(conn: Connection, ref: str, organization_ref: str | None = None) -> DataObject:
    """OBJECT as a user types it: an id, or (with an organization) a name or unique key."""
    organization = orgs.get_organization(conn, organization_ref) if organization_ref else None
    object_id = _parse_uuid(ref)
    if object_id is not None:
        obj = objects.get_object(conn, object_id)
        if organization is not None and obj.organization_id != organization.id:
            raise PermissionDenied(
                f"object {ref} does not belong to organization {organization.name}"
            )
        return obj
    if organization is None:
        raise InvalidInput(f"{ref!r} is not an object id; give --org ORG to look it up by name")
    everything = objects.list_objects(conn, organization.id, include_removed=True)
    for attribute in ("unique_key", "name"):
        found = [o for o in everything if getattr(o, attribute) == ref.strip()]
        current = [o for o in found if o.removed_at is None] or found
        if len(current) == 1:
            return current[0]
        if len(current) > 1:
            keys = ", ".join(sorted(o.unique_key for o in current))
            raise InvalidInput(
                f"{ref!r} names {len(current)} objects ({keys}); give the unique key"
            )
    raise NotFound(f"unknown object {ref!r} in organization {organization.name}")


# --- facts shown beside a version ----------------------------------------------------------


@dataclass(frozen=True)
class VersionFacts:
    """A version's provenance, formatted for people."""

    version: int
    is_current: bool
    model: str
    prompt_version: str
    tokens: str
    cost: str
    generated_at: str
    complexity: str
    failed_layers: list[str]
    review: str = ""


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def format_cost(value: Any) -> str:
    amount = _decimal(value)
    if amount is None:
        return "unknown"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def format_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def complexity_label(score: int | None) -> str:
    if score is None:
        return "not scored"
    return f"{score}/5 ({COMPLEXITY_LABELS.get(score, '?')})"


def version_facts(doc: Documentation) -> VersionFacts:
    meta = doc.generation_metadata or {}
    tokens = meta.get("tokens") or {}
    total = tokens.get("total") if isinstance(tokens, dict) else None
    if isinstance(tokens, dict) and total is None and tokens:
        total = int(tokens.get("prompt") or 0) + int(tokens.get("completion") or 0)
    token_text = "unknown"
    if isinstance(total, int):
        token_text = f"{total:,}"
        if isinstance(tokens, dict) and "prompt" in tokens and "completion" in tokens:
            token_text += f" ({tokens['prompt']:,} prompt + {tokens['completion']:,} completion)"
    failed = meta.get("failed_layers") or []
    return VersionFacts(
        version=doc.version,
        is_current=doc.is_current,
        model=str(doc.generated_by_model or meta.get("model") or "unknown"),
        prompt_version=str(meta.get("prompt_version") or "unknown"),
        tokens=token_text,
        cost=format_cost(meta.get("cost_usd")),
        generated_at=format_date(doc.created_at),
        complexity=complexity_label(doc.complexity_score),
        failed_layers=[str(x) for x in failed] if isinstance(failed, list) else [],
        review=review_line(doc),
    )


def review_line(doc: Documentation) -> str:
    """The version's review state in one line for people."""
    when = f" on {format_date(doc.reviewed_at)}" if doc.reviewed_at else ""
    if doc.review_state == "approved":
        text = f"Approved by {doc.reviewed_by or 'a reviewer'}{when}"
    elif doc.review_state == "rejected":
        text = f"Rejected by {doc.reviewed_by or 'a reviewer'}{when}: {doc.review_reason}"
    elif doc.review_state in ("proposed", "superseded"):
        text = f"Proposal awaiting review (beside version {doc.proposed_for})"
        if doc.review_state == "superseded":
            text = "Proposal replaced by a newer one"
    else:
        approved = [k for k, v in doc.layer_reviews.items() if v.get("state") == "approved"]
        text = "Draft: not reviewed yet"
        if approved:
            text = f"Draft; approved parts: {', '.join(approved)}"
    if doc.edited_layers:
        text += f". Edited by a person: {', '.join(doc.edited_layers)}"
    return text
