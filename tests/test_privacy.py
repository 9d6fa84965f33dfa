"""Privacy masking: personal data planted in a model's code never reaches the LLM.

Unit cases for the masker (SQL through sqlglot's tokenizer, Python through `tokenize`), then
the real path: `docgen ingest sql`, `docgen org privacy ORG on`, `docgen run` under Prefect
against the fake OpenAI server, and every request it received searched for the planted values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.context import load_context
from docgen.db import objects, policies
from docgen.db.engine import transaction
from docgen.privacy import iban_valid, luhn_valid, mask_code, personal_data_kind
from docgen.prompts import build_messages
from tests.conftest import OrgFixture, use_openai
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI

PLANTED_EMAIL = "jane.planted@example.com"
PLANTED_CARD = "4539 1488 0343 6467"  # Luhn-valid test number
PLANTED_SQL = f"""-- owner: {PLANTED_EMAIL}
select
    order_id,
    customer_id,
    amount
from raw.orders
where customer_email <> '{PLANTED_EMAIL}'
  and card_number <> '{PLANTED_CARD}'
  and status = 'completed'
"""


@pytest.mark.parametrize(
    ("literal", "kind"),
    [
        ("bob@corp.io", "email"),
        ("4111 1111 1111 1111", "card"),
        ("4111-1111-1111-1111", "card"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("DE89370400440532013000", "iban"),
        ("123-45-6789", "national_id"),
        ("AB 12 34 56 C", "national_id"),
        ("+44 20 7946 0958", "phone"),
        ("(555) 123-4567 x", "phone"),
        ("completed", None),
        ("2024-01-01", None),
        ("2024-01-01 12:30:00", None),
        ("4111 1111 1111 1112", None),  # fails the Luhn check
        ("order-123", None),
    ],
)
def test_personal_data_kinds(literal: str, kind: str | None) -> None:
    assert personal_data_kind(literal) == kind


def test_checksums() -> None:
    assert luhn_valid("4539148803436467") and not luhn_valid("4539148803436468")
    assert not luhn_valid("0000000000000000")  # repeated digits are not cards
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB83WEST12345698765432")


def test_sql_literals_masked_and_code_kept() -> None:
    long_note = "x" * 80
    sql = (
        f"select id, 'ok' as tag, 4539148803436467 as n from t where note = '{long_note}'"
        f" and mail = '{PLANTED_EMAIL}' and d = '2024-01-01' -- ping {PLANTED_EMAIL}\n"
    )
    masked = mask_code(sql, dialect="postgres", max_literal=64)
    assert PLANTED_EMAIL not in masked.code and long_note not in masked.code
    assert "4539148803436467" not in masked.code
    assert masked.counts == {"email": 2, "long_literal": 1, "card": 1}
    assert "'[masked: email]'" in masked.code and "'[masked: 80 characters]'" in masked.code
    assert "'ok' as tag" in masked.code and "'2024-01-01'" in masked.code
    # still SQL: sqlglot parses the masked text
    import sqlglot

    assert sqlglot.parse_one(masked.code, read="postgres") is not None
    # a higher threshold keeps the long literal
    assert long_note in mask_code(sql, dialect="postgres", max_literal=100).code


def test_dbt_jinja_and_unparseable_sql() -> None:
    sql = "select * from {{ ref('orders') }} where email = 'a@b.co' and x = 'unterminated"
    masked = mask_code(sql, dialect="postgres")
    assert "a@b.co" not in masked.code and "{{ ref('orders') }}" in masked.code


def test_python_literals_masked_docstrings_kept() -> None:
    doc = "Monthly revenue per customer, built from the orders and payments tables of the shop."
    code = (
        "def model(dbt, session):\n"
        f'    """{doc}"""\n'
        "    df = dbt.ref('orders')\n"
        f'    df = df[df.email != "{PLANTED_EMAIL}"]  # asked by {PLANTED_EMAIL}\n'
        f"    df['note'] = '{'y' * 90}'\n"
        "    return df[df.status == 'completed']\n"
    )
    masked = mask_code(code, language="python", max_literal=64)
    assert PLANTED_EMAIL not in masked.code and "y" * 90 not in masked.code
    assert doc in masked.code and "'completed'" in masked.code
    assert masked.counts == {"email": 2, "long_literal": 1}
    compile(masked.code, "model.py", "exec")  # still Python


def test_privacy_setting_changes_context_and_hash(engine: Engine, org: OrgFixture) -> None:
    obj = make_object(engine, org, code=PLANTED_SQL)
    with transaction(engine) as conn:
        plain = load_context(conn, obj.id)
        policies.set_privacy(conn, org.id, True)
        masked = load_context(conn, obj.id)
        stored = objects.get_object(conn, obj.id)
    # control: without privacy the planted email is in the prompt, so the checks can fail
    assert PLANTED_EMAIL in json.dumps(build_messages(plain, "executive_summary"))
    prompt = json.dumps(build_messages(masked, "executive_summary"))
    assert PLANTED_EMAIL not in prompt and PLANTED_CARD not in prompt
    assert masked.masked_counts == {"email": 2, "card": 1}
    assert stored.code == PLANTED_SQL  # the stored code is never changed


def test_privacy_cli_errors_and_show(cli, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    shown = cli("org", "privacy", org.name)
    assert shown.returncode == 0 and "privacy masking: off" in shown.stdout
    turned = cli("org", "privacy", org.name, "on", "--max-literal", "40")
    assert turned.returncode == 0, turned.stderr
    assert "privacy masking: on (string literals over 40 chars)" in turned.stdout
    bad = cli("org", "privacy", org.name, "maybe")
    assert bad.returncode == 2 and "privacy must be on or off, not 'maybe'" in bad.stderr
    small = cli("org", "privacy", org.name, "on", "--max-literal", "2")
    assert small.returncode == 2 and "--max-literal must be between 8 and 100000" in small.stderr
    assert '"privacy_masking": true' in cli("org", "show", org.name, "--json").stdout


@pytest.mark.prefect
def test_planted_personal_data_reaches_no_request(
    cli,  # type: ignore[no-untyped-def]
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    prefect_harness: str,
    tmp_path: Path,
) -> None:
    project = tmp_path / "models"
    project.mkdir()
    (project / "customer_orders.sql").write_text(PLANTED_SQL)
    (project / "payments.sql").write_text(
        f"select payment_id, amount from raw.payments where card = {PLANTED_CARD.replace(' ', '')}"
    )
    ingested = cli("ingest", "sql", str(project), "--org", org.name, "--dialect", "postgres")
    assert ingested.returncode == 0, ingested.stderr
    use_openai(engine, org, fake_openai)
    assert cli("org", "privacy", org.name, "on").returncode == 0

    run = cli(
        "run",
        "--org",
        org.name,
        "--user",
        org.admin_email,
        "--all",
        PREFECT_API_URL=prefect_harness,
    )
    assert run.returncode == 0, run.stderr

    bodies = [json.dumps(r.body) for r in fake_openai.completions]
    assert len(bodies) == 12  # six layers of two objects, all sent
    planted = (PLANTED_EMAIL, PLANTED_CARD, PLANTED_CARD.replace(" ", ""))
    assert [b for b in bodies if any(p in b for p in planted)] == []
    assert all("[masked: email]" in b for b in bodies if "customer_orders" in b)
    with transaction(engine) as conn:
        logged = conn.execute(
            sa.text(
                "SELECT o.name, l.layer, l.privacy_masked"
                " FROM metadata.documentation_generation_logs l"
                " JOIN metadata.objects o ON o.id = l.object_id WHERE o.organization_id = :org"
            ),
            {"org": org.id},
        ).all()
    masked = {(r.name, r.layer): r.privacy_masked for r in logged}
    assert len(masked) == 12
    assert {v["email"] for (n, _), v in masked.items() if n == "customer_orders"} == {2}
    assert all(v == {"card": 1} for (n, _), v in masked.items() if n == "payments")
    history = cli("docs", "history", "customer_orders", "--org", org.name)
    assert "masked: card 1, email 2" in history.stdout
