"""What the Prefect UI's run forms accept: parameter types the Prefect server validates.

A deployment's form is the JSON schema of its flow's parameters (Prefect titles each field
with the parameter's name and takes its description from the flow docstring's Args). With
`enforce_parameter_schema` (on for every docgen deployment) the Prefect server checks a new
run's parameters against that schema and refuses the run (HTTP 409, the UI's form shows the
error under the field) before any flow run exists. So what must be refused before Prefect
stores it goes here, as JSON schema the server understands: `required`, `minLength`,
`minItems`, `pattern`, `format: uuid`, `const`, and unions (`anyOf`) the UI renders as a
choice between sub-forms.

- `JobSelection`: which objects a new job covers; one of three shapes, none of them empty.
- `OrganizationRef`, `UserRef`: an organization by name or id, a user by email or id.
- `IngestSource`: a path, env:VARIABLE, secret:BLOCK or a database URL without password.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from docgen.db.objects import Selection
from docgen.jobs import JobOptions

#: at least one character that is not white space
NOT_BLANK = r"\S"

#: the server does not check `format: uuid` (no format assertion), so ids carry a pattern
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"

#: a UUID the Prefect server checks
Id = Annotated[UUID, WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})]


class ObjectsByName(BaseModel):
    """Objects whose name (or unique key) matches one of the patterns."""

    model_config = ConfigDict(title="Objects by name", extra="forbid")

    select: list[Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]] = Field(
        min_length=1,
        title="Name patterns",
        description="One or more name patterns: fct_orders, fct_* or marts.* "
        "(* matches any characters). An object is included when its name or unique key "
        "matches any of them.",
    )


class ObjectsById(BaseModel):
    """Objects listed by id."""

    model_config = ConfigDict(title="Objects by id", extra="forbid")

    object_ids: list[Id] = Field(
        min_length=1,
        title="Object ids",
        description="One or more object ids, as docgen objects list --org ORG prints them.",
    )


class AllObjects(BaseModel):
    """Every current object of the organization."""

    model_config = ConfigDict(title="Every object", extra="forbid")

    # required, so `{}` selects nothing; the schema's default (not pydantic's) lets the
    # UI fill it in when this choice is picked (it shows a const as a locked switch)
    all: Literal[True] = Field(
        title="Every object",
        description="Every current object of the organization (docgen estimate --org ORG "
        "--all tells the cost first).",
        json_schema_extra={"default": True},
    )


#: a new job's objects: the UI shows a choice of the three, each with its own field
JobSelection = ObjectsByName | ObjectsById | AllObjects


def to_selection(selection: JobSelection) -> Selection:
    """The core Selection for one of the form's shapes."""
    if isinstance(selection, ObjectsByName):
        return Selection(select=[p.strip() for p in selection.select])
    if isinstance(selection, ObjectsById):
        return Selection(object_ids=selection.object_ids)
    return Selection(all=True)


def describe_selection(selection: JobSelection | dict[str, object] | None) -> str:
    """A few words for a run name: `fct_*, dim_*`, `3 objects`, `all objects`."""
    data = selection.model_dump() if isinstance(selection, BaseModel) else dict(selection or {})
    patterns = [str(p) for p in data.get("select") or []]  # type: ignore[attr-defined]
    if patterns:
        text = ", ".join(patterns[:3]) + (f" +{len(patterns) - 3}" if len(patterns) > 3 else "")
        return text
    ids = data.get("object_ids") or []
    if ids:
        count = len(ids)  # type: ignore[arg-type]
        return f"{count} object{'s' if count != 1 else ''}"
    if data.get("all"):
        return "all objects"
    return "no selection"


#: an organization by name or id (the flow's docstring gives the form's description)
OrganizationRef = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]

#: a user by email or id
UserRef = Annotated[str, Field(min_length=1, max_length=320, pattern=NOT_BLANK)]

#: refuses `scheme://user:password@...` and a `password=` query parameter; everything
#: else (paths, env:VARIABLE, secret:BLOCK, URLs without password) passes. Python's `re`
#: (the Prefect server's validator) and JavaScript read it the same way.
NO_PASSWORD_PATTERN = r"^(?![A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^/?#@]*@)(?!.*[?&]password=)"

#: ingest's source: anything but a URL that carries a password. The pattern is in the JSON
#: schema only (pydantic's default regex engine has no lookahead): the server checks it for
#: deployment runs; a direct call of the flow gets the flow's own one-line check.
IngestSource = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": NO_PASSWORD_PATTERN})
]


def has_password(source: str) -> bool:
    """True when `source` is a URL carrying a password (what NO_PASSWORD_PATTERN refuses)."""
    return re.match(NO_PASSWORD_PATTERN, source) is None


#: job options written out in the form's schema instead of a `$ref`, so the deployment's
#: Parameters tab shows their type ("object") beside the default
JobOptionsForm = Annotated[JobOptions, WithJsonSchema(JobOptions.model_json_schema())]

#: a new job's objects, typed "object" for the Parameters tab (the choice stays an anyOf)
JobSelectionForm = Annotated[JobSelection, Field(json_schema_extra={"type": "object"})]
