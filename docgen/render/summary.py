"""A job's summaries: per layer (how many completed or failed, tokens, cost) and per object
(status, tokens, cost, duration).

`job_layer_summary()` reads the job's layer logs (one row per layer per object run) and
prices each model's usage with the pricing table; `summary_frame()` turns the rows into the
pandas DataFrame shown as the job's table artifact, with a total row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.layers import LAYER_NAMES
from docgen.pricing import PricingTable, Usage, load_pricing, org_pricing

#: cost and total tokens first: the Prefect UI's table cuts off what passes its width
COLUMNS = (
    "layer",
    "completed",
    "failed",
    "cost_usd",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
)
_COUNTS = tuple(c for c in COLUMNS if c not in ("layer", "cost_usd"))


@dataclass(frozen=True)
class LayerSummaryRow:
    layer: str
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def job_layer_summary(
    conn: Connection, job_id: UUID, pricing: PricingTable | None = None
) -> list[LayerSummaryRow]:
    """One row per layer, in the brief's order, from the job's layer logs."""
    if pricing is None:  # the organization's own price for its model, when it set one
        from docgen.db import orgs

        organization_id = conn.execute(
            sa.text("SELECT organization_id FROM metadata.documentation_jobs WHERE id = :j"),
            {"j": job_id},
        ).scalar()
        pricing = load_pricing()
        if organization_id is not None:
            pricing = org_pricing(orgs.get_llm_settings(conn, organization_id), pricing)
    rows = conn.execute(
        sa.text(
            "SELECT l.layer, coalesce(l.model_used, j.model_name) AS model,"
            " count(*) FILTER (WHERE l.status = 'completed') AS completed,"
            " count(*) FILTER (WHERE l.status = 'failed') AS failed,"
            " coalesce(sum(l.prompt_tokens), 0) AS prompt,"
            " coalesce(sum(l.completion_tokens), 0) AS completion,"
            " coalesce(sum(l.cached_tokens), 0) AS cached"
            " FROM metadata.documentation_generation_logs AS l"
            " JOIN metadata.documentation_jobs AS j ON j.id = l.job_id"
            " WHERE l.job_id = :j GROUP BY l.layer, 2"
        ),
        {"j": job_id},
    )
    totals: dict[str, LayerSummaryRow] = {name: LayerSummaryRow(name) for name in LAYER_NAMES}
    for r in rows:
        usage = Usage(int(r.prompt), int(r.completion), int(r.cached))
        before = totals[r.layer]
        totals[r.layer] = LayerSummaryRow(
            r.layer,
            before.completed + int(r.completed),
            before.failed + int(r.failed),
            before.prompt_tokens + usage.prompt_tokens,
            before.completion_tokens + usage.completion_tokens,
            before.cost_usd + pricing.cost(r.model, usage),
        )
    return list(totals.values())


def _as_dict(row: LayerSummaryRow | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(row, LayerSummaryRow):
        return {**asdict(row), "total_tokens": row.total_tokens}
    data = dict(row)
    data.setdefault(
        "total_tokens", int(data.get("prompt_tokens", 0)) + int(data.get("completion_tokens", 0))
    )
    return data


def summary_frame(rows: Iterable[LayerSummaryRow | Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame (columns COLUMNS, cost as float USD) plus a `total` row."""
    records = [_as_dict(r) for r in rows]
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for column in _COUNTS:
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["cost_usd"] = frame["cost_usd"].map(lambda v: round(float(v or 0), 6))
    total: dict[str, Any] = {c: frame[c].sum() for c in COLUMNS[1:]}
    total["cost_usd"] = round(float(total["cost_usd"]), 6)
    frame.loc[len(frame)] = {"layer": "total", **total}
    return frame


# --- per object -----------------------------------------------------------------------------

OBJECT_COLUMNS = ("object", "status", "tokens", "cost_usd", "duration_s", "error")


@dataclass(frozen=True)
class ObjectSummaryRow:
    """One object of a job: its status there, tokens and cost spent, and how long it took
    (from claim to finish; empty while not finished)."""

    object: str
    status: str
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    duration_s: float | None = None
    error: str = ""


def job_object_summary(conn: Connection, job_id: UUID) -> list[ObjectSummaryRow]:
    """One row per object of the job, in the job's order."""
    rows = conn.execute(
        sa.text(
            "SELECT o.name, jo.status, jo.tokens_used, jo.cost,"
            " extract(epoch FROM jo.finished_at - jo.started_at) AS seconds,"
            " coalesce(jo.error_message, '') AS error"
            " FROM metadata.documentation_job_objects AS jo"
            " JOIN metadata.objects AS o ON o.id = jo.object_id"
            " WHERE jo.job_id = :j ORDER BY jo.position"
        ),
        {"j": job_id},
    )
    return [
        ObjectSummaryRow(
            r.name,
            r.status,
            int(r.tokens_used),
            Decimal(r.cost),
            None if r.seconds is None else round(float(r.seconds), 1),
            r.error,
        )
        for r in rows
    ]


def object_summary_frame(rows: Iterable[ObjectSummaryRow]) -> pd.DataFrame:
    """The rows as a DataFrame (columns OBJECT_COLUMNS, cost as float USD) plus a `total`
    row whose status counts the objects by status (no total duration: objects may run at
    the same time)."""
    records = [asdict(r) for r in rows]
    frame = pd.DataFrame.from_records(records, columns=list(OBJECT_COLUMNS))
    frame["tokens"] = frame["tokens"].fillna(0).astype("int64")
    frame["cost_usd"] = frame["cost_usd"].map(lambda v: round(float(v or 0), 6))
    counts = frame["status"].value_counts()
    frame.loc[len(frame)] = {
        "object": "total",
        "status": ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        "tokens": int(frame["tokens"].sum()),
        "cost_usd": round(float(frame["cost_usd"].sum()), 6),
        "duration_s": None,
        "error": "",
    }
    return frame
