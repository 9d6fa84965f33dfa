"""The six documentation layers: pydantic models, their counts, and the response envelope.

Field names follow the brief (camelCase), because they are the stored JSON and the words the
LLM sees. OpenAI structured outputs need an object at the top, so the three list layers are
requested wrapped (`{"cards": [...]}`) and stored unwrapped (the column holds the list).

    layer                  stored as        count   critical
    executive_summary      text             2-3 sentences   yes
    business_narrative     object           -       yes
    transformation_cards   list of cards    3-7     no
    code_explanations      list             3-6     no
    business_rules         list             2-5     no
    impact_analysis        object           -       no
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal, cast

from openai.lib._parsing import type_to_response_format_param
from pydantic import BaseModel, ConfigDict, Field, field_validator

LayerName = Literal[
    "executive_summary",
    "business_narrative",
    "transformation_cards",
    "code_explanations",
    "business_rules",
    "impact_analysis",
]
LAYER_NAMES: tuple[LayerName, ...] = (
    "executive_summary",
    "business_narrative",
    "transformation_cards",
    "code_explanations",
    "business_rules",
    "impact_analysis",
)
CRITICAL_LAYERS: frozenset[str] = frozenset({"executive_summary", "business_narrative"})


def _no_titles(schema: dict[str, Any]) -> None:
    """Titles in a structured-output schema only cost prompt tokens (about 200 a call)."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_no_titles
    )


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class ExecutiveSummary(_Strict):
    """Layer 1: plain text, 2-3 sentences: what it calculates, why it matters, who uses it."""

    text: str = Field(min_length=20, max_length=1200)

    _check = field_validator("text")(_not_blank)


class BusinessNarrative(_Strict):
    """Layer 2: the story for business analysts."""

    whatItDoes: str = Field(description="2-3 sentences on what this data model does.")
    dataJourney: list[str] = Field(
        min_length=2, max_length=8, description="The steps the data goes through, in order."
    )
    businessImpact: str = Field(description="How it affects decisions.")


class TransformationCard(_Strict):
    stepNumber: int = Field(ge=1, le=20)
    title: str
    input: str
    logic: str
    output: str
    whyItMatters: str


class TransformationCards(_Strict):
    """Layer 3: 3-7 step-by-step transformation cards."""

    cards: list[TransformationCard] = Field(min_length=3, max_length=7)


class CodeExplanation(_Strict):
    codeBlock: str
    plainEnglish: str
    businessContext: str


class CodeExplanations(_Strict):
    """Layer 4: 3-6 pieces of code beside their plain-English meaning."""

    explanations: list[CodeExplanation] = Field(min_length=3, max_length=6)


class BusinessRule(_Strict):
    rule: str
    codeReference: str
    impact: str


class BusinessRules(_Strict):
    """Layer 5: 2-5 business rules found in the code."""

    rules: list[BusinessRule] = Field(min_length=2, max_length=5)


class UsedBy(_Strict):
    team: str
    frequency: str
    purpose: str


class ColumnNote(_Strict):
    name: str = Field(description="The output column's name, exactly as in the code.")
    description: str = Field(description="One plain sentence on what the column means.")


#: at most this many column descriptions per object (the most important ones beyond that);
#: `columns` is nullable so versions stored before it existed stay valid
MAX_COLUMN_NOTES = 40


class ImpactAnalysis(_Strict):
    """Layer 6: who uses it, what breaks without it, what each output column means."""

    usedBy: list[UsedBy] = Field(min_length=1, max_length=6)
    questionsAnswered: list[str] = Field(min_length=1, max_length=8)
    downstreamImpact: str
    columns: list[ColumnNote] | None = Field(default=None, max_length=MAX_COLUMN_NOTES)


