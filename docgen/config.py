"""docgen's settings, one `BaseSettings` per concern, read from the environment.

Nothing else in docgen reads `os.environ`: it asks one of these classes. They are cheap to
build, so callers build them when needed (tests change the environment between cases).

Secrets may instead come from Prefect Secret blocks, for workers whose environment should not
hold them: DOCGEN_DATABASE_URL_SECRET_BLOCK and DOCGEN_MASTER_KEY_SECRET_BLOCK name a block
(names, not secrets, so they may sit in prefect.yaml's job variables) and
`SecretBlockSettingsSource` reads it when the variable itself is unset or empty. Nothing is
copied into `os.environ`. Prefect is imported only when a block is named.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from docgen.errors import InvalidInput

#: suffix of the variable that names a field's Secret block (DOCGEN_MASTER_KEY_SECRET_BLOCK)
BLOCK_SUFFIX = "_SECRET_BLOCK"


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


def read_secret_block(block: str, what: str) -> str:
    """The text in the Prefect Secret block `block` (stripped); a one-line InvalidInput naming
    `what` when it is missing, not a Secret, or empty. Values are kept for the process's
    life (`clear_secret_blocks()` forgets them), as an environment variable would be: a
    rotated secret reaches workers when they restart, and a flow's many settings objects
    cost one API call per block, not one each."""
    with _blocks_lock:
        if block in _blocks:
            return _blocks[block]
    from prefect.blocks.system import Secret

    try:
        # _sync: a plain call also from a flow's event loop (settings are built anywhere)
        secret: Any = Secret.load(block, _sync=True)  # type: ignore[call-arg]
    except (ValueError, TypeError) as exc:  # Prefect: no block of that name / not a Secret
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"{what}: Prefect Secret block {block!r} not found ({reason})") from None
    value = secret.get()
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what}: Prefect Secret block {block!r} holds no text")
    with _blocks_lock:
        _blocks[block] = value.strip()
    return value.strip()


#: Secret block values read in this process, by block name (see read_secret_block)
_blocks: dict[str, str] = {}
_blocks_lock = threading.Lock()


def clear_secret_blocks() -> None:
    """Forget the Secret block values read so far (tests; a long process after a rotation)."""
    with _blocks_lock:
        _blocks.clear()


class SecretBlockSettingsSource(PydanticBaseSettingsSource):
    """Fields of `secret_block_fields` from the Prefect Secret block named by
    `<ENV_PREFIX><FIELD>_SECRET_BLOCK`, unless `<ENV_PREFIX><FIELD>` itself is set (and not
    empty) or the field is passed as an argument (`given`): those win, as the variable did
    when the blocks were copied into the environment."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        fields: tuple[str, ...],
        given: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(settings_cls)
        self.prefix = str(settings_cls.model_config.get("env_prefix") or "").upper()
        self.fields = tuple(f for f in fields if f not in given)

    def block_variables(self) -> dict[str, tuple[str, str]]:
        """field -> (its variable, the variable naming its block), for the fields whose value
        this source supplies now."""
        chosen = {}
        for field in self.fields:
            variable = f"{self.prefix}{field.upper()}"
            if os.environ.get(variable, "").strip():
                continue
            if os.environ.get(variable + BLOCK_SUFFIX, "").strip():
                chosen[field] = (variable, variable + BLOCK_SUFFIX)
        return chosen

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        chosen = self.block_variables().get(field_name)
        if chosen is None:
            return None, field_name, False
        block = os.environ[chosen[1]].strip()
        return read_secret_block(block, chosen[1]), field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field, (_, block_variable) in self.block_variables().items():
            block = os.environ[block_variable].strip()
            values[field] = read_secret_block(block, block_variable)
        return values


class SecretBlockSettings(BaseSettings):
    """Settings whose `secret_block_fields` may come from Prefect Secret blocks."""

    secret_block_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # before env_settings: an empty DOCGEN_DATABASE_URL= counts as unset, so the block
        # fills it; the block source itself steps aside when the variable holds a value
        given = frozenset(getattr(init_settings, "init_kwargs", None) or ())
        blocks = SecretBlockSettingsSource(settings_cls, cls.secret_block_fields, given)
        return init_settings, blocks, env_settings, dotenv_settings, file_secret_settings


class DatabaseSettings(SecretBlockSettings, HomeSettings):
    """Which PostgreSQL docgen uses."""

    secret_block_fields: ClassVar[tuple[str, ...]] = ("database_url",)

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
    database_url_secret_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block holding the database URL, read when "
        "DOCGEN_DATABASE_URL is unset (workers whose environment should not hold it).",
    )

    @property
    def embedded(self) -> bool:
        return self.database_url is None or not self.database_url.get_secret_value().strip()


class SecuritySettings(SecretBlockSettings, HomeSettings):
    """The master key that encrypts organizations' API keys at rest."""

    secret_block_fields: ClassVar[tuple[str, ...]] = ("master_key",)

    master_key: SecretStr | None = Field(
        default=None,
        description=(
            "Base64 of 32 random bytes: the AES-256-GCM key for stored API keys. Unset with the "
            "embedded database: generated once into DOCGEN_HOME/master.key (mode 0600)."
        ),
    )
    master_key_secret_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block holding the master key, read when "
        "DOCGEN_MASTER_KEY is unset.",
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
