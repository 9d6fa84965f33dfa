"""Azure OpenAI: the OpenAI provider with the SDK's `AzureOpenAI` client injected.

The request shape is the OpenAI provider's (same messages, structured outputs, limits); what
differs is where requests go and how failures read:

- the client is built for one resource endpoint and one deployment: chat completions go to
  `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V` with the key in
  an `api-key` header; files and batches go to `{endpoint}/openai/files|batches`;
- `model` stays the model behind the deployment (pricing, `generated_by_model`);
- Azure's own failures get their own messages (AZURE_ERRORS): 404 DeploymentNotFound names
  the deployment and the endpoint, a 400 with code `content_filter` (the prompt tripped
  Azure's content filter) is ContentFiltered (the same prompt would be stopped again), and a
  404 naming the api-version says which one is unsupported.
"""

from __future__ import annotations

from typing import Any

import openai

from docgen.errors import ContentFiltered, ProviderError
from docgen.providers.breaker import CONNECT_TIMEOUT
from docgen.providers.openai_compat import OpenAICompatibleProvider
from docgen.providers.openai_errors import _detail

#: Azure error code -> (docgen error, what it means); checked before the OpenAI mapping
AZURE_ERRORS: dict[str, tuple[type[ProviderError], str]] = {
    "DeploymentNotFound": (ProviderError, "deployment {deployment!r} not found at {endpoint}"),
    "content_filter": (ContentFiltered, "Azure's content filter stopped the prompt"),
    "ResponsibleAIPolicyViolation": (
        ContentFiltered,
        "Azure's content filter stopped the prompt",
    ),
    "OperationNotSupported": (
        ProviderError,
        "deployment {deployment!r} does not support this operation",
    ),
}


def azure_error_code(exc: Exception) -> str | None:
    """The `error.code` of an Azure error body (None for anything else)."""
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    if isinstance(code, str):
        return code
    return None


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """One Azure OpenAI deployment."""

    name = "azure"

    def __init__(
        self,
        *,
        api_key: str,
        endpoint: str,
        deployment: str,
        api_version: str,
        model: str,
        timeout: float = 120.0,
        **options: Any,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.deployment = deployment
        self.api_version = api_version
        client = openai.AzureOpenAI(
            api_key=api_key,
            azure_endpoint=self.endpoint,
            azure_deployment=deployment,
            api_version=api_version,
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=CONNECT_TIMEOUT),
        )
        super().__init__(
            api_key=api_key,
            model=model,
            base_url=self.endpoint,
            timeout=timeout,
            client=client,
            **options,
        )
        # Azure speaks OpenAI's current API: max_completion_tokens alone; it has no
        # prompt_cache_key routing, so that parameter is not sent
        self.official = True
        self.prompt_cache_key = False

    def translate(self, exc: Exception, layer: str) -> ProviderError:
        code = azure_error_code(exc)
        known = AZURE_ERRORS.get(code or "")
        if known is None:
            return super().translate(exc, layer)
        target, what = known
        status = getattr(exc, "status_code", None)
        detail = _detail(exc, self._secrets)
        where = f"{layer}: " if layer else ""
        message = what.format(deployment=self.deployment, endpoint=self.endpoint)
        error = target(f"{where}{message} ({status} {code}): {detail}", layer=layer or None)
        if code == "DeploymentNotFound":
            error.fails_job = True  # every object would hit the same missing deployment
        return error
