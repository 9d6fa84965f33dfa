"""OpenAI Batch API for documentation jobs: the JSONL file, the batch, and its answers.

A job in batch mode asks every layer of every pending object in one batch file instead of
one synchronous call each (50% cheaper at OpenAI, outside the organization's rate limits):

1. `batch_lines` writes one line per (object, layer): `custom_id` = "OBJECT_ID:layer", the
   body exactly what the synchronous path sends (`OpenAICompatibleProvider.chat_request`);
2. `BatchClient.submit` uploads it (files, purpose "batch") and creates the batch
   (`/v1/chat/completions`, completion window 24h); the caller stores the batch id on the job
   *before* anything else, so a crashed run reattaches instead of submitting twice;
3. `BatchClient.poll` reads the batch's status and request counts;
4. `BatchClient.answers` downloads the output file: custom_id -> the chat completion body;
5. `BatchAnsweringProvider` wraps the organization's provider: a layer request whose answer
   is in the batch (same custom_id, same prompt) is answered from it and goes through the
   provider's own validation (`_result`); a failed or expired line, a changed prompt or a
   repair retry is asked synchronously.

Boundary: openai exceptions become docgen errors through the provider's `translate`.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import openai
from openai.types.chat import ChatCompletion

from docgen.layers import LayerName
from docgen.pricing import BATCH_SUFFIX, Usage
from docgen.providers.azure import AzureOpenAIProvider
from docgen.providers.base import LayerRequest, LayerResult
from docgen.providers.openai_compat import OpenAICompatibleProvider

#: the Batch API endpoint docgen's lines go to (the window is 24h, the only one offered)
BATCH_ENDPOINT = "/v1/chat/completions"
#: batch statuses after which nothing changes any more
FINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})


def compatible_provider(provider: Any) -> OpenAICompatibleProvider | None:
    """The OpenAI-compatible provider inside `provider`'s wrappers (grounding, batch
    answers, one call), or None (the offline analyser)."""
    for _ in range(8):
        if isinstance(provider, OpenAICompatibleProvider):
            return provider
        provider = vars(provider).get("inner") if hasattr(provider, "__dict__") else None
        if provider is None:
            return None
    return None


def custom_id(object_id: UUID | str, layer: LayerName) -> str:
    return f"{object_id}:{layer}"


def body_digest(body: dict[str, Any]) -> str:
    """Identifies a request body: a batch answer is used only for the same prompt."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def batch_line(provider: OpenAICompatibleProvider, object_id: UUID, request: LayerRequest) -> str:
    """One JSONL line: the synchronous request for this layer, under its custom_id (Azure:
    the line names the deployment as its model, and the path without /v1)."""
    body = provider.chat_request(request)
    if isinstance(provider, AzureOpenAIProvider):
        body["model"] = provider.deployment
    return json.dumps(
        {
            "custom_id": custom_id(object_id, request.layer),
            "method": "POST",
            "url": endpoint_for(provider),
            "body": body,
        },
        separators=(",", ":"),
    )


def endpoint_for(provider: OpenAICompatibleProvider) -> str:
    """The batch endpoint: OpenAI's /v1/chat/completions, Azure's /chat/completions."""
    if isinstance(provider, AzureOpenAIProvider):
        return "/chat/completions"
    return BATCH_ENDPOINT


def batch_file(lines: Iterable[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class BatchStatus:
    """What the provider says about a batch (shown as the job's `waiting_for_batch`)."""

    id: str
    status: str
    total: int
    completed: int
    failed: int
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def as_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.id,
            "status": self.status,
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
        }


class BatchClient:
    """Files and batches through the provider's own SDK client (OpenAI or Azure)."""

    def __init__(self, provider: OpenAICompatibleProvider) -> None:
        self.provider = provider
        self._client = provider._client

    def submit(self, content: bytes, metadata: dict[str, str] | None = None) -> BatchStatus:
        try:
            uploaded = self._client.files.create(
                file=("docgen-batch.jsonl", io.BytesIO(content)), purpose="batch"
            )
            batch = self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint=endpoint_for(self.provider),  # type: ignore[arg-type]
                completion_window="24h",
                metadata=metadata or {},
            )
        except openai.OpenAIError as exc:
            raise self.provider.translate(exc, "batch") from None
        return _status(batch)

    def poll(self, batch_id: str) -> BatchStatus:
        try:
            return _status(self._client.batches.retrieve(batch_id))
        except openai.OpenAIError as exc:
            raise self.provider.translate(exc, "batch") from None

    def cancel(self, batch_id: str) -> BatchStatus:
        try:
            return _status(self._client.batches.cancel(batch_id))
        except openai.OpenAIError as exc:
            raise self.provider.translate(exc, "batch") from None

    def answers(self, status: BatchStatus) -> dict[str, dict[str, Any]]:
        """custom_id -> the chat completion body, for every line that succeeded."""
        if not status.output_file_id:
            return {}
        try:
            text = self._client.files.content(status.output_file_id).text
        except openai.OpenAIError as exc:
            raise self.provider.translate(exc, "batch") from None
        return parse_output(text)


def parse_output(text: str) -> dict[str, dict[str, Any]]:
    """The successful answers of a batch output file (status 200 lines with a body)."""
    answers: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        response = item.get("response") or {}
        if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
            answers[str(item["custom_id"])] = response["body"]
    return answers


def _status(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    return BatchStatus(
        id=batch.id,
        status=batch.status,
        total=counts.total if counts else 0,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
    )


@dataclass
class BatchAnswers:
    """The answers of one batch, each used at most once, and how they were used."""

    #: custom_id -> chat completion body
    bodies: dict[str, dict[str, Any]]
    #: custom_id -> digest of the request body the line was submitted with
    digests: dict[str, str]
    used: int = 0
    synchronous: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, digest: str) -> dict[str, Any] | None:
        with self._lock:
            if self.digests.get(key) != digest:
                self.bodies.pop(key, None)
                self.synchronous += 1
                return None
            body = self.bodies.pop(key, None)
            if body is None:
                self.synchronous += 1
            else:
                self.used += 1
            return body


class BatchAnsweringProvider:
    """The organization's provider, answering from a finished batch where it can."""

    def __init__(self, inner: OpenAICompatibleProvider, answers: BatchAnswers) -> None:
        self.inner = inner
        self.answers = answers
        self.name = inner.name
        self.model = inner.model

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def generate(self, request: LayerRequest) -> LayerResult:
        if request.repair is None:
            object_id = request.context.object.id
            key = custom_id(object_id, request.layer)
            body = self.answers.take(key, body_digest(self.inner.chat_request(request)))
            if body is not None:
                response = ChatCompletion.model_validate(body)
                result = self.inner._result(request, response, 0, Usage())
                # priced as the configured model at the batch price (an Azure answer names
                # the deployment's model version, the estimate used the configured model)
                return replace(result, model=f"{self.inner.model}{BATCH_SUFFIX}")
        return self.inner.generate(request)

    def close(self) -> None:
        self.inner.close()
