"""Review through the CLI: approve, reject (with a reason), edit a layer in $EDITOR (checked
against its shape), list what awaits review; a nightly run never replaces approved or edited
text: it stores a proposal beside it, and the diff shows what changed in the code since."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db import documentation
from docgen.db.engine import transaction
from flows.nightly import nightly_redocumentation
from tests.conftest import OrgFixture, use_openai
from tests.docs_factory import dbt_object, document, layers
from tests.factories import one_line_error
from tests.fake_openai import FakeOpenAI

EDITED_RULE = "Only orders the customer paid for count as revenue (checked by finance)."


def editor(tmp_path: Path, body: str) -> str:
    """An $EDITOR command: a Python script that rewrites the file it is given."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import json, sys\npath = sys.argv[1]\ntext = open(path).read()\n"
        + textwrap.dedent(body)
        + "open(path, 'w').write(text)\n"
    )
    return f"{sys.executable} {script}"


EDIT_FIRST_RULE = f"""\
data = json.loads(text)
data[0]["rule"] = {EDITED_RULE!r}
text = json.dumps(data)
"""


def versions(engine: Engine, object_id) -> list[documentation.Documentation]:  # type: ignore[no-untyped-def]
    with transaction(engine) as conn:
        return documentation.history(conn, object_id)


