"""House style: instructions, glossary and banned words set through the CLI, sent in the
prompt (instructions and banned words in the shared system message, glossary terms in the
context of the objects that mention them) and part of the input hash, so nightly picks up
exactly the objects a change affects."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine

from docgen.context import load_context
from docgen.db import orgs, policies
from docgen.db.engine import transaction
from docgen.nightly import stale_objects
from docgen.prompts import build_messages
from docgen.service import DocumentationGenerationService
from docgen.style import GlossaryTerm, HouseStyle
from tests.conftest import OrgFixture, use_openai
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI

GLOSSARY = """\
- term: ARR
  meaning: Annual recurring revenue, the yearly value of active subscriptions.
  synonyms: [annual recurring revenue]
- term: Churned customer
  meaning: A customer whose last subscription ended more than 30 days ago.
  synonyms: [churn]
"""
INSTRUCTIONS = "Write for the finance team. Say 'client', never 'customer'."


def test_style_cli_set_show_and_errors(cli, org: OrgFixture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    glossary = tmp_path / "glossary.yaml"
    glossary.write_text(GLOSSARY)
    result = cli(
        "org", "style", org.name, "--instructions", INSTRUCTIONS,
        "--glossary-file", str(glossary), "--ban", "leverage", "--ban", "synergy",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "banned words: leverage, synergy" in result.stdout
    assert "ARR (also: annual recurring revenue): Annual recurring revenue" in result.stdout

    shown = json.loads(cli("org", "style", org.name, "--json").stdout)
    assert shown["instructions"] == INSTRUCTIONS
    assert [t["term"] for t in shown["glossary"]] == ["ARR", "Churned customer"]
    assert shown["glossary"][1]["synonyms"] == ["churn"]

    assert cli("org", "style", org.name, "--unban", "SYNERGY").returncode == 0
    shown = json.loads(cli("org", "style", org.name, "--json").stdout)
    assert shown["banned_words"] == ["leverage"] and len(shown["glossary"]) == 2

    bad = tmp_path / "bad.yaml"
    bad.write_text("- term: ARR\n  synonyms: [x]\n")
    failed = cli("org", "style", org.name, "--glossary-file", str(bad))
    assert failed.returncode == 2, failed.stderr
    assert failed.stderr.strip().count("\n") == 0
    assert "term #1: meaning Field required" in failed.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("- term: [unclosed\n")
    assert "broken.yaml" in cli("org", "style", org.name, "--glossary-file", str(broken)).stderr
    missing = cli("org", "style", org.name, "--glossary-file", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read glossary file" in missing.stderr
    # nothing was lost by the refused commands
    assert json.loads(cli("org", "style", org.name, "--json").stdout)["banned_words"] == [
        "leverage"
    ]

    cleared = cli("org", "style", org.name, "--clear")
    assert cleared.returncode == 0 and "glossary: 0 terms" in cleared.stdout


def _set_style(engine: Engine, org: OrgFixture, style: HouseStyle) -> None:
    with transaction(engine) as conn:
        policies.save_style(conn, org.id, style)


def test_prompt_carries_style_and_only_relevant_terms(engine: Engine, org: OrgFixture) -> None:
    arr = make_object(engine, org, "fct_arr", code="select sum(mrr) * 12 as total_arr from subs")
    other = make_object(engine, org, "dim_dates", code="select * from calendar")
    style = HouseStyle(
        instructions=INSTRUCTIONS,
        glossary=[
            GlossaryTerm(term="ARR", meaning="Annual recurring revenue."),
            GlossaryTerm(term="Churned customer", meaning="Gone.", synonyms=["churn"]),
        ],
        banned_words=["leverage"],
    )
    _set_style(engine, org, style)
    with transaction(engine) as conn:
        arr_ctx, other_ctx = load_context(conn, arr.id), load_context(conn, other.id)
    arr_messages = build_messages(arr_ctx, "executive_summary")
    other_messages = build_messages(other_ctx, "executive_summary")
    # one system message for the whole organization: the shared prefix still caches
    assert arr_messages[0] == other_messages[0]
    assert INSTRUCTIONS in arr_messages[0]["content"]
    assert 'Never use these words or phrases: "leverage".' in arr_messages[0]["content"]
    assert "- ARR: Annual recurring revenue." in arr_messages[1]["content"]  # total_arr
    assert "Churned" not in arr_messages[1]["content"]
    assert "glossary" not in other_messages[1]["content"].lower()


def test_a_style_change_re_documents_what_it_affects(engine: Engine, org: OrgFixture) -> None:
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    arr = make_object(engine, org, "fct_arr", code="select sum(mrr) * 12 as total_arr from subs")
    churn = make_object(engine, org, "fct_churn", code="select count(*) as churn from subs")
    board_sql = "select month, total_arr from fct_arr where total_arr > 0"
    downstream = make_object(engine, org, "rpt_board", code=board_sql, upstream=[arr.id])
    glossary = [GlossaryTerm(term="ARR", meaning="Annual recurring revenue.")]
    _set_style(engine, org, HouseStyle(glossary=glossary))
    service = DocumentationGenerationService(engine, org.id)
    for obj in (arr, churn, downstream):
        service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    with transaction(engine) as conn:
        assert stale_objects(conn, org.id) == []

    # a new meaning for ARR: the object that mentions it (and what reads from it) only
    glossary = [GlossaryTerm(term="ARR", meaning="Yearly value of subscriptions.")]
    _set_style(engine, org, HouseStyle(glossary=glossary))
    with transaction(engine) as conn:
        assert set(stale_objects(conn, org.id)) == {arr.id, downstream.id}

    # a new term only fct_churn mentions
    glossary.append(GlossaryTerm(term="churn", meaning="Clients who left."))
    _set_style(engine, org, HouseStyle(glossary=glossary))
    with transaction(engine) as conn:
        assert set(stale_objects(conn, org.id)) == {arr.id, churn.id, downstream.id}
    for obj in (arr, churn, downstream):
        service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))

    # instructions and banned words concern every object
    _set_style(engine, org, HouseStyle(glossary=glossary, banned_words=["leverage"]))
    with transaction(engine) as conn:
        assert set(stale_objects(conn, org.id)) == {arr.id, churn.id, downstream.id}


def test_the_endpoint_receives_the_style(
    engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org, "fct_arr", code="select sum(mrr) * 12 as arr from subs")
    glossary = [GlossaryTerm(term="ARR", meaning="Annual recurring revenue.")]
    _set_style(engine, org, HouseStyle(instructions=INSTRUCTIONS, glossary=glossary))
    _set_style(
        engine,
        org,
        HouseStyle(instructions=INSTRUCTIONS, glossary=glossary, banned_words=["revenue"]),
    )
    service = DocumentationGenerationService(engine, org.id)
    generated = service.generate_documentation_for_object(obj.id)
    service.close()
    # the fake model ignores the ban ("...finance sees the revenue..."): docgen notices
    used = generated.metadata()["banned_words_used"]
    assert used and all(words == ["revenue"] for words in used.values()), used
    assert len(fake_openai.completions) == 6
    for record in fake_openai.completions:
        system, context = record.body["messages"][0], record.body["messages"][1]
        assert system["role"] == "system" and INSTRUCTIONS in system["content"]
        assert "- ARR: Annual recurring revenue." in context["content"]
