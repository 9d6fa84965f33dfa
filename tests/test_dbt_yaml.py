"""dbt schema .yml write-back on a copy of tests/fixtures/dbt_writeback: empty descriptions
filled, human ones untouched, comments and order kept, a second run changes nothing, a dry
run only shows the diff, docgen's own text is updated and `--overwrite` replaces the rest."""

from __future__ import annotations

import difflib
import hashlib
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from sqlalchemy.engine import Engine

from docgen.db import objects
from docgen.db.documentation import Documentation
from docgen.db.engine import transaction
from docgen.errors import InvalidInput
from docgen.render.data import load_catalog
from docgen.render.dbt_yaml import (
    description_for,
    description_hash,
    guess_indent,
    neutralize_jinja,
    splice,
    write_back,
)
from tests.conftest import OrgFixture, make_org
from tests.docs_factory import dbt_object, document, layers

FIXTURE = Path(__file__).parent / "fixtures" / "dbt_writeback"
MARTS = "models/marts/schema.yml"
STAGING = "models/staging/_staging.yml"
COMMENTS = [
    "# Marts: the tables the business reads.",
    "# TODO: docgen fills this",
    "# always a table",
    "# Written by the analytics team; keep.",
    "# no object documents this model",
    "# Staging models: one per source table, renamed and typed.",
    "# the orders feed",
]
DOCUMENTED = (
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "fct_orders",
    "dim_customers",
    "order_items",
)


@dataclass
class Shop:
    org: OrgFixture
    objects: dict[str, objects.DataObject]
    summaries: dict[str, str]


@pytest.fixture
def shop(engine: Engine) -> Shop:
    org = make_org(engine, "dbt")
    made: dict[str, objects.DataObject] = {}
    summaries: dict[str, str] = {}
    for name in (*DOCUMENTED, "int_order_totals"):
        folder = "staging" if name.startswith("stg_") else "marts"
        schema = STAGING if folder == "staging" else MARTS
        made[name] = dbt_object(engine, org, name, folder=folder, schema_file=schema)
        summary = f"{name} is what finance uses to count sales: one row per order, every day."
        document(engine, org, made[name].id, layers(name, summary=summary))
        summaries[name] = summary
    # Same model name in another dbt project of the organization: must never be written here.
    other = dbt_object(engine, org, "fct_orders", project="other")
    document(
        engine, org, other.id, layers("other", summary="Other project's orders table, not ours.")
    )
    return Shop(org, made, summaries)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "shop"
    shutil.copytree(FIXTURE, copy)
    return copy


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return YAML().load(path.read_text())


