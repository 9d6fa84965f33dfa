"""`docgen org create | add-user | set-provider | set-key | show | list`."""

from __future__ import annotations

import json
from decimal import Decimal

import typer

from docgen.cli._common import engine, err, out, print_created, read_secret_from_stdin
from docgen.db import orgs
from docgen.db.engine import transaction

app = typer.Typer(help="Organizations, their users and their LLM provider.", no_args_is_help=True)


@app.command()
def create(name: str = typer.Argument(..., help="Organization name (unique).")) -> None:
    """Create an organization; prints its id."""
    with transaction(engine()) as conn:
        organization = orgs.create_organization(conn, name)
    print_created(f"organization {organization.name}", organization.id)


@app.command("add-user")
def add_user(
    org: str = typer.Argument(..., help="Organization name or id."),
    email: str = typer.Argument(..., help="The user's email address."),
    role: str = typer.Option(..., "--role", help="admin or member."),
) -> None:
    """Add a user to an organization with a role (or change their role); prints the user id."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        user = orgs.add_user(conn, organization.id, email, role)
    print_created(f"{role} {user.email} in {organization.name}", user.id)


@app.command("set-provider")
def set_provider(
    org: str = typer.Argument(..., help="Organization name or id."),
    provider: str = typer.Argument(..., help="openai (any OpenAI-compatible API) or offline."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible API URL."),
    model: str | None = typer.Option(None, "--model", help="Model name, e.g. gpt-4o."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute allowed."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute allowed."),
    structured_outputs: bool | None = typer.Option(
        None,
        "--structured-outputs/--json-object",
        help="Request json_schema structured outputs, or json_object plus validation "
        "for endpoints without structured outputs.",
    ),
    max_concurrent_requests: int | None = typer.Option(
        None,
        "--max-concurrent-requests",
        help="Requests sent to the endpoint at the same time (1 for a local server with "
        "one slot, e.g. llama.cpp or Ollama by default).",
    ),
    input_price: float | None = typer.Option(
        None, "--input-price", help="USD per 1M input tokens for this model (0: local)."
    ),
    output_price: float | None = typer.Option(
        None, "--output-price", help="USD per 1M output tokens for this model (0: local)."
    ),
) -> None:
    """Choose the organization's LLM provider and its settings."""
    from docgen.pricing import pricing_note

    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.set_provider(
            conn,
            organization.id,
            provider,
            base_url=base_url,
            model=model,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            structured_outputs=structured_outputs,
            max_concurrent_requests=max_concurrent_requests,
            input_price_per_million=_decimal(input_price),
            output_price_per_million=_decimal(output_price),
        )
    err.print(f"{organization.name}: provider {settings.provider}, model {settings.model}")
    if note := pricing_note(settings):
        err.print(f"note: {note}", markup=False)


@app.command("set-key")
def set_key(org: str = typer.Argument(..., help="Organization name or id.")) -> None:
    """Store the organization's API key, read from stdin, encrypted (never echoed)."""
    from docgen.crypto import load_master_key

    api_key = read_secret_from_stdin("API key (input hidden): ")
    master_key = load_master_key()
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        orgs.set_api_key(conn, organization.id, api_key, master_key)
    del api_key
    err.print(f"API key stored encrypted for {organization.name}")


@app.command()
def show(
    org: str = typer.Argument(..., help="Organization name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an organization's LLM settings (whether a key is set, never the key)."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.get_llm_settings(conn, organization.id)
    data = {
        "id": str(organization.id),
        "name": organization.name,
        "provider": settings.provider,
        "base_url": settings.base_url,
        "model": settings.model,
        "requests_per_minute": settings.requests_per_minute,
        "tokens_per_minute": settings.tokens_per_minute,
        "structured_outputs": settings.structured_outputs,
        "structured_outputs_refused": settings.structured_outputs_refused,
        "max_concurrent_requests": settings.max_concurrent_requests,
        "input_price_per_million": _price(settings.input_price_per_million),
        "output_price_per_million": _price(settings.output_price_per_million),
        "api_key_set": settings.has_api_key,
    }
    if as_json:
        out.print_json(json.dumps(data))
    else:
        for key, value in data.items():
            out.print(f"{key}: {value}")


@app.command("list")
def list_() -> None:
    """List organizations (id and name)."""
    with transaction(engine()) as conn:
        for organization in orgs.list_organizations(conn):
            out.print(f"{organization.id}  {organization.name}")


@app.command("verify-key")
def verify_key(
    org: str = typer.Argument(..., help="Organization name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check the organization's provider with real, cheap requests: the key decrypts, the
    endpoint answers, the key is accepted, the model exists, structured outputs work.

    Makes two requests (the model list and a completion of at most 16 tokens). An endpoint
    that refuses structured outputs is switched to json_object, as a job would do."""
    from docgen.errors import ProviderError
    from docgen.providers.openai_compat import Check, OpenAICompatibleProvider
    from docgen.service import build_provider

    db = engine()
    with transaction(db) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.get_llm_settings(conn, organization.id)
    # decrypts (KeyDecryptionError here); the checks below say what a refusal changed
    provider = build_provider(settings, engine=db, notify=lambda message: None)
    provider = getattr(provider, "inner", provider)  # the endpoint, not the grounding check
    if not isinstance(provider, OpenAICompatibleProvider):
        checks = [Check("provider", True, "offline analyser: no endpoint, no key needed")]
    else:
        checks = [Check("API key", True, "decrypts with the current master key")]
        try:
            checks += provider.verify()
        finally:
            provider.close()
    if as_json:
        out.print_json(json.dumps([c.__dict__ for c in checks]))
    else:
        marks = {True: "ok  ", False: "FAIL", None: "warn"}
        for check in checks:
            out.print(f"{marks[check.ok]}  {check.name}: {check.detail}", markup=False)
    failed = [c for c in checks if c.ok is False]
    if failed:
        raise ProviderError(f"{organization.name}: {failed[0].name}: {failed[0].detail}")


def _price(value: Decimal | None) -> str | None:
    return None if value is None else str(value.normalize())


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
