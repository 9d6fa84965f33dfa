"""Azure OpenAI through the SDK's AzureOpenAI client, against the fake server's Azure routes
(/openai/deployments/{deployment}/chat/completions?api-version=..., key in `api-key`)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from docgen.crypto import load_master_key
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.errors import ContentFiltered, InvalidInput, ProviderError
from docgen.layers import LAYER_NAMES
from docgen.providers.azure import AzureOpenAIProvider
from docgen.service import DocumentationGenerationService, build_provider
from tests.conftest import OrgFixture
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI, Fault

KEY = "azure-key-0123456789abcdef"
VERSION = "2024-10-21"


def use_azure(
    engine: Engine, org: OrgFixture, server: FakeOpenAI, deployment: str = "docgen-gpt4o"
) -> None:
    with transaction(engine) as conn:
        orgs.set_provider(
            conn,
            org.id,
            "azure",
            base_url=server.origin,
            azure_deployment=deployment,
            azure_api_version=VERSION,
        )
        orgs.set_api_key(conn, org.id, KEY, load_master_key())


def test_six_layers_through_the_deployment_route(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_azure(engine, org, fake_openai)
    obj = make_object(engine, org)
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    stored = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))

    assert len(fake_openai.completions) == 6
    for record in fake_openai.completions:
        assert record.headers.get("api-key") == KEY
        assert "authorization" not in {h.lower() for h in record.headers}
        # the OpenAI provider's request shape: strict structured outputs, one cap
        assert record.body["response_format"]["json_schema"]["strict"] is True
        assert "max_tokens" not in record.body and "prompt_cache_key" not in record.body
    assert stored.generated_by_model == "gpt-4o"
    assert all(getattr(stored, layer) for layer in LAYER_NAMES)


def test_a_missing_deployment_fails_the_job_with_its_name(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_azure(engine, org, fake_openai, deployment="no-such-deployment")
    with transaction(engine) as conn:
        settings = orgs.get_llm_settings(conn, org.id)
    provider = build_provider(settings).inner  # the endpoint, not the grounding check
    assert isinstance(provider, AzureOpenAIProvider)
    try:
        checks = provider.verify()
    finally:
        provider.close()
    failed = [c for c in checks if c.ok is False]
    assert failed and "no-such-deployment" in failed[0].detail
    assert "DeploymentNotFound" in failed[0].detail
    assert KEY not in repr(checks)


def test_content_filter_400_is_content_filtered(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_azure(engine, org, fake_openai)
    obj = make_object(engine, org)
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    fake_openai.enqueue(Fault.azure_content_filter())
    with pytest.raises(ContentFiltered) as caught:
        service.generate_layer(service.fetch_object_metadata(obj.id), "executive_summary")
    service.close()
    assert "content filter" in str(caught.value) and not caught.value.retryable
    assert KEY not in str(caught.value)


def test_set_provider_azure_needs_all_three_settings(engine: Engine, org: OrgFixture) -> None:
    with transaction(engine) as conn, pytest.raises(InvalidInput, match="--api-version"):
        orgs.set_provider(
            conn, org.id, "azure", base_url="https://x.openai.azure.com", azure_deployment="d"
        )
    with transaction(engine) as conn, pytest.raises(InvalidInput, match="--deployment must"):
        orgs.set_provider(
            conn,
            org.id,
            "azure",
            base_url="https://x.openai.azure.com",
            azure_deployment="bad name",
            azure_api_version=VERSION,
        )
    with transaction(engine) as conn:
        assert orgs.get_llm_settings(conn, org.id).provider == "openai"  # nothing changed


def test_cli_set_provider_azure_then_back_to_openai(cli, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    done = cli(
        "org",
        "set-provider",
        org.name,
        "azure",
        "--endpoint",
        "https://acme.openai.azure.com",
        "--deployment",
        "docs-4o",
        "--api-version",
        VERSION,
    )
    assert done.returncode == 0, done.stderr
    assert "deployment docs-4o" in " ".join(done.stderr.split())
    shown = cli("org", "show", org.name, "--json")
    assert '"provider": "azure"' in shown.stdout and '"azure_deployment": "docs-4o"' in shown.stdout
    wrong = cli("org", "set-provider", org.name, "openai", "--endpoint", "https://a.example")
    assert wrong.returncode == 2 and "--endpoint only applies" in wrong.stderr
    back = cli("org", "set-provider", org.name, "openai")
    assert back.returncode == 0, back.stderr
    shown = cli("org", "show", org.name, "--json")
    assert '"base_url": null' in shown.stdout  # the Azure endpoint is not an OpenAI URL


def test_azure_errors_are_mapped() -> None:
    """Every Azure code we name maps to a docgen error (ProviderError subclasses)."""
    from docgen.providers.azure import AZURE_ERRORS

    assert AZURE_ERRORS["content_filter"][0] is ContentFiltered
    assert all(issubclass(target, ProviderError) for target, _ in AZURE_ERRORS.values())
