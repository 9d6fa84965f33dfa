"""`docgen org create | add-user | set-provider | set-key | show | list`."""

from __future__ import annotations

import shlex

import typer

from docgen.cli._common import (
    engine,
    err,
    out,
    print_created,
    print_json,
    read_secret_from_stdin,
)
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.errors import InvalidInput

app = typer.Typer(help="Organizations, their users and their LLM provider.", no_args_is_help=True)


@app.command()
def create(name: str = typer.Argument(..., help="Organization name (unique).")) -> None:
    """Create an organization; prints its id."""
    with transaction(engine()) as conn:
        organization = orgs.create_organization(conn, name)
        settings = orgs.get_llm_settings(conn, organization.id)
    quoted = shlex.quote(organization.name)
    err.print(
        f"{organization.name} uses provider {settings.provider} (model {settings.model}) and"
        " has no API key yet. Next: store one with"
        f' `echo "$OPENAI_API_KEY" | docgen org set-key {quoted}`, or document without an LLM'
        f" with `docgen org set-provider {quoted} offline` (the offline analyser)"
    )
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
) -> None:
    """Choose the organization's LLM provider and its settings."""
    if provider == "offline":
        given = [
            flag
            for flag, value in (
                ("--base-url", base_url),
                ("--model", model),
                ("--rpm", rpm),
                ("--tpm", tpm),
                ("--structured-outputs/--json-object", structured_outputs),
            )
            if value is not None
        ]
        if given:
            raise InvalidInput(f"{', '.join(given)} only apply to provider openai, not offline")
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
        )
    if settings.provider == "offline":
        err.print(
            f"{organization.name}: provider offline (the offline analyser: no API key, no network)"
        )
    else:
        where = f" at {settings.base_url}" if settings.base_url else ""
        key = (
            ""
            if settings.has_api_key
            else f"; next: `docgen org set-key {shlex.quote(organization.name)}`"
        )
        err.print(f"{organization.name}: provider openai{where}, model {settings.model}{key}")


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
        "model": None if settings.provider == "offline" else settings.model,
        "requests_per_minute": settings.requests_per_minute,
        "tokens_per_minute": settings.tokens_per_minute,
        "structured_outputs": settings.structured_outputs,
        "api_key_set": settings.has_api_key,
    }
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            out.print(f"{key}: {value}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List organizations (id and name)."""
    with transaction(engine()) as conn:
        found = orgs.list_organizations(conn)
    if as_json:
        print_json([{"id": str(o.id), "name": o.name, "created_at": o.created_at} for o in found])
        return
    for organization in found:
        out.print(f"{organization.id}  {organization.name}")


@app.command("verify-key")
def verify_key(org: str = typer.Argument(..., help="Organization name or id.")) -> None:
    """Check that the stored API key decrypts with the current master key (prints no key)."""
    from docgen.crypto import load_master_key

    master_key = load_master_key()
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.get_llm_settings(conn, organization.id)
    orgs.decrypt_api_key(settings, master_key)
    err.print(f"the API key of {organization.name} decrypts with the current master key")
