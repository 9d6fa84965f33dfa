"""`docgen org ...` and `docgen db ...` as a user runs them: ids on stdout, one-line errors."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from docgen.crypto import generate_master_key
from tests.conftest import run_cli
from tests.crypto_probe import find_in_database
from tests.factories import one_line_error
from tests.fake_openai import FakeOpenAI, Fault
from tests.test_crypto import PLANTED_KEY


def test_org_lifecycle(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    name = f"Acme-{uuid.uuid4().hex[:6]}"
    created = cli("org", "create", name)
    assert created.returncode == 0, created.stderr
    org_id = uuid.UUID(created.stdout.strip().splitlines()[-1])

    user = cli("org", "add-user", name, "ana@example.com", "--role", "admin")
    assert user.returncode == 0, user.stderr
    uuid.UUID(user.stdout.strip().splitlines()[-1])

    provider = cli(
        "org",
        "set-provider",
        str(org_id),
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "gpt-4o-mini",
        "--rpm",
        "60",
        "--tpm",
        "1000",
    )
    assert provider.returncode == 0, provider.stderr

    stored = cli("org", "set-key", name, input=PLANTED_KEY + "\n")
    assert stored.returncode == 0, stored.stderr
    assert PLANTED_KEY not in stored.stdout + stored.stderr

    shown = cli("org", "show", name, "--json")
    assert shown.returncode == 0
    assert '"api_key_set": true' in shown.stdout and '"model": "gpt-4o-mini"' in shown.stdout
    assert PLANTED_KEY not in shown.stdout
    # verify-key makes real requests: nothing listens on port 9, and it says so in one line
    checked = cli("org", "verify-key", name)
    line = one_line_error(checked)
    assert "endpoint" in line and "http://127.0.0.1:9/v1 unreachable" in line
    assert "ok    API key: decrypts" in checked.stdout
    assert PLANTED_KEY not in checked.stdout + checked.stderr
    assert find_in_database(database_url, PLANTED_KEY) == []


def test_unknown_org(cli) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(cli("org", "add-user", "no-such-org", "a@example.com", "--role", "admin"))
    assert "unknown organization 'no-such-org'" in line


def test_duplicate_org_name(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Dup-{uuid.uuid4().hex[:6]}"
    assert cli("org", "create", name).returncode == 0
    line = one_line_error(cli("org", "create", name.upper()))
    assert "already exists" in line


def test_bad_role(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Role-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    line = one_line_error(cli("org", "add-user", name, "b@example.com", "--role", "owner"), 2)
    assert "role must be one of admin, member" in line


def test_empty_key_on_stdin(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Key-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    assert "API key is empty" in one_line_error(cli("org", "set-key", name, input="\n"), 2)
    assert "API key is empty" in one_line_error(cli("org", "set-key", name), 2)  # stdin closed


def test_unreachable_database_url() -> None:
    result = run_cli(
        "org",
        "list",
        env={"DOCGEN_DATABASE_URL": "postgresql://bob:hunter2secret@127.0.0.1:1/docgen"},
    )
    line = one_line_error(result)
    assert "cannot reach PostgreSQL at postgresql://bob:***@127.0.0.1:1/docgen" in line
    assert "hunter2secret" not in result.stderr + result.stdout


def test_non_postgres_url() -> None:
    line = one_line_error(run_cli("org", "list", env={"DOCGEN_DATABASE_URL": "mysql://x@h/db"}))
    assert "must be a postgresql:// URL" in line


@pytest.mark.parametrize(
    ("master_key", "expected"),
    [
        ("%%%not-base64", "DOCGEN_MASTER_KEY is not valid base64"),
        ("c2hvcnQ=", "DOCGEN_MASTER_KEY must be base64 of 32 bytes"),
    ],
)
def test_corrupted_master_key(cli, master_key: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    name = f"Mk-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    result = cli("org", "set-key", name, input=PLANTED_KEY, DOCGEN_MASTER_KEY=master_key)
    assert expected in one_line_error(result)


def test_wrong_master_key(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Wk-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    assert cli("org", "set-key", name, input=PLANTED_KEY).returncode == 0
    result = cli("org", "verify-key", name, DOCGEN_MASTER_KEY=generate_master_key())
    line = one_line_error(result)
    assert "does not decrypt" in line and PLANTED_KEY not in result.stderr


def test_bad_provider_values(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Prov-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    assert "provider must be one of" in one_line_error(
        cli("org", "set-provider", name, "gemini"), 2
    )
    assert "base URL must start" in one_line_error(
        cli("org", "set-provider", name, "openai", "--base-url", "ftp://x"), 2
    )
    assert "--rpm must be a positive" in one_line_error(
        cli("org", "set-provider", name, "openai", "--rpm", "0"), 2
    )


def test_usage_error_is_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("org", "create")
    assert result.returncode == 2
    assert "Missing argument" in one_line_error(result, 2)


def _org_on(cli, server: FakeOpenAI, model: str = "gpt-4o") -> str:  # type: ignore[no-untyped-def]
    name = f"Vk-{uuid.uuid4().hex[:6]}"
    cli("org", "create", name)
    setting = cli(
        "org", "set-provider", name, "openai", "--base-url", server.base_url, "--model", model
    )
    assert setting.returncode == 0, setting.stderr
    assert cli("org", "set-key", name, input=PLANTED_KEY).returncode == 0
    return name


def test_verify_key_reports_each_check(cli, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    name = _org_on(cli, fake_openai)
    result = cli("org", "verify-key", name)
    assert result.returncode == 0, result.stderr
    for line in (
        "ok    API key: decrypts",
        f"ok    endpoint: {fake_openai.base_url} answered in",
        "ok    API key: accepted",
        "ok    model: gpt-4o listed by the endpoint",
        "ok    structured outputs: json_schema accepted",
    ):
        assert line in result.stdout, result.stdout
    # the model list and one completion capped at 16 tokens: cheap
    assert [r.body.get("max_completion_tokens") for r in fake_openai.completions] == [16]
    assert len(fake_openai.requests) == 1  # GETs (the model list) are not recorded


def test_verify_key_rejected_key(cli, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    name = _org_on(cli, fake_openai)
    fake_openai.add_rule(lambda body: True, Fault.auth())
    result = cli("org", "verify-key", name)
    line = one_line_error(result)
    assert "API key" in line and "refused the API key (401)" in line
    assert PLANTED_KEY not in result.stdout + result.stderr


def test_verify_key_unknown_model(cli, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    name = _org_on(cli, fake_openai, model="qwen-missing")
    fake_openai.add_rule(lambda body: True, Fault("not_found", status=404))
    line = one_line_error(cli("org", "verify-key", name))
    assert "model: qwen-missing does not exist here (the endpoint lists: gpt-4o)" in line


def test_verify_key_switches_a_refusing_endpoint_to_json_object(  # type: ignore[no-untyped-def]
    cli, fake_openai: FakeOpenAI
) -> None:
    name = _org_on(cli, fake_openai)
    fake_openai.behave(refuse_json_schema=500)
    result = cli("org", "verify-key", name)
    assert result.returncode == 0, result.stderr
    assert "warn  structured outputs: refused (HTTP 500" in result.stdout
    assert "json_object with validation is used instead" in result.stdout
    shown = cli("org", "show", name, "--json")
    assert '"structured_outputs": false' in shown.stdout
    assert "response_format" in shown.stdout  # why, remembered


def test_unknown_model_is_flagged_until_priced(cli, fake_openai: FakeOpenAI, engine) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from tests.factories import make_object, one_line_error

    name = f"Px-{uuid.uuid4().hex[:6]}"
    org_id = uuid.UUID(cli("org", "create", name).stdout.strip().splitlines()[-1])
    make_object(engine, SimpleNamespace(id=org_id))  # type: ignore[arg-type]
    unknown = cli(
        "org",
        "set-provider",
        name,
        "openai",
        "--base-url",
        fake_openai.base_url,
        "--model",
        "qwen2.5-coder:1.5b",
        "--max-concurrent-requests",
        "1",
    )
    assert unknown.returncode == 0, unknown.stderr
    assert "model 'qwen2.5-coder:1.5b' is not in the pricing table" in unknown.stderr
    assert "--input-price USD --output-price USD" in unknown.stderr
    estimate = cli("estimate", "--org", name, "--all")
    assert estimate.returncode == 0, estimate.stderr
    assert "not in the pricing table" in estimate.stderr
    priced = cli("org", "set-provider", name, "openai", "--input-price", "0", "--output-price", "0")
    assert priced.returncode == 0 and "pricing table" not in priced.stderr
    free = cli("estimate", "--org", name, "--all", "--json")
    assert Decimal(json.loads(free.stdout)["total_cost_usd"]) == 0
    assert "pricing table" not in free.stderr
    shown = cli("org", "show", name, "--json")
    for field in (
        '"input_price_per_million": "0"',
        '"output_price_per_million": "0"',
        '"max_concurrent_requests": 1',
    ):
        assert field in shown.stdout, shown.stdout
    negative = one_line_error(cli("org", "set-provider", name, "openai", "--input-price", "-1"), 2)
    assert "--input-price must be USD per 1M tokens" in negative
