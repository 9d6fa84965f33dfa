"""docgen's domain types: what an object, a selection and a documentation version are.

Plain pydantic models with no database, source or renderer behind them, so that sources
(which produce `Column`s and object types), renderers (which read `DataObject` and
`Documentation`) and the CLI can share them without importing `docgen.db`. The repositories
in `docgen.db` read and write rows of these shapes; `docgen.db.objects` and
`docgen.db.documentation` re-export them for older imports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

ObjectType = Literal["table", "view", "dbt_model", "cte", "dataframe"]
OBJECT_TYPES: tuple[ObjectType, ...] = ("table", "view", "dbt_model", "cte", "dataframe")


class Column(BaseModel):
    name: str
    data_type: str | None = None
    description: str | None = None


class DataObject(BaseModel):
    """One row of metadata.objects."""

    id: UUID
    organization_id: UUID
    object_type: ObjectType
    name: str
    unique_key: str
    code: str = ""
    compiled_code: str | None = None
    language: Literal["sql", "python"] = "sql"
    dialect: str | None = None
    columns: list[Column] = Field(default_factory=list)
    upstream_object_ids: list[UUID] = Field(default_factory=list)
    source_path: str | None = None
    source_kind: str | None = None
    database_name: str | None = None
    schema_name: str | None = None
    description: str | None = None
    materialization: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    content_hash: str
    removed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def effective_code(self) -> str:
        """The code the LLM should read: compiled SQL when known, else the source."""
        return self.compiled_code or self.code


class Selection(BaseModel):
    """Which objects a job covers: explicit ids, name globs, or all (not removed) objects."""

    object_ids: list[UUID] = Field(default_factory=list, description="Object ids to document.")
    select: list[str] = Field(
        default_factory=list, description="Glob patterns on object names, e.g. 'fct_*'."
    )
    all: bool = Field(
        default=False,
        description="Every current object of the organization, except models disabled in "
        "their dbt project (choose those by id or --select).",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Selection:
        if not (self.object_ids or self.select or self.all):
            raise ValueError("give --object ID, --select GLOB or --all")
        return self


LAYER_COLUMNS = (
    "executive_summary",
    "business_narrative",
    "transformation_cards",
    "code_explanations",
    "business_rules",
    "impact_analysis",
)
#: draft -> approved | rejected; proposed (beside a protected current version) -> approved
#: (made current) | rejected | superseded (a newer proposal replaced it)
REVIEW_STATES = ("draft", "approved", "rejected", "proposed", "superseded")


class Documentation(BaseModel):
    """One version of an object's documentation (layers as stored JSON)."""

    id: UUID
    object_id: UUID
    organization_id: UUID
    executive_summary: str | None = None
    business_narrative: dict[str, Any] | None = None
    transformation_cards: list[dict[str, Any]] = Field(default_factory=list)
    code_explanations: list[dict[str, Any]] = Field(default_factory=list)
    business_rules: list[dict[str, Any]] = Field(default_factory=list)
    impact_analysis: dict[str, Any] | None = None
    complexity_score: int | None = None
    version: int
    is_current: bool
    generation_status: str
    generated_by_model: str | None = None
    generation_metadata: dict[str, Any] = Field(default_factory=dict)
    job_id: UUID | None = None
    input_hash: str | None = None
    created_at: datetime
    updated_at: datetime
    # review (issue 19, sql/051): see docgen/review.py
    review_state: str = "draft"
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None
    layer_reviews: dict[str, Any] = Field(default_factory=dict)
    edited_layers: list[str] = Field(default_factory=list)
    proposed_for: int | None = None
    source_code: str | None = None

    def protected_layers(self) -> list[str]:
        """Layers a regeneration must not replace silently: all of an approved version, the
        ones a person edited, and the ones approved one by one."""
        if self.review_state == "approved":
            return list(LAYER_COLUMNS)
        approved = {k for k, v in self.layer_reviews.items() if v.get("state") == "approved"}
        return [c for c in LAYER_COLUMNS if c in approved or c in self.edited_layers]