@dataclass(frozen=True)
class LayerSpec:
    """How one layer is requested, validated and stored."""

    name: LayerName
    model: type[_Strict]
    #: key holding the list in the wrapped response (list layers), else None
    list_key: str | None
    critical: bool
    #: completion tokens the brief budgets for the layer (used for estimates)
    typical_completion_tokens: int
    #: max_completion_tokens sent to the provider (room above the typical size)
    max_completion_tokens: int
    is_json: bool = True

    def stored_value(self, parsed: BaseModel) -> Any:
        """The value kept in object_documentation's column for this layer."""
        if not self.is_json:
            return parsed.text  # type: ignore[attr-defined]
        data = parsed.model_dump(mode="json")
        return data[self.list_key] if self.list_key else data

    def empty_value(self) -> Any:
        """What a failed non-critical layer degrades to."""
        return [] if self.list_key else None

    def validate_stored(self, value: Any) -> BaseModel:
        """Re-validate a stored value against the layer's model (for tests and exports)."""
        if not self.is_json:
            return self.model.model_validate({"text": value})
        wrapped = {self.list_key: value} if self.list_key else value
        return self.model.model_validate(wrapped)


LAYERS: dict[LayerName, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec("executive_summary", ExecutiveSummary, None, True, 100, 400, is_json=False),
        LayerSpec("business_narrative", BusinessNarrative, None, True, 300, 900),
        LayerSpec("transformation_cards", TransformationCards, "cards", False, 500, 1500),
        LayerSpec("code_explanations", CodeExplanations, "explanations", False, 600, 1500),
        LayerSpec("business_rules", BusinessRules, "rules", False, 200, 800),
        LayerSpec("impact_analysis", ImpactAnalysis, None, False, 450, 1800),
    )
}


# --- the response envelope -----------------------------------------------------------------
# One schema for all six calls of an object. OpenAI places a structured-output schema in
# front of the system message, so per-layer schemas would give each call a different prefix
# and defeat prompt caching; with one envelope the six calls share schema, system message and
# context, and differ only in the last message (which key to fill).

#: completion tokens the five null keys of the envelope add to every answer
ENVELOPE_OVERHEAD_TOKENS = 30

#: envelope key -> layer
ENVELOPE_KEYS: dict[LayerName, str] = {
    "executive_summary": "executiveSummary",
    "business_narrative": "businessNarrative",
    "transformation_cards": "transformationCards",
    "code_explanations": "codeExplanations",
    "business_rules": "businessRules",
    "impact_analysis": "impactAnalysis",
}


class LayerEnvelope(_Strict):
    """The JSON object every layer call returns: the requested key filled, the others null."""

    executiveSummary: str | None
    businessNarrative: BusinessNarrative | None
    transformationCards: (
        Annotated[list[TransformationCard], Field(min_length=3, max_length=7)] | None
    )
    codeExplanations: Annotated[list[CodeExplanation], Field(min_length=3, max_length=6)] | None
    businessRules: Annotated[list[BusinessRule], Field(min_length=2, max_length=5)] | None
    impactAnalysis: ImpactAnalysis | None


#: the json_schema name the SDK gives the envelope (the model's class name)
ENVELOPE_SCHEMA_NAME = LayerEnvelope.__name__


@lru_cache(maxsize=1)
def envelope_response_format() -> dict[str, Any]:
    """The `response_format` that `client.chat.completions.parse(response_format=LayerEnvelope)`
    sends: the openai SDK turns the model into the strict JSON schema (every object closed,
    every property required). Built once; treat it as read-only. Request bodies the SDK does
    not send itself (Batch API files) carry this same dict."""
    return cast(dict[str, Any], type_to_response_format_param(LayerEnvelope))


def envelope_schema() -> dict[str, Any]:
    """The envelope's strict JSON schema (see envelope_response_format)."""
    return cast(dict[str, Any], envelope_response_format()["json_schema"]["schema"])


def parse_layer(layer: LayerName, data: Any) -> BaseModel:
    """Validate the requested layer out of a decoded envelope (raises pydantic's
    ValidationError or ValueError naming what is wrong)."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    key = ENVELOPE_KEYS[layer]
    value = data.get(key)
    if value is None:
        raise ValueError(f"the answer has no {key!r}")
    spec = LAYERS[layer]
    if not spec.is_json:
        if not isinstance(value, str):
            raise ValueError(f"{key!r} is not a string")
        return spec.model.model_validate({"text": value})
    return spec.model.model_validate({spec.list_key: value} if spec.list_key else value)
