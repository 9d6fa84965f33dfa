"""Every error docgen raises on purpose, named by its cause.

    DocgenError
     ├── ConfigError               a setting is missing or malformed (master key, pricing)
     ├── InvalidInput              the user gave a value docgen cannot use (bad role, empty key,
     │                             empty selection, unknown option)
     ├── NotFound                  an organization, user, object, job or version does not exist
     ├── AlreadyExists             a unique name is taken (organization name)
     ├── PermissionDenied          the user is not an admin of the organization, or an object
     │                             belongs to another organization
     ├── InvalidJobState           a job cannot move to the asked status (terminal, already running)
     ├── RepositoryError           PostgreSQL failed in a way the caller cannot fix
     │    ├── DatabaseUnavailable  the server cannot be reached (wrong URL, down, restarting)
     │    └── MigrationError       an applied migration was edited or is missing, or the schema
     │                             is behind the code
     ├── KeyDecryptionError        a stored API key does not decrypt: wrong master key, tampered
     │                             ciphertext, or a key copied from another organization
     ├── ProviderError             the LLM call failed; `retryable` says if trying again may help
     │    ├── APIKeyError          401/403, or no key configured; never retried
     │    ├── QuotaExceeded        429 insufficient_quota: no credit left; never retried
     │    ├── RateLimited          429; carries `retry_after` seconds when the server sent one
     │    │    └── WaitTooLong     its Retry-After exceeds DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS:
     │    │                        not retried, the job pauses with the reason
     │    ├── ProviderUnavailable  5xx, timeouts, connection errors; retried
     │    │    └── ProviderDown     the endpoint refused connections several times in a row:
     │    │                         the provider is down, not the object; stops the job
     │    ├── StructuredOutputsRefused  the endpoint rejects response_format json_schema
     │    │                         (400/422/500 naming it); the provider switches to json_object
     │    ├── InvalidLLMResponse   broken or schema-violating JSON, finish_reason=length or a
     │    │    │                   runaway answer past the token cap; retried with a repair turn
     │    │    └── NotGrounded      the answer cites code or names the object does not have, or
     │    │                         copies the prompt's reference examples
     │    └── ContentFiltered      finish_reason=content_filter; not retried
     ├── JobInterrupted            the job was cancelled, or its runner is stopping, while a
     │                             call waited (rate limiter, Retry-After)
     ├── DocumentationGenerationError  a critical layer (summary, narrative) failed, so the
     │                             object gets no new documentation version
     └── SourceError               an ingestion source cannot be read (missing path, bad manifest)

Third-party errors (openai, sqlalchemy/psycopg, sqlglot) are translated into these at one
boundary each (`docgen.providers.openai_compat`, `docgen.db.engine`), with `raise ... from exc`.
Messages are one line, name what was wrong, and never contain a secret.
"""

from __future__ import annotations

from typing import Any


class DocgenError(Exception):
    """Base of every error docgen raises on purpose; the CLI prints its message as one line."""

    #: process exit code used by the CLI for this kind of error
    exit_code = 1


class ConfigError(DocgenError):
    """A setting is missing or malformed (environment variable, key file, pricing table)."""


class InvalidInput(DocgenError):
    """A value given by the user cannot be used (bad role, empty API key, empty selection)."""

    exit_code = 2


class NotFound(DocgenError):
    """An organization, user, object, job or documentation version does not exist."""


class AlreadyExists(DocgenError):
    """A name that must be unique is already taken."""


class PermissionDenied(DocgenError):
    """The acting user may not do this (not an admin, or the object is another org's)."""


class InvalidJobState(DocgenError):
    """A job cannot move to the requested status from the one it is in."""


class RepositoryError(DocgenError):
    """PostgreSQL failed in a way the caller cannot fix by changing its input."""


class DatabaseUnavailable(RepositoryError):
    """The PostgreSQL server cannot be reached (wrong URL, server down or restarting)."""