@pytest.mark.slow
def test_approve_reject_and_edit(cli, engine: Engine, org: OrgFixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    obj = dbt_object(engine, org, "fct_orders")
    document(engine, org, obj.id, layers("fct_orders"))
    args = ("--org", org.name)

    rejected = cli("docs", "reject", "fct_orders", *args, "--reason", "Wrong grain", "--by", "eva")
    assert rejected.returncode == 0, rejected.stderr
    (v1,) = versions(engine, obj.id)
    assert (v1.review_state, v1.review_reason, v1.reviewed_by) == ("rejected", "Wrong grain", "eva")
    assert "--reason" in cli("docs", "reject", "fct_orders", *args).stderr  # required

    # edit in $EDITOR: a new current version, marked human-edited, the rest kept
    edited = cli(
        "docs", "edit", "fct_orders", *args, "--layer", "business_rules",
        EDITOR=editor(tmp_path, EDIT_FIRST_RULE), DOCGEN_USER="ana",
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    old, new = versions(engine, obj.id)
    assert new.is_current and not old.is_current
    assert new.business_rules[0]["rule"] == EDITED_RULE
    assert new.edited_layers == ["business_rules"] and new.review_state == "draft"
    assert new.executive_summary == old.executive_summary and new.input_hash == old.input_hash
    assert new.generation_metadata["review_history"][-1]["by"] == "ana"

    # invalid edits: one line naming the problem, nothing stored
    broken = editor(tmp_path, "text = text.replace('[', '', 1)\n")
    line = one_line_error(
        cli("docs", "edit", "fct_orders", *args, "--layer", "business_rules", EDITOR=broken), 2
    )
    assert "business_rules: not valid JSON" in line
    too_few = editor(tmp_path, "text = json.dumps(json.loads(text)[:1])\n")
    line = one_line_error(
        cli("docs", "edit", "fct_orders", *args, "--layer", "business_rules", EDITOR=too_few), 2
    )
    assert "business_rules: rules: List should have at least 2 items" in line
    line = one_line_error(cli("docs", "edit", "fct_orders", *args, "--layer", "colour"), 2)
    assert "--layer must be one of executive_summary" in line
    summary = tmp_path / "summary.txt"
    summary.write_text("Too short.")
    line = one_line_error(
        cli("docs", "edit", "fct_orders", *args, "--layer", "executive_summary",
            "--file", str(summary)), 2,
    )  # fmt: skip
    assert "executive_summary: text: String should have at least 20 characters" in line
    unchanged = cli("docs", "edit", "fct_orders", *args, "--layer", "business_rules", EDITOR="true")
    assert unchanged.returncode == 0 and "unchanged; nothing stored" in unchanged.stderr
    assert len(versions(engine, obj.id)) == 2

    # approve one layer, then the whole version
    assert cli("docs", "approve", "fct_orders", *args, "--layer", "impact_analysis").returncode == 0
    current = versions(engine, obj.id)[-1]
    assert current.layer_reviews["impact_analysis"]["state"] == "approved"
    assert current.review_state == "draft"
    approved = cli("docs", "approve", "fct_orders", *args, "--by", "lead@example.com")
    assert approved.returncode == 0 and "v2 approved" in approved.stderr
    current = versions(engine, obj.id)[-1]
    assert (current.review_state, current.reviewed_by) == ("approved", "lead@example.com")
    assert current.reviewed_at is not None
    shown = cli("docs", "show", "fct_orders", *args)
    assert "- Review: Approved by lead" in shown.stdout and "Edited by a person" in shown.stdout

    listed = cli("docs", "pending", *args, "--drafts", "--json")
    assert json.loads(listed.stdout)["pending"] == []  # approved: nothing awaits review


def test_export_shows_state_and_approved_only(
    cli, engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    approved = dbt_object(engine, org, "fct_orders")
    draft = dbt_object(engine, org, "dim_customers", upstream=[approved])
    document(engine, org, approved.id, layers("fct_orders"))
    document(engine, org, draft.id, layers("dim_customers"))
    assert cli("docs", "approve", "fct_orders", "--org", org.name, "--by", "eva").returncode == 0

    site = tmp_path / "all"
    assert cli("export", "--org", org.name, "--format", "html", "--out", str(site)).returncode == 0
    assert "Approved by eva on " in (site / "fct_orders.html").read_text()
    assert "Draft: not reviewed yet" in (site / "dim_customers.html").read_text()
    index = (site / "index.html").read_text()
    assert index.count('class="badge approved"') == 1 and 'title="Approved by eva"' in index

    only = tmp_path / "approved"
    result = cli(
        "export", "--org", org.name, "--format", "html", "--out", str(only), "--approved-only"
    )
    assert result.returncode == 0, result.stderr
    assert "1 of 2 objects documented" in result.stderr
    assert "finance one trusted row per order" in (only / "fct_orders.html").read_text()
    withheld = (only / "dim_customers.html").read_text()
    assert "Awaiting review" in withheld and "dim_customers gives finance" not in withheld
    md = tmp_path / "md"
    result = cli(
        "export", "--org", org.name, "--format", "markdown", "--out", str(md), "--approved-only"
    )
    assert (
        result.returncode == 0
        and "dim_customers gives finance" not in (md / "dim_customers.md").read_text()
    )


@pytest.mark.slow
@pytest.mark.prefect
def test_nightly_keeps_approved_edited_text_and_stores_a_proposal(
    cli,  # type: ignore[no-untyped-def]
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    prefect_harness: str,
    tmp_path: Path,
) -> None:
    use_openai(engine, org, fake_openai)
    obj = dbt_object(
        engine, org, "fct_orders",
        code="select order_id, amount from orders where status = 'completed'\n",
    )  # fmt: skip
    args = ("--org", org.name)
    run = cli("run", *args, "--user", org.admin_email, "--all", PREFECT_API_URL=prefect_harness)
    assert run.returncode == 0, run.stderr
    edited = cli(
        "docs", "edit", "fct_orders", *args, "--layer", "business_rules",
        EDITOR=editor(tmp_path, EDIT_FIRST_RULE),
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert cli("docs", "approve", "fct_orders", *args, "--by", "lead").returncode == 0
    reviewed = versions(engine, obj.id)[-1]
    assert reviewed.review_state == "approved" and reviewed.edited_layers == ["business_rules"]

    # the code changes; nightly regenerates
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE metadata.objects SET code = replace(code, 'completed', 'shipped'),"
                " content_hash = 'changed' WHERE id = :i"
            ),
            {"i": obj.id},
        )
    answered = len(fake_openai.batch_requests)
    (result,) = asyncio.run(nightly_redocumentation(organization=org.name))
    assert result.stale_objects == 1 and result.status == "completed"
    # it was really regenerated (nightly uses the Batch API where the provider has it)
    assert len(fake_openai.batch_requests) == answered + 6

    history = versions(engine, obj.id)
    current = next(v for v in history if v.is_current)
    proposal = history[-1]
    assert current.id == reviewed.id  # the approved, edited text is still the current one
    assert current.business_rules[0]["rule"] == EDITED_RULE
    assert current.review_state == "approved"
    assert proposal.review_state == "proposed" and not proposal.is_current
    assert proposal.proposed_for == current.version
    assert proposal.business_rules[0]["rule"] != EDITED_RULE
    assert "shipped" in (proposal.source_code or "")

    pending = cli("docs", "pending", *args)
    assert pending.returncode == 0
    assert f"fct_orders  proposal v{proposal.version} beside current v{current.version}" in (
        pending.stdout
    )
    diff = cli("docs", "diff", "fct_orders", *args)
    assert diff.returncode == 0, diff.stderr
    assert f"--- version {current.version}\n+++ version {proposal.version}" in diff.stdout
    assert f"code changed since version {current.version}" in diff.stdout
    assert "-select order_id, amount from orders where status = 'completed'" in diff.stdout
    assert "+select order_id, amount from orders where status = 'shipped'" in diff.stdout
    assert f"- #1.rule: {EDITED_RULE}" in diff.stdout

    # a second night: nothing new to propose, no call
    calls = len(fake_openai.completions) + len(fake_openai.batch_requests)
    (again,) = asyncio.run(nightly_redocumentation(organization=org.name))
    assert again.stale_objects == 0
    assert len(fake_openai.completions) + len(fake_openai.batch_requests) == calls
    assert len(versions(engine, obj.id)) == len(history)

    # accepting one layer of the proposal makes a new current version with it
    taken = cli("docs", "approve", "fct_orders", *args, "--layer", "executive_summary")
    assert taken.returncode == 0, taken.stderr
    merged = next(v for v in versions(engine, obj.id) if v.is_current)
    assert merged.executive_summary == proposal.executive_summary
    assert merged.business_rules[0]["rule"] == EDITED_RULE  # still the person's text
    assert merged.layer_reviews["executive_summary"]["state"] == "approved"

    # rejecting the proposal keeps it out; nothing awaits review any more
    rejected = cli("docs", "reject", "fct_orders", *args, "--reason", "Status filter is wrong")
    assert rejected.returncode == 0, rejected.stderr
    with transaction(engine) as conn:
        state = documentation.get(conn, proposal.id)
    assert state.review_state == "rejected" and state.review_reason == "Status filter is wrong"
    assert "nothing awaits review" in cli("docs", "pending", *args).stderr
