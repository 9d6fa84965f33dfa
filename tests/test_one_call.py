"""The lean option (`one_call`): one chat completion per object, six layers validated and
logged one by one, usage split so the logs add up to what the server reported."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.layers import ENVELOPE_KEYS
from docgen.one_call import combined_instruction, split_usage
from docgen.pricing import Usage
from tests.conftest import OrgFixture, use_openai
from tests.factories import assert_exactly_once, new_job, run_job
from tests.fake_openai import FakeOpenAI


def test_split_usage_adds_up() -> None:
    total = Usage(1001, 703, 257)
    parts = split_usage(total, {"a": 10, "b": 30, "c": 1})
    summed = Usage()
    for part in parts.values():
        summed = summed + part
    assert summed == total
    assert parts["b"].completion_tokens > parts["a"].completion_tokens


def test_combined_instruction_names_every_key_once() -> None:
    text = combined_instruction()
    assert "only; set every other key to null" not in text
    for key in ENVELOPE_KEYS.values():
        assert text.count(f"## {key}\n") == 1


@pytest.mark.prefect
def test_one_call_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 3, one_call=True)
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert len(fake_openai.completions) == 3  # one call per object
    assert_exactly_once(engine, job_id, ids)  # six log rows each, every layer stored
    reported = fake_openai.reported_usage()
    with transaction(engine) as conn:
        logged, failed = conn.execute(
            sa.text(
                "SELECT sum(tokens_used), count(*) FILTER (WHERE status <> 'completed')"
                " FROM metadata.documentation_generation_logs WHERE job_id = :j"
            ),
            {"j": job_id},
        ).one()
        layers = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.documentation_generation_logs"
                " WHERE job_id = :j AND tokens_used > 0"
            ),
            {"j": job_id},
        ).scalar_one()
    assert failed == 0
    assert logged == reported["prompt_tokens"] + reported["completion_tokens"]
    assert layers == 6 * len(ids)  # every layer carries its share