class MigrationError(RepositoryError):
    """The schema and the migration files disagree (edited or missing file, not upgraded)."""


class KeyDecryptionError(DocgenError):
    """A stored API key fails to decrypt: wrong master key, tampering, or another org's key."""


class ProviderError(DocgenError):
    """The LLM provider could not produce a usable answer for one call."""

    retryable: bool = False
    #: True when waiting is the only cure but the wait is too long for this run: the job
    #: pauses (resumable) instead of sleeping
    pauses_job: bool = False
    #: True when the error concerns the organization's credentials or account, so trying
    #: more objects is pointless and the whole job fails at once
    fails_job: bool = False

    def __init__(self, message: str, *, layer: str | None = None, usage: Any = None) -> None:
        super().__init__(message)
        self.layer = layer
        #: docgen.pricing.Usage of the answer that was rejected, when it consumed tokens
        self.usage = usage


class APIKeyError(ProviderError):
    """The provider refused the API key (401/403) or no key is configured; never retried."""

    retryable = False
    fails_job = True


class QuotaExceeded(ProviderError):
    """429 insufficient_quota: the account has no credit left; waiting does not help."""

    retryable = False
    fails_job = True


class RateLimited(ProviderError):
    """The provider answered 429; `retry_after` is the server's Retry-After in seconds."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, layer: str | None = None
    ) -> None:
        super().__init__(message, layer=layer)
        self.retry_after = retry_after


class WaitTooLong(RateLimited):
    """A 429 whose Retry-After is longer than DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS: rather
    than sleep for it, the object is given back and the job pauses with this message."""

    retryable = False
    pauses_job = True


class ProviderUnavailable(ProviderError):
    """A 5xx answer, a timeout or a broken connection; trying again may succeed."""

    retryable = True


class ProviderDown(ProviderUnavailable):
    """The endpoint refused or dropped connections several times in a row: the provider is
    down, not the object. Fails the job at once (naming the URL); the job can run again."""

    retryable = False
    fails_job = True


class StructuredOutputsRefused(ProviderError):
    """The endpoint rejected `response_format` json_schema (400, 422 or 500 naming it).

    The provider catches this itself, switches to json_object with validation and asks again;
    it only escapes when json_object is refused too.
    """

    retryable = False
    #: the server's words ("HTTP 500: 1 validation error: | response_format...")
    reason: str = ""


class InvalidLLMResponse(ProviderError):
    """The answer was not valid JSON, broke the layer's schema, or was cut off (length).

    `raw` keeps the first part of the offending text for the logs (secrets already removed).
    """

    retryable = True

    def __init__(
        self, message: str, *, raw: str = "", layer: str | None = None, usage: Any = None
    ) -> None:
        super().__init__(message, layer=layer, usage=usage)
        self.raw = raw[:2000]


class NotGrounded(InvalidLLMResponse):
    """The answer cites code the object does not contain, names columns or tables it does
    not have, or copies the prompt's reference examples (docgen.grounding), and a retry that
    named the problems did not fix it; not retried again."""

    retryable = False
    #: the grounding check's record for the per-layer log
    grounding: dict[str, Any] | None = None


class ContentFiltered(ProviderError):
    """The provider's content filter stopped the answer; the same prompt would be stopped again."""

    retryable = False


class JobInterrupted(DocgenError):
    """The job was cancelled, or its runner is shutting down (SIGTERM), while a call was
    waiting; the object is given back, nothing of it is stored."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a terminated process


class DocumentationGenerationError(DocgenError):
    """A critical layer failed for an object, so it gets no new documentation version."""

    def __init__(self, message: str, *, layer: str, outcomes: Any = None) -> None:
        super().__init__(message)
        self.layer = layer
        #: the layer outcomes so far (their usage still counts toward tokens and cost)
        self.outcomes = outcomes


class SourceError(DocgenError):
    """An ingestion source cannot be read: missing path, malformed manifest, unreachable DB."""
