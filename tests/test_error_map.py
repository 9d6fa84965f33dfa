"""Every third-party error we catch becomes a docgen error (one boundary per library)."""

from __future__ import annotations

import inspect

import httpx2
import openai
import psycopg
import pytest
import sqlalchemy as sa

from docgen.db.engine import translate
from docgen.errors import (
    APIKeyError,
    ContentFiltered,
    DatabaseUnavailable,
    InvalidJobState,
    InvalidLLMResponse,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    RepositoryError,
    StructuredOutputsRefused,
)
from docgen.providers.openai_compat import ERROR_MAP
from docgen.providers.openai_compat import translate as translate_openai

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
SECRET = "sk-mapped-" + "x" * 20


def make_openai_error(
    cls: type[Exception],
    status: int = 400,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> Exception:
    message = f"upstream said {SECRET}"
    if cls is openai.OAuthError:
        return cls(response=httpx2.Response(status, request=REQUEST), body=None)
    if cls in (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
        from openai.types import CompletionUsage
        from openai.types.chat import ChatCompletion

        completion = ChatCompletion(
            id="x",
            choices=[],
            created=0,
            model="gpt-4o",
            object="chat.completion",
            usage=CompletionUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        )
        return cls(completion=completion)
    if cls is openai.WebSocketConnectionClosedError:
        return cls(message, unsent_messages=[])
    if cls.__name__.startswith("_"):
        return cls()
    if issubclass(cls, openai.APIStatusError):
        response = httpx2.Response(status, request=REQUEST, headers=headers or {})
        return cls(message, response=response, body=body)
    if issubclass(cls, openai.APITimeoutError):
        return cls(request=REQUEST)
    if issubclass(cls, openai.APIConnectionError):
        return cls(message=message, request=REQUEST)
    if issubclass(cls, openai.APIResponseValidationError):
        return cls(httpx2.Response(200, request=REQUEST), body=None, message=message)
    if issubclass(cls, openai.APIError):
        return cls(message, REQUEST, body=None)
    return cls(message)


OPENAI_ERRORS = sorted(
    (
        obj
        for _, obj in inspect.getmembers(openai, inspect.isclass)
        if issubclass(obj, openai.OpenAIError)
    ),
    key=lambda c: c.__name__,
)


#: the docgen error each openai error becomes (a new SDK error class fails the test below
#: until it is placed here, so nothing falls into the catch-all row unnoticed)
EXPECTED: dict[str, type[ProviderError]] = {
    "APIConnectionError": ProviderUnavailable,
    "APIError": ProviderError,
    "APIResponseValidationError": InvalidLLMResponse,
    "APIStatusError": ProviderError,
    "APITimeoutError": ProviderUnavailable,
    "AuthenticationError": APIKeyError,
    "BadRequestError": ProviderError,
    "ConflictError": ProviderUnavailable,
    "ContentFilterFinishReasonError": ContentFiltered,
    "InternalServerError": ProviderUnavailable,
    "LengthFinishReasonError": InvalidLLMResponse,
    "NotFoundError": ProviderError,
    "OAuthError": APIKeyError,
    "OpenAIError": ProviderError,
    "PermissionDeniedError": APIKeyError,
    "RateLimitError": RateLimited,
    "UnprocessableEntityError": ProviderError,
    "WebSocketConnectionClosedError": ProviderError,
    "WebSocketQueueFullError": ProviderError,
    "_AmbiguousModuleClientUsageError": ProviderError,
}


@pytest.mark.parametrize("cls", OPENAI_ERRORS, ids=lambda c: c.__name__)
def test_every_openai_error_is_mapped(cls: type[Exception]) -> None:
    exc = make_openai_error(cls, 500 if cls is openai.InternalServerError else 400)
    error = translate_openai(exc, layer="business_rules", model="gpt-4o", secrets=(SECRET,))
    assert cls.__name__ in EXPECTED, f"{cls.__name__}: new SDK error, decide its docgen error"
    assert type(error) is EXPECTED[cls.__name__]
    assert SECRET not in str(error) and "\n" not in str(error)
    assert any(isinstance(exc, source) for source, _ in ERROR_MAP)


@pytest.mark.parametrize("status", [400, 422, 500])
def test_structured_outputs_refusal_is_recognised(status: int) -> None:
    cls = {400: openai.BadRequestError, 422: openai.UnprocessableEntityError}.get(
        status, openai.InternalServerError
    )
    response = httpx2.Response(status, request=REQUEST)
    exc = cls(
        "1 validation error:\n  response_format: json_schema not supported",
        response=response,
        body=None,
    )
    error = translate_openai(exc, layer="x", model="m", secrets=())
    assert type(error) is StructuredOutputsRefused and not error.retryable
    assert "json_schema not supported" in str(error)  # the cause, not only the first line


@pytest.mark.parametrize(
    ("cls", "status", "body", "headers", "expected", "retryable"),
    [
        (openai.AuthenticationError, 401, None, None, APIKeyError, False),
        (openai.PermissionDeniedError, 403, None, None, APIKeyError, False),
        (openai.RateLimitError, 429, None, {"retry-after": "7"}, RateLimited, True),
        (openai.RateLimitError, 429, {"code": "insufficient_quota"}, None, QuotaExceeded, False),
        (openai.InternalServerError, 503, None, None, ProviderUnavailable, True),
        (openai.NotFoundError, 404, None, None, ProviderError, False),
    ],
)
def test_status_mapping(cls, status, body, headers, expected, retryable) -> None:  # type: ignore[no-untyped-def]
    error = translate_openai(
        make_openai_error(cls, status, body, headers), layer="x", model="gpt-4o", secrets=(SECRET,)
    )
    assert type(error) is expected and error.retryable is retryable
    if headers:
        assert error.retry_after == 7.0  # type: ignore[attr-defined]


class _Diag:
    def __init__(self, message: str) -> None:
        self.message_primary = message


class _PgError(Exception):
    def __init__(self, sqlstate: str | None, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.diag = _Diag(message)


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (_PgError("DGN01", "documentation job x does not exist"), NotFound),
        (_PgError("DGJ01", "job x is completed and cannot become processing"), InvalidJobState),
        (
            _PgError("57P01", "terminating connection due to administrator command"),
            DatabaseUnavailable,
        ),
        (_PgError("08006", "connection failure"), DatabaseUnavailable),
        (_PgError("23505", "duplicate key value"), RepositoryError),
        (psycopg.OperationalError("connection refused"), DatabaseUnavailable),
    ],
)
def test_database_errors_are_mapped(orig: Exception, expected: type[Exception]) -> None:
    error = translate(sa.exc.DBAPIError("SELECT 1", {}, orig))  # type: ignore[arg-type]
    assert type(error) is expected
