"""Pure pieces of docgen.render.data: page slugs and the provenance shown beside a version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from docgen.db.documentation import Documentation
from docgen.db.objects import DataObject
from docgen.render.data import assign_slugs, format_cost, slugify, version_facts


def obj(name: str) -> DataObject:
    return DataObject(
        id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        object_type="view",
        name=name,
        unique_key=name,
        content_hash="",
    )


def test_slugs_are_file_safe_and_unique() -> None:
    assert slugify("Sales / EU <2024>") == "sales-eu-2024"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("***") == "object"
    a, b, c, index = obj("Orders"), obj("orders"), obj("customers"), obj("index")
    slugs = assign_slugs([a, b, c, index])
    assert slugs[c.id] == "customers"
    assert slugs[a.id] == f"orders-{a.id.hex[:8]}" and slugs[b.id] == f"orders-{b.id.hex[:8]}"
    assert slugs[index.id] == f"index-{index.id.hex[:8]}"  # never overwrites index.html
    assert len(set(slugs.values())) == 4


def test_version_facts_from_generation_metadata() -> None:
    now = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    doc = Documentation(
        id=uuid.uuid4(),
        object_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        version=3,
        is_current=False,
        generation_status="completed",
        generated_by_model="gpt-4o-mini",
        complexity_score=5,
        generation_metadata={
            "prompt_version": "2025-03-a",
            "tokens": {"prompt": 5000, "completion": 1234},
            "cost_usd": "1.5",
            "failed_layers": ["business_rules"],
        },
        created_at=now,
        updated_at=now,
    )
    facts = version_facts(doc)
    assert facts.tokens == "6,234 (5,000 prompt + 1,234 completion)"
    assert facts.cost == "$1.50" and facts.generated_at == "2025-03-04 05:06 UTC"
    assert facts.complexity == "5/5 (Very complex)" and facts.failed_layers == ["business_rules"]
    empty = version_facts(
        doc.model_copy(update={"generation_metadata": {}, "complexity_score": None})
    )
    assert (empty.tokens, empty.cost, empty.prompt_version) == ("unknown", "unknown", "unknown")
    assert empty.complexity == "not scored"
    assert format_cost("0.05") == "$0.0500" and format_cost("n/a") == "unknown"
