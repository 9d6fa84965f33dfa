"""Prompts: one module per layer, built by pure functions, versioned by their own text.

Every call sends three messages: the system message (rules and output contract, the same
for everything), the object's context (code, columns, neighbours: the same for the object's
six calls) and the layer's instruction (last). With the single response schema of
`docgen.layers.LayerEnvelope`, the six calls of one object share everything but the last
message, which is what OpenAI's prompt caching reuses.

PROMPT_VERSION changes whenever any prompt text or the response schema changes (it ends in
a hash of them), so nightly re-documentation notices prompt changes without anyone having
to remember to bump a number.
"""

from __future__ import annotations

import hashlib
import json
from types import ModuleType

from docgen.context import ObjectContext
from docgen.layers import LayerName, envelope_schema
from docgen.prompts import (
    business_narrative,
    business_rules,
    code_explanations,
    executive_summary,
    impact_analysis,
    transformation_cards,
)
from docgen.prompts.context import render_context
from docgen.prompts.system import SYSTEM_PROMPT
from docgen.style import style_rules

LAYER_PROMPTS: dict[LayerName, ModuleType] = {
    "executive_summary": executive_summary,
    "business_narrative": business_narrative,
    "transformation_cards": transformation_cards,
    "code_explanations": code_explanations,
    "business_rules": business_rules,
    "impact_analysis": impact_analysis,
}

#: bump by hand for a deliberate rewrite; the hash part changes on any edit anyway
PROMPT_SERIES = "2026.11"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(SYSTEM_PROMPT.encode())
    for name, module in LAYER_PROMPTS.items():
        digest.update(f"\n{name}:{module.KEY}\n{module.INSTRUCTION}".encode())
    digest.update(json.dumps(envelope_schema(), sort_keys=True).encode())
    return digest.hexdigest()[:10]


PROMPT_VERSION = f"{PROMPT_SERIES}-{_fingerprint()}"


def layer_instruction(layer: LayerName) -> str:
    return str(LAYER_PROMPTS[layer].INSTRUCTION)


def system_message(ctx: ObjectContext) -> str:
    """The system prompt plus the organization's house-style rules (the same for all of the
    organization's objects, so the shared prefix still caches)."""
    return SYSTEM_PROMPT + style_rules(ctx.style)


def build_messages(ctx: ObjectContext, layer: LayerName) -> list[dict[str, str]]:
    """The three chat messages for one layer of one object (context first, instruction last)."""
    return [
        {"role": "system", "content": system_message(ctx)},
        {"role": "user", "content": render_context(ctx)},
        {"role": "user", "content": layer_instruction(layer)},
    ]


def context_hash(ctx: ObjectContext, model: str) -> str:
    """Hash of everything a documentation version is made from: the rendered context (code,
    columns, upstream documentation, glossary terms it mentions), the prompt version, the
    house-style rules and the model."""
    digest = hashlib.sha256()
    parts = [PROMPT_VERSION, model, render_context(ctx)]
    if rules := style_rules(ctx.style):
        parts.append(rules)  # no style: the same hash as before house styles existed
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


__all__ = [
    "LAYER_PROMPTS",
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "build_messages",
    "context_hash",
    "layer_instruction",
    "render_context",
    "system_message",
]
