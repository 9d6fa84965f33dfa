"""docgen's settings, one `BaseSettings` per concern, all read from the environment.

Nothing else in docgen reads `os.environ`: it asks one of these classes. They are cheap to
build, so callers build them when needed (tests change the environment between cases).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("docgen", appauthor=False))


class HomeSettings(BaseSettings):
    """Where docgen keeps its local state (embedded database, generated master key)."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Directory for the embedded PostgreSQL data and the generated master key.",
    )

    @field_validator("home")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class DatabaseSettings(HomeSettings):
    """Which PostgreSQL docgen uses."""

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "PostgreSQL URL (postgresql://user:pass@host:port/db). Unset: an embedded "
            "PostgreSQL under DOCGEN_HOME, started on first use."
        ),
    )
    connect_timeout: int = Field(
        default=5, ge=1, description="Seconds to wait for a PostgreSQL connection."
    )
    pool_size: int = Field(
        default=10, ge=1, description="Connections kept open per process (jobs use one each)."
    )

    @property
    def embedded(self) -> bool:
        return self.database_url is None or not self.database_url.get_secret_value().strip()


class SecuritySettings(HomeSettings):
    """The master key that encrypts organizations' API keys at rest."""

    master_key: SecretStr | None = Field(
        default=None,
        description=(
            "Base64 of 32 random bytes: the AES-256-GCM key for stored API keys. Unset with the "
            "embedded database: generated once into DOCGEN_HOME/master.key (mode 0600)."
        ),
    )


class LLMSettings(BaseSettings):
    """Defaults for LLM calls that an organization's own settings do not override."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_LLM_", extra="ignore")

    default_model: str = Field(default="gpt-4o", description="Model used when an org sets none.")
    request_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds before one LLM request is abandoned, for answers of up to 800 "
        "tokens; layers with a bigger token cap get proportionally more.",
    )
    retry_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Base of the exponential backoff between retries of a layer call "
        "(1, 2, 4... seconds times this factor, with jitter).",
    )
    max_retry_after_seconds: float = Field(
        default=300.0,
        ge=0,
        description="The longest Retry-After (seconds) a job waits out after a 429. A "
        "longer one pauses the job with the reason instead of sleeping (resume it later "
        "with `docgen jobs resume`).",
    )
    pricing_file: Path | None = Field(
        default=None,
        description=(
            "JSON file {model: {input, output, cached_input}} in USD per 1M tokens, merged over "
            "the built-in table."
        ),
    )


class ResultStorageSettings(BaseSettings):
    """Where the flows keep cached layer results (the Prefect task result cache)."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_", extra="ignore")

    result_storage_block: str | None = Field(
        default=None,
        description=(
            "A Prefect filesystem block, as 'block-type/block-name' (e.g. "
            "'local-file-system/docgen-results', 's3-bucket/docgen-cache'), that holds the "
            "cached layer results. Unset: Prefect's default result storage, the directory "
            "PREFECT_LOCAL_STORAGE_PATH (~/.prefect/storage) on the disk of the process that "
            "ran the task."
        ),
    )

    @field_validator("result_storage_block")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        kind, _, name = value.strip().partition("/")
        if not kind or not name or "/" in name:
            raise ValueError(
                f"DOCGEN_RESULT_STORAGE_BLOCK must be 'block-type/block-name', got {value!r}"
            )
        return value.strip()


class DbtRenderSettings(BaseSettings):
    """Bounds on rendering an untrusted dbt project's Jinja (folder route)."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_DBT_", extra="ignore")

    render_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Seconds one model or macro file may take to render."
    )
    render_memory_mb: int = Field(
        default=1024, ge=128, description="Address space of each rendering process (MB)."
    )
    render_workers: int = Field(
        default=2, ge=1, le=64, description="Rendering processes working at the same time."
    )
    render_max_failures: int = Field(
        default=5,
        ge=1,
        description="Files hitting a limit before the rest of the project is left unrendered.",
    )


#: `env_var()` in a dbt project sees these variables only (never DBT_ENV_SECRET_*)
DBT_ENV_PREFIX = "DBT_"


def dbt_env_vars() -> dict[str, str]:
    """The environment a dbt project's `env_var()` may read: `DBT_*` variables, except dbt's
    own secret ones. docgen's process holds API keys and database passwords; a project must
    not copy them into the code that reaches the LLM."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith(DBT_ENV_PREFIX) and not name.startswith("DBT_ENV_SECRET")
    }


class PrefectEnvironment(BaseSettings):
    """The Prefect settings docgen looks at to decide where flows report (read only)."""

    model_config = SettingsConfigDict(env_prefix="PREFECT_", extra="ignore")

    api_url: str | None = Field(
        default=None, description="A Prefect server; unset means Prefect's ephemeral server."
    )
    api_database_connection_url: str | None = Field(
        default=None, description="The database of the ephemeral server, when set by the user."
    )


class ServeSettings(BaseSettings):
    """`docgen serve`: the nightly schedule and the local Prefect server it may start."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_NIGHTLY_", extra="ignore")

    cron: str = Field(default="0 2 * * *", description="When nightly re-documentation runs.")
    timezone: str = Field(default="UTC", description="Time zone of the cron expression.")
    organization: str | None = Field(
        default=None, description="Only this organization (name or id); unset: all of them."
    )
    prefect_port: int = Field(
        default=4200,
        description="Port of the local Prefect server `docgen serve` starts when "
        "PREFECT_API_URL is unset.",
    )


class CLISettings(BaseSettings):
    """How the command line reports."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_CLI_", extra="ignore")

    progress_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between progress lines of `docgen run|jobs run` when stderr is "
        "not a terminal (logs, CI); a terminal gets a live progress bar.",
    )