def models(path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {m["name"]: m for m in load(path)["models"]}


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def export(cli, shop: Shop, project: Path, *flags: str):  # type: ignore[no-untyped-def]
    result = cli(
        "export", "--org", shop.org.name, "--format", "dbt-yaml", "--project", str(project), *flags
    )
    assert result.returncode == 0, result.stderr
    return result


def test_fills_empty_descriptions_and_keeps_everything_else(cli, shop: Shop, project: Path) -> None:  # type: ignore[no-untyped-def]
    before = {rel: (project / rel).read_text() for rel in (MARTS, STAGING)}
    result = export(cli, shop, project)
    assert sorted(result.stdout.split()) == sorted(str(project / rel) for rel in (MARTS, STAGING))
    assert "3 filled, 0 overwritten, 0 updated, 3 human descriptions kept" in result.stderr
    assert "not in any schema .yml (add an entry to write them): int_order_totals" in result.stderr

    marts, staging = models(project / MARTS), models(project / STAGING)
    for name, entry in (
        ("fct_orders", marts["fct_orders"]),
        ("stg_customers", staging["stg_customers"]),
    ):
        assert entry["description"] == shop.summaries[name]
        marker = entry["config"]["meta"]["docgen"]
        assert marker == {
            "documentation_version": 1,
            "description_sha256": description_hash(shop.summaries[name]),
        }
    # a model without a description key gets one, right after its name
    assert list(staging["stg_orders"])[:3] == ["name", "description", "config"]
    assert staging["stg_orders"]["description"] == shop.summaries["stg_orders"]
    # existing config keeps its keys and order; the marker goes last
    assert list(marts["fct_orders"]["config"]) == ["materialized", "tags", "meta"]
    # human descriptions (plain, folded, doc() block) are untouched; unmatched model too
    assert staging["stg_payments"]["description"].startswith("Payments as the payment provider")
    assert marts["dim_customers"]["description"].startswith("One row per customer")
    assert marts["order_items"]["description"] == '{{ doc("order_items") }}'
    assert marts["legacy_report"]["description"] is None
    assert "Other project" not in (project / MARTS).read_text()

    for rel in (MARTS, STAGING):
        after = (project / rel).read_text()
        # every comment survives, and the only lines that changed are the empty descriptions
        for comment in COMMENTS:
            assert (comment in before[rel]) <= (comment in after), (rel, comment)
        removed = [
            line
            for line in difflib.unified_diff(
                before[rel].splitlines(), after.splitlines(), lineterm=""
            )
            if line.startswith("-") and not line.startswith("---")
        ]
        expected = {
            MARTS: ['-    description: ""   # TODO: docgen fills this'],
            STAGING: ["-  description: ''"],
        }[rel]
        assert removed == expected, rel
    assert all(
        c in (project / MARTS).read_text() + (project / STAGING).read_text() for c in COMMENTS
    )


def test_second_run_changes_nothing(cli, shop: Shop, project: Path) -> None:  # type: ignore[no-untyped-def]
    export(cli, shop, project)
    first = snapshot(project)
    again = export(cli, shop, project)
    assert again.stdout == ""
    assert "0 filled, 0 overwritten, 0 updated, 3 human descriptions kept" in again.stderr
    assert "fct_orders: unchanged" in again.stderr
    assert snapshot(project) == first


def test_dry_run_prints_the_diff_and_writes_nothing(cli, shop: Shop, project: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(project)
    result = export(cli, shop, project, "--dry-run")
    assert snapshot(project) == before
    diff = result.stdout
    assert f"--- a/{MARTS}\n+++ b/{MARTS}\n" in diff and f"+++ b/{STAGING}\n" in diff
    added = [line for line in diff.splitlines() if line.startswith("+    description: ")]
    assert len(added) == 1 and shop.summaries["fct_orders"] in added[0]
    assert added[0].endswith(" # TODO: docgen fills this")  # the comment stays on its line
    assert "+      meta:\n+        docgen:\n" in diff
    assert "(dry run)" in result.stderr
    # applying the printed diff gives exactly what a real run writes
    export(cli, shop, project)
    real = (project / MARTS).read_text()
    original = (FIXTURE / MARTS).read_text().splitlines(keepends=True)
    patched = _apply_unified(original, diff, MARTS)
    assert patched == real


def _apply_unified(original: list[str], diff: str, rel: str) -> str:
    """A minimal patch(1) for one file of a unified diff (enough to check the dry run)."""
    lines = diff.splitlines(keepends=True)
    start = lines.index(f"--- a/{rel}\n")
    out, cursor = [], 0
    i = start + 2
    while i < len(lines) and not lines[i].startswith("--- "):
        header = lines[i]
        assert header.startswith("@@"), header
        old_start = int(header.split()[1].split(",")[0][1:])
        out += original[cursor : old_start - 1]
        cursor = old_start - 1
        i += 1
        while i < len(lines) and lines[i][:1] in (" ", "-", "+"):
            if lines[i].startswith("+++ ") or lines[i].startswith("--- "):
                break
            tag, text = lines[i][0], lines[i][1:]
            if tag in (" ", "-"):
                assert original[cursor] == text
                cursor += 1
            if tag in (" ", "+"):
                out.append(text)
            i += 1
    return "".join(out + original[cursor:])


def test_updates_its_own_text_but_never_a_human_edit_unless_overwrite(
    engine: Engine, shop: Shop, project: Path
) -> None:
    def run(**options: bool) -> dict[str, str]:
        plan = write_back(project, _documented(engine, shop), **options)
        return {o.model: o.action for o in plan.outcomes}

    assert run()["fct_orders"] == "filled"
    fct = shop.objects["fct_orders"]
    document(
        engine,
        shop.org,
        fct.id,
        layers("fct", summary="Version two of the orders summary, now mentioning refunds."),
    )
    assert run()["fct_orders"] == "updated"
    assert models(project / MARTS)["fct_orders"]["description"].startswith("Version two")
    assert (
        models(project / MARTS)["fct_orders"]["config"]["meta"]["docgen"]["documentation_version"]
        == 2
    )

    # a person rewrites docgen's text: from now on it is theirs
    text = (
        (project / MARTS)
        .read_text()
        .replace("Version two of the orders summary", "Hand-tuned summary")
    )
    (project / MARTS).write_text(text)
    document(
        engine,
        shop.org,
        fct.id,
        layers("fct", summary="Version three of the orders summary, with returns too."),
    )
    actions = run()
    assert actions["fct_orders"] == "kept_human"
    assert models(project / MARTS)["fct_orders"]["description"].startswith("Hand-tuned summary")

    actions = run(overwrite=True)
    assert actions["fct_orders"] == "overwritten"
    assert actions["dim_customers"] == "overwritten" and actions["order_items"] == "overwritten"
    written = models(project / MARTS)
    assert written["fct_orders"]["description"].startswith("Version three")
    assert written["dim_customers"]["description"] == shop.summaries["dim_customers"]
    assert "# Written by the analytics team; keep." in (project / MARTS).read_text()
    assert set(run().values()) == {"unchanged"}  # and now all of them are docgen's


def _documented(engine: Engine, shop: Shop) -> list:  # type: ignore[type-arg]
    with transaction(engine) as conn:
        catalog = load_catalog(conn, shop.org.id)
    return [(e.obj, e.doc) for e in catalog.entries]


def test_with_narrative_writes_a_block_and_is_stable(
    engine: Engine, shop: Shop, project: Path
) -> None:
    write_back(project, _documented(engine, shop), with_narrative=True)
    text = (project / MARTS).read_text()
    # the line comment of the replaced value moves above it instead of under the block
    assert "    # TODO: docgen fills this\n    description: |\n      fct_orders is what" in text
    assert "      How the data flows:\n      1. Customers' orders arrive" in text
    entry = models(project / MARTS)["fct_orders"]
    assert entry["config"]["meta"]["docgen"]["description_sha256"] == description_hash(
        entry["description"]
    )
    before = snapshot(project)
    plan = write_back(project, _documented(engine, shop), with_narrative=True)
    assert plan.changes == {} and snapshot(project) == before


def test_jinja_in_generated_text_is_neutralized(engine: Engine, shop: Shop, project: Path) -> None:
    payload = (
        "Counts orders {{ run_query('drop table orders') }} and {% set x = 1 %} {# note #} daily."
    )
    document(engine, shop.org, shop.objects["fct_orders"].id, layers("fct", summary=payload))
    write_back(project, _documented(engine, shop))
    written = models(project / MARTS)["fct_orders"]["description"]
    assert "{{" not in written and "{%" not in written and "{#" not in written
    assert (
        written
        == neutralize_jinja(payload)
        == (
            "Counts orders { { run_query('drop table orders') }} and"
            " { % set x = 1 %} { # note #} daily."
        )
    )


def test_crlf_files_stay_crlf(engine: Engine, shop: Shop, project: Path) -> None:
    path = project / STAGING
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    write_back(project, _documented(engine, shop))
    data = path.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert models(path)["stg_customers"]["description"] == shop.summaries["stg_customers"]


def test_bad_projects_are_one_line_errors(cli, shop: Shop, tmp_path: Path, project: Path) -> None:  # type: ignore[no-untyped-def]
    def error(target: Path, *flags: str) -> str:
        result = cli(
            "export",
            "--org",
            shop.org.name,
            "--format",
            "dbt-yaml",
            "--project",
            str(target),
            *flags,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        return lines[0]

    assert "does not exist or is not a directory" in error(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    assert "is not a dbt project (no dbt_project.yml)" in error(tmp_path / "plain")
    bare = tmp_path / "bare"
    (bare / "models").mkdir(parents=True)
    (bare / "dbt_project.yml").write_text("name: bare\n")
    assert "no schema .yml files under models/" in error(bare)
    (project / MARTS).write_text("models:\n  - name: x\n    description: [unclosed\n")
    assert f"{MARTS} is not valid YAML" in error(project)
    assert "give the dbt project once" in error(project, "--out", str(tmp_path))


def test_description_for_needs_a_summary(engine: Engine, shop: Shop) -> None:
    docs = dict((o.name, d) for o, d in _documented(engine, shop) if d is not None)
    assert description_for(docs["fct_orders"]) == shop.summaries["fct_orders"]
    with_story = description_for(docs["fct_orders"], with_narrative=True)
    assert with_story is not None and with_story.endswith("\n")
    assert with_story.startswith(shop.summaries["fct_orders"] + "\n\nIt collects every fct_orders")
    empty = docs["fct_orders"].model_copy(update={"executive_summary": "  "})
    assert description_for(empty) is None


def test_guess_indent_and_splice() -> None:
    assert guess_indent((FIXTURE / MARTS).read_text()) == (2, 4, 2)
    assert guess_indent((FIXTURE / STAGING).read_text()) == (2, 2, 0)
    assert guess_indent("a:\n    b:\n        - c\n") == (4, 6, 4)
    original = "a:   1  # note\nb: |\n  x\nc: 2\n"
    baseline = "a: 1  # note\nb: |\n  x\nc: 2\n"  # ruamel's rendering moved a space
    edited = "a: 1  # note\nb: |\n  x\nc: 3\nd: 4\n"
    assert splice(original, baseline, edited) == "a:   1  # note\nb: |\n  x\nc: 3\nd: 4\n"
    assert splice(original, baseline, "a: 9  # note\nb: |\n  x\nc: 2\n") is None  # rewrote line 1


def test_invalid_input_is_a_docgen_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        write_back(tmp_path / "nope", [])


def test_empty_config_and_meta_keys_get_the_marker(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: p\nmodel-paths: models\n")
    (root / "models" / "s.yml").write_text(
        "models:\n  - name: a\n    config:\n  - name: b\n    config:\n      meta:\n"
    )
    documented = []
    for name in ("a", "b"):
        obj = objects.DataObject(
            id=uuid.uuid4(),
            organization_id=uuid.uuid4(),
            object_type="dbt_model",
            name=name,
            unique_key=f"model.p.{name}",
            content_hash="",
        )
        now = datetime.now(UTC)
        doc = Documentation(
            id=uuid.uuid4(),
            object_id=obj.id,
            organization_id=obj.organization_id,
            version=1,
            is_current=True,
            generation_status="completed",
            created_at=now,
            updated_at=now,
            **layers(name),
        )
        documented.append((obj, doc))
    plan = write_back(root, documented)
    assert [o.action for o in plan.outcomes] == ["filled", "filled"]
    written = models(root / "models" / "s.yml")
    for name in ("a", "b"):
        assert written[name]["config"]["meta"]["docgen"]["documentation_version"] == 1
        assert written[name]["description"].startswith(f"{name} gives finance")
