"""`docgen docs history | diff | rollback | show` across two versions of one object: the diff
is layer by layer, rollback makes the old version current and keeps both, and exactly one
row is current afterwards."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.render.diff import structured_diff, text_diff
from tests.conftest import OrgFixture, make_org
from tests.docs_factory import dbt_object, document, layers, metadata
from tests.factories import one_line_error

V1_SUMMARY = "Orders gives finance one row per order. It counts completed orders only."
V2_SUMMARY = "Orders gives finance one row per order. It now counts refunded orders too."


def version_two(values: dict[str, Any]) -> dict[str, Any]:
    changed = json.loads(json.dumps(values))
    changed["executive_summary"] = V2_SUMMARY
    changed["transformation_cards"][1]["logic"] = "Keep completed and refunded orders"
    changed["business_rules"].append(
        {
            "rule": "Refunds count as negative revenue",
            "codeReference": "amount < 0",
            "impact": "Net revenue",
        }
    )
    changed["impact_analysis"]["usedBy"][0]["frequency"] = "hourly"
    return changed


@pytest.fixture
def versioned(engine: Engine) -> tuple[OrgFixture, uuid.UUID]:
    org = make_org(engine, "versions")
    obj = dbt_object(engine, org, "orders")
    first = layers("orders", summary=V1_SUMMARY)
    document(engine, org, obj.id, first, complexity=2, meta=metadata(prompt_version="p1"))
    document(
        engine, org, obj.id, version_two(first), complexity=3, meta=metadata(prompt_version="p2")
    )
    return org, obj.id


def current_rows(engine: Engine, object_id: uuid.UUID) -> list[tuple[int, bool]]:
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT version, is_current FROM metadata.object_documentation"
                " WHERE object_id = :o ORDER BY version"
            ),
            {"o": object_id},
        )
        return [(r.version, r.is_current) for r in rows]


def test_history_diff_and_rollback(cli, engine: Engine, versioned) -> None:  # type: ignore[no-untyped-def]
    org, object_id = versioned
    history = cli("docs", "history", "orders", "--org", org.name)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  v1 ") and "prompt p1" in lines[0] and "complexity 2/5" in lines[0]
    assert lines[1].startswith("* v2 ") and "prompt p2" in lines[1] and "$0.0520" in lines[1]

    diff = cli("docs", "diff", "orders", "--org", org.name)  # default: previous vs current
    assert diff.returncode == 0, diff.stderr
    text = diff.stdout
    assert "--- version 1\n+++ version 2\n" in text
    assert "executive_summary\n  " in text
    assert "  - It counts completed orders only.\n  + It now counts refunded orders too.\n" in text
    assert (
        "  - #2.logic: Keep completed orders\n  + #2.logic: Keep completed and refunded orders\n"
        in text
    )
    assert "  + #3.rule: Refunds count as negative revenue\n" in text
    assert "  - usedBy#1.frequency: daily\n  + usedBy#1.frequency: hourly\n" in text
    assert "business_narrative (unchanged)" in text and "code_explanations (unchanged)" in text
    assert "  - prompt version: p1\n  + prompt version: p2\n" in text
    assert "  - complexity: 2/5 (Simple)\n  + complexity: 3/5 (Moderate)\n" in text

    as_json = cli("docs", "diff", str(object_id), "1", "2", "--json")
    data = json.loads(as_json.stdout)
    assert data["changed_layers"] == [
        "executive_summary",
        "transformation_cards",
        "business_rules",
        "impact_analysis",
    ]

    rolled = cli("docs", "rollback", "orders", "1", "--org", org.name)
    assert rolled.returncode == 0, rolled.stderr
    assert "orders: version 1 is current (was v2)" in rolled.stderr
    assert current_rows(engine, object_id) == [(1, True), (2, False)]  # history kept, one current
    after = cli("docs", "history", str(object_id))
    assert [line[:4] for line in after.stdout.splitlines()] == ["* v1", "  v2"]
    shown = cli("docs", "show", str(object_id))
    assert (
        shown.returncode == 0
        and V1_SUMMARY in shown.stdout
        and "version: 1 (current)" in shown.stdout
    )

    back = cli("docs", "diff", str(object_id))  # current is v1 now: compared with v2
    assert "--- version 2\n+++ version 1\n" in back.stdout
    assert (
        "  - It now counts refunded orders too.\n  + It counts completed orders only.\n"
        in back.stdout
    )

    again = cli("docs", "rollback", str(object_id), "2")
    assert again.returncode == 0
    assert current_rows(engine, object_id) == [(1, False), (2, True)]
    same = cli("docs", "rollback", str(object_id), "2")  # already current: no change
    assert same.returncode == 0 and "was" not in same.stderr
    assert current_rows(engine, object_id) == [(1, False), (2, True)]


def test_bad_input_is_one_line(cli, engine: Engine, versioned) -> None:  # type: ignore[no-untyped-def]
    org, object_id = versioned
    assert "has no documentation version 7" in one_line_error(
        cli("docs", "rollback", str(object_id), "7"), 1
    )
    assert current_rows(engine, object_id) == [(1, False), (2, True)]  # untouched
    assert "unknown object 'nope'" in one_line_error(
        cli("docs", "history", "nope", "--org", org.name), 1
    )
    assert "give --org ORG" in one_line_error(cli("docs", "history", "orders"), 2)
    assert f"unknown object {uuid.UUID(int=0)}" in one_line_error(
        cli("docs", "diff", str(uuid.UUID(int=0))), 1
    )
    assert "has no documentation version 9" in one_line_error(
        cli("docs", "diff", str(object_id), "1", "9"), 1
    )
    other = make_org(engine, "other")
    assert "does not belong to organization" in one_line_error(
        cli("docs", "history", str(object_id), "--org", other.name), 1
    )
    lonely = dbt_object(engine, org, "lonely")
    assert "has no documentation yet" in one_line_error(cli("docs", "history", str(lonely.id)), 1)
    document(engine, org, lonely.id, layers("lonely"))
    assert "only one documentation version" in one_line_error(
        cli("docs", "diff", str(lonely.id)), 2
    )
    twin = dbt_object(engine, org, "orders", project="other")  # same name, other project
    assert "names 2 objects (model.other.orders, model.shop.orders)" in one_line_error(
        cli("docs", "history", "orders", "--org", org.name), 2
    )
    by_key = cli("docs", "history", "model.other.orders", "--org", org.name)
    assert "has no documentation yet" in by_key.stderr and str(twin.id) not in by_key.stdout


def test_text_and_structured_diff() -> None:
    assert text_diff("Same. Text.", " Same. Text. ") == []
    assert text_diff("A. B. C.", "A. X. C.") == ["  A.", "- B.", "+ X.", "  C."]
    old = {"usedBy": [{"team": "Finance", "frequency": "daily"}], "questionsAnswered": ["Q1", "Q2"]}
    new = {
        "usedBy": [
            {"team": "Finance", "frequency": "daily"},
            {"team": "Ops", "frequency": "weekly"},
        ],
        "questionsAnswered": ["Q2"],
    }
    assert structured_diff(old, new) == [
        "+ usedBy#2.team: Ops",
        "+ usedBy#2.frequency: weekly",
        "- questionsAnswered#1: Q1",
    ]
    assert structured_diff(None, {"a": 1}) == ["- (value): null", "+ a: 1"]
    assert structured_diff([1, 2], [1, 2]) == []
