"""`docgen estimate`: tokens and USD per object and in total, before anything runs."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from rich.table import Table
from rich.text import Text

from docgen.cli._common import engine, err, out
from docgen.cli.options import ALL, AS_JSON, OBJECTS, ORG, SELECT, selection_from
from docgen.db import orgs
from docgen.db.engine import transaction


def print_pricing_note(settings: orgs.OrgLLMSettings) -> None:
    """Say so when the organization's model has no price (estimated at gpt-4o prices)."""
    from docgen.pricing import pricing_note

    if note := pricing_note(settings):
        err.print(f"note: {note}", markup=False)


def estimate_command(
    org: str = ORG,
    objects: list[str] | None = OBJECTS,
    select: list[str] | None = SELECT,
    all_: bool = ALL,
    as_json: bool = AS_JSON,
) -> None:
    """Tokens and USD per object and in total, before anything runs."""
    from docgen.db.objects import resolve_selection
    from docgen.jobs import estimate_objects

    selection = selection_from(objects, select, all_)
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.get_llm_settings(conn, organization.id)
        ids = resolve_selection(conn, organization.id, selection)
        estimates = estimate_objects(conn, organization.id, ids)
    model = "offline" if settings.provider == "offline" else settings.model
    print_pricing_note(settings)
    total_tokens = sum(e.total_tokens for e in estimates)
    total_cost = sum((e.cost_usd for e in estimates), Decimal(0))
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "model": model,
                    "objects": [
                        {
                            "object_id": str(e.object_id),
                            "name": e.name,
                            "prompt_tokens": e.prompt_tokens,
                            "completion_tokens": e.completion_tokens,
                            "cached_tokens": e.cached_tokens,
                            "cost_usd": str(e.cost_usd),
                        }
                        for e in estimates
                    ],
                    "total_tokens": total_tokens,
                    "total_cost_usd": str(total_cost),
                }
            )
            + "\n"
        )
        return
    table = Table(
        "object",
        "prompt tokens",
        "of which cached",
        "completion tokens",
        "USD",
        title=f"Estimate with {model}",
        caption=f"{total_tokens:,} tokens in total",
    )
    for e in estimates:
        table.add_row(
            e.name,
            f"{e.prompt_tokens:,}",
            f"{e.cached_tokens:,}",
            f"{e.completion_tokens:,}",
            f"{e.cost_usd:.4f}",
        )
    bold = "bold"
    table.add_section()
    table.add_row(
        Text("total", style=bold),
        Text(f"{sum(e.prompt_tokens for e in estimates):,}", style=bold),
        Text(f"{sum(e.cached_tokens for e in estimates):,}", style=bold),
        Text(f"{sum(e.completion_tokens for e in estimates):,}", style=bold),
        Text(f"{total_cost:.4f}", style=bold),
    )
    out.print(table)
