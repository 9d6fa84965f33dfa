"""Options shared by the commands that select objects or set job options (`docgen jobs
create|run`, `docgen run`, `docgen estimate`), and turning them into a Selection and
JobOptions with errors that name the flags users typed."""

from __future__ import annotations

from typing import Any

import typer

from docgen.cli._common import parse_uuid
from docgen.errors import InvalidInput
from docgen.model import Selection

ORG = typer.Option(..., "--org", help="Organization name or id.")
OBJECTS = typer.Option(None, "--object", help="Object id (repeatable).")
SELECT = typer.Option(None, "--select", help="Glob on object names, e.g. 'fct_*' (repeatable).")
ALL = typer.Option(False, "--all", help="Every object of the organization.")
SKIP = typer.Option(
    False,
    "--skip-existing",
    help="Skip objects already documented from the "
    "same code, upstream documentation, prompt version and model.",
)
REGENERATE = typer.Option(False, "--regenerate-all", help="Call the LLM again for every layer.")
RETRIES = typer.Option(3, "--max-retries", help="Retries per layer call.")
CONCURRENCY = typer.Option(1, "--concurrency", help="Objects at the same time (1 = sequential).")
MAX_COST = typer.Option(None, "--max-cost", help="Pause the job before spending more (USD).")
CONCURRENT_LAYERS = typer.Option(
    False, "--concurrent-layers", help="Generate an object's four non-critical layers together."
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")
MODE = typer.Option(
    "sync",
    "--mode",
    help="sync (answers at once) or batch (OpenAI Batch API: half the price, answers "
    "within 24 h; for nightly and large jobs).",
)


def selection_from(objects: list[str] | None, select: list[str] | None, all_: bool) -> Selection:
    if not (objects or select or all_):
        raise InvalidInput("choose objects with --object ID, --select GLOB or --all")
    return Selection(
        object_ids=[parse_uuid(o, "--object") for o in objects or []],
        select=list(select or []),
        all=all_,
    )


#: JobOptions fields as the flags users type, for error messages
FLAG_OF = {
    "skip_existing": "--skip-existing",
    "regenerate_all": "--regenerate-all",
    "max_retries": "--max-retries",
    "concurrency": "--concurrency",
    "max_cost_usd": "--max-cost",
    "concurrent_layers": "--concurrent-layers",
}


def options_from(**values: Any) -> Any:
    from pydantic import ValidationError

    from docgen.jobs import JobOptions

    try:
        return JobOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(FLAG_OF.get(str(p), str(p)) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        for field, flag in FLAG_OF.items():
            message = message.replace(field, flag)
        raise InvalidInput(f"{where}: {message}" if where else message) from None
