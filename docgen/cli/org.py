"""`docgen org create | add-user | users | set-provider | set-key | show | list | verify-key`,
`docgen org privacy | style`."""

from __future__ import annotations

import shlex
from decimal import Decimal
from pathlib import Path

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
    provider: str = typer.Argument(
        ..., help="openai (any OpenAI-compatible API), azure (Azure OpenAI) or offline."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible API URL."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="azure: the resource endpoint, https://NAME.openai.azure.com."
    ),
    deployment: str | None = typer.Option(
        None, "--deployment", help="azure: the deployment name requests go to."
    ),
    api_version: str | None = typer.Option(
        None, "--api-version", help="azure: the api-version, e.g. 2024-10-21."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model name, e.g. gpt-4o (azure: the model behind the deployment)."
    ),
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

    if endpoint is not None:
        if provider != "azure":
            raise InvalidInput("--endpoint only applies to provider azure (openai: --base-url)")
        if base_url is not None:
            raise InvalidInput("give --endpoint or --base-url, not both")
        base_url = endpoint
    elif provider == "azure" and base_url is not None:
        raise InvalidInput("provider azure takes --endpoint, not --base-url")
    if provider == "offline":
        given = [
            flag
            for flag, value in (
                ("--base-url", base_url),
                ("--model", model),
                ("--rpm", rpm),
                ("--tpm", tpm),
                ("--structured-outputs/--json-object", structured_outputs),
                ("--deployment", deployment),
                ("--api-version", api_version),
                ("--max-concurrent-requests", max_concurrent_requests),
                ("--input-price", input_price),
                ("--output-price", output_price),
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
            azure_deployment=deployment,
            azure_api_version=api_version,
            max_concurrent_requests=max_concurrent_requests,
            input_price_per_million=_decimal(input_price),
            output_price_per_million=_decimal(output_price),
        )
    if settings.provider == "offline":
        err.print(
            f"{organization.name}: provider offline (the offline analyser: no API key, no network)"
        )
    else:
        where = f" at {settings.base_url}" if settings.base_url else ""
        if settings.provider == "azure":
            where = (
                f" at {settings.base_url}, deployment {settings.azure_deployment},"
                f" api-version {settings.azure_api_version}"
            )
        key = (
            ""
            if settings.has_api_key
            else f"; next: `docgen org set-key {shlex.quote(organization.name)}`"
        )
        err.print(
            f"{organization.name}: provider {settings.provider}{where}, model {settings.model}{key}"
        )
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
        from docgen.db.policies import get_privacy

        privacy = get_privacy(conn, organization.id)
    data = {
        "id": str(organization.id),
        "name": organization.name,
        "provider": settings.provider,
        "base_url": settings.base_url,
        "model": None if settings.provider == "offline" else settings.model,
        "requests_per_minute": settings.requests_per_minute,
        "tokens_per_minute": settings.tokens_per_minute,
        "structured_outputs": settings.structured_outputs,
        "structured_outputs_refused": settings.structured_outputs_refused,
        "max_concurrent_requests": settings.max_concurrent_requests,
        "azure_deployment": settings.azure_deployment,
        "azure_api_version": settings.azure_api_version,
        "input_price_per_million": _price(settings.input_price_per_million),
        "output_price_per_million": _price(settings.output_price_per_million),
        "api_key_set": settings.has_api_key,
        "privacy_masking": privacy.enabled,
        "privacy_max_literal": privacy.max_literal,
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


@app.command("users")
def users(
    org: str = typer.Argument(..., help="Organization name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List an organization's users: id, email and role (system users are marked)."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        members = orgs.list_members(conn, organization.id)
    if as_json:
        print_json([m.model_dump(mode="json") for m in members])
        return
    if not members:
        err.print(
            f"{organization.name} has no users; add one with docgen org add-user", markup=False
        )
    for member in members:
        system = "  (system)" if member.is_system else ""
        out.print(f"{member.id}  {member.role:<6}  {member.email}{system}", markup=False)


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
        print_json([c.__dict__ for c in checks])
    else:
        marks = {True: "ok  ", False: "FAIL", None: "warn"}
        for check in checks:
            out.print(f"{marks[check.ok]}  {check.name}: {check.detail}", markup=False)
    failed = [c for c in checks if c.ok is False]
    if failed:
        raise ProviderError(f"{organization.name}: {failed[0].name}: {failed[0].detail}")


def _price(value: Decimal | None) -> str | None:
    return None if value is None else str(value.normalize())


@app.command()
def privacy(
    org: str = typer.Argument(..., help="Organization name or id."),
    state: str | None = typer.Argument(None, help="on or off; omit to show the setting."),
    max_literal: int | None = typer.Option(
        None, "--max-literal", help="Mask string literals longer than this many characters."
    ),
) -> None:
    """Mask personal data (emails, phones, card numbers, IBANs, national ids) and long string
    literals in the code sent to the LLM."""
    from docgen.db import policies
    from docgen.errors import InvalidInput

    if state is not None and state not in ("on", "off"):
        raise InvalidInput(f"privacy must be on or off, not {state!r}")
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        if state is None and max_literal is None:
            settings = policies.get_privacy(conn, organization.id)
        else:
            current = policies.get_privacy(conn, organization.id)
            enabled = current.enabled if state is None else state == "on"
            settings = policies.set_privacy(conn, organization.id, enabled, max_literal)
    status = "on" if settings.enabled else "off"
    out.print(f"privacy masking: {status} (string literals over {settings.max_literal} chars)")


GLOSSARY_FILE = typer.Option(
    None,
    "--glossary-file",
    help="YAML glossary: a list of {term, meaning, synonyms} (replaces the glossary).",
)
BAN = typer.Option(None, "--ban", help="A word the documentation must not use (repeatable).")
UNBAN = typer.Option(None, "--unban", help="Allow a banned word again (repeatable).")


@app.command()
def style(
    org: str = typer.Argument(..., help="Organization name or id."),
    instructions: str | None = typer.Option(
        None, "--instructions", help="Extra writing instructions ('' removes them)."
    ),
    glossary_file: Path | None = GLOSSARY_FILE,
    ban: list[str] | None = BAN,
    unban: list[str] | None = UNBAN,
    clear: bool = typer.Option(False, "--clear", help="Remove the whole house style first."),
    as_json: bool = typer.Option(False, "--json", help="Print the style as JSON."),
) -> None:
    """Show or change the organization's house style (instructions, glossary, banned words).

    With no option it only shows the style. A change re-documents, on the next nightly run,
    every object whose prompt it changes (glossary terms: only the objects that mention them).
    """
    from docgen.db import policies
    from docgen.style import HouseStyle, load_glossary_file

    glossary = load_glossary_file(glossary_file) if glossary_file is not None else None
    changing = clear or instructions is not None or glossary is not None or ban or unban
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        current = HouseStyle() if clear else policies.get_style(conn, organization.id)
        if changing:
            removed = {w.lower() for w in unban or []}
            words = [w for w in [*current.banned_words, *(ban or [])] if w.lower() not in removed]
            updated = HouseStyle(
                instructions=current.instructions if instructions is None else instructions,
                glossary=current.glossary if glossary is None else glossary,
                banned_words=list(dict.fromkeys(w.strip() for w in words)),
            )
            current = policies.save_style(conn, organization.id, updated)
    if as_json:
        print_json(current.model_dump(mode="json"))
        return
    out.print(f"instructions: {current.instructions or '(none)'}")
    out.print(f"banned words: {', '.join(current.banned_words) or '(none)'}")
    out.print(f"glossary: {len(current.glossary)} terms")
    for term in current.glossary:
        also = f" (also: {', '.join(term.synonyms)})" if term.synonyms else ""
        out.print(f"  {term.term}{also}: {term.meaning}")


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
