"""Organizations, their users and roles, and their LLM settings (API key encrypted)."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from docgen import crypto
from docgen.errors import (
    AlreadyExists,
    APIKeyError,
    InvalidInput,
    KeyDecryptionError,
    NotFound,
    PermissionDenied,
)

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")
Provider = Literal["openai", "azure", "offline"]
PROVIDERS: tuple[Provider, ...] = ("openai", "azure", "offline")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class Organization(BaseModel):
    id: UUID
    name: str
    created_at: datetime


class User(BaseModel):
    id: UUID
    email: str
    is_system: bool


class OrgLLMSettings(BaseModel):
    """An organization's LLM settings; the API key stays encrypted in `encrypted_key`."""

    organization_id: UUID
    provider: Provider
    base_url: str | None
    model: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    structured_outputs: bool
    #: why docgen switched to json_object on its own (the endpoint refused json_schema)
    structured_outputs_refused: str | None = None
    #: requests sent to the endpoint at the same time (1: a single-slot local server)
    max_concurrent_requests: int | None = None
    #: USD per 1M tokens for this organization's model, over the pricing table
    input_price_per_million: Decimal | None = None
    output_price_per_million: Decimal | None = None
    encrypted_key: crypto.EncryptedKey | None = None
    #: provider azure: the deployment requests go to, and the api-version query parameter
    azure_deployment: str | None = None
    azure_api_version: str | None = None

    model_config = {"arbitrary_types_allowed": True}

    @property
    def has_api_key(self) -> bool:
        return self.encrypted_key is not None


def _parse_uuid(ref: str) -> UUID | None:
    try:
        return UUID(str(ref))
    except ValueError:
        return None


# --- organizations -------------------------------------------------------------------------


def create_organization(conn: Connection, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise InvalidInput("organization name is empty")
    if len(name) > 200:
        raise InvalidInput("organization name is longer than 200 characters")
    exists = conn.execute(
        sa.text("SELECT 1 FROM enterprise.organizations WHERE lower(name) = lower(:n)"),
        {"n": name},
    ).first()
    if exists:
        raise AlreadyExists(f"an organization named {name!r} already exists")
    try:
        with conn.begin_nested():
            row = conn.execute(
                sa.text(
                    "INSERT INTO enterprise.organizations (name) VALUES (:n)"
                    " RETURNING id, name, created_at"
                ),
                {"n": name},
            ).one()
    except sa.exc.IntegrityError:
        raise AlreadyExists(f"an organization named {name!r} already exists") from None
    conn.execute(
        sa.text("INSERT INTO enterprise.organization_llm_settings (organization_id) VALUES (:o)"),
        {"o": row.id},
    )
    return Organization.model_validate(row._mapping)


def get_organization(conn: Connection, ref: str | UUID) -> Organization:
    """An organization by id or by (case-insensitive) name."""
    as_uuid = ref if isinstance(ref, UUID) else _parse_uuid(ref)
    if as_uuid is not None:
        row = conn.execute(
            sa.text("SELECT id, name, created_at FROM enterprise.organizations WHERE id = :i"),
            {"i": as_uuid},
        ).first()
    else:
        row = conn.execute(
            sa.text(
                "SELECT id, name, created_at FROM enterprise.organizations"
                " WHERE lower(name) = lower(:n)"
            ),
            {"n": str(ref).strip()},
        ).first()
    if row is None:
        raise NotFound(f"unknown organization {str(ref)!r}")
    return Organization.model_validate(row._mapping)


def list_organizations(conn: Connection) -> list[Organization]:
    rows = conn.execute(
        sa.text("SELECT id, name, created_at FROM enterprise.organizations ORDER BY name")
    )
    return [Organization.model_validate(r._mapping) for r in rows]


# --- users and roles -----------------------------------------------------------------------


def add_user(
    conn: Connection, organization_id: UUID, email: str, role: str, *, is_system: bool = False
) -> User:
    """Add (or re-role) a user in an organization; the same email is the same user everywhere."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an email address")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    row = conn.execute(
        sa.text(
            "INSERT INTO enterprise.users (email, is_system) VALUES (:e, :s)"
            " ON CONFLICT (lower(email)) DO UPDATE SET email = enterprise.users.email"
            " RETURNING id, email, is_system"
        ),
        {"e": email, "s": is_system},
    ).one()
    conn.execute(
        sa.text(
            "INSERT INTO enterprise.organization_members (organization_id, user_id, role)"
            " VALUES (:o, :u, :r)"
            " ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role"
        ),
        {"o": organization_id, "u": row.id, "r": role},
    )
    return User.model_validate(row._mapping)


def get_user(conn: Connection, ref: str | UUID) -> User:
    """A user by id or by (case-insensitive) email."""
    as_uuid = ref if isinstance(ref, UUID) else _parse_uuid(ref)
    if as_uuid is not None:
        query = "SELECT id, email, is_system FROM enterprise.users WHERE id = :v"
        value: object = as_uuid
    else:
        query = "SELECT id, email, is_system FROM enterprise.users WHERE lower(email) = lower(:v)"
        value = str(ref).strip()
    row = conn.execute(sa.text(query), {"v": value}).first()
    if row is None:
        raise NotFound(f"unknown user {str(ref)!r}")
    return User.model_validate(row._mapping)


class Member(BaseModel):
    """A user of an organization, with their role there."""

    id: UUID
    email: str
    role: Role
    is_system: bool


def list_members(conn: Connection, organization_id: UUID) -> list[Member]:
    """The organization's users, admins first, then by email."""
    rows = conn.execute(
        sa.text(
            "SELECT u.id, u.email, m.role, u.is_system FROM enterprise.organization_members AS m"
            " JOIN enterprise.users AS u ON u.id = m.user_id WHERE m.organization_id = :o"
            " ORDER BY m.role = 'admin' DESC, lower(u.email)"
        ),
        {"o": organization_id},
    )
    return [Member.model_validate(r._mapping) for r in rows]


def get_role(conn: Connection, organization_id: UUID, user_id: UUID) -> Role | None:
    role = conn.execute(
        sa.text(
            "SELECT role FROM enterprise.organization_members"
            " WHERE organization_id = :o AND user_id = :u"
        ),
        {"o": organization_id, "u": user_id},
    ).scalar()
    return role


def require_admin(conn: Connection, organization: Organization, user: User) -> None:
    """Raise PermissionDenied unless `user` is an admin of `organization`."""
    role = get_role(conn, organization.id, user.id)
    if role != "admin":
        what = "not a member" if role is None else f"a {role}, not an admin"
        raise PermissionDenied(f"user {user.email} is {what} of organization {organization.name}")


# --- LLM settings and the API key ----------------------------------------------------------

_SETTINGS_COLUMNS = (
    "organization_id, provider, base_url, model, requests_per_minute, tokens_per_minute,"
    " structured_outputs, structured_outputs_refused, max_concurrent_requests,"
    " input_price_per_million, output_price_per_million, api_key_ciphertext, api_key_nonce,"
    " azure_deployment, azure_api_version"
)

_AZURE_DEPLOYMENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_AZURE_API_VERSION = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")


def get_llm_settings(conn: Connection, organization_id: UUID) -> OrgLLMSettings:
    row = conn.execute(
        sa.text(
            f"SELECT {_SETTINGS_COLUMNS} FROM enterprise.organization_llm_settings"
            " WHERE organization_id = :o"
        ),
        {"o": organization_id},
    ).first()
    if row is None:
        raise NotFound(f"unknown organization {organization_id}")
    data = dict(row._mapping)
    ciphertext, nonce = data.pop("api_key_ciphertext"), data.pop("api_key_nonce")
    if ciphertext is not None:
        data["encrypted_key"] = crypto.EncryptedKey(
            nonce=bytes(nonce), ciphertext=bytes(ciphertext)
        )
    return OrgLLMSettings.model_validate(data)


def set_provider(
    conn: Connection,
    organization_id: UUID,
    provider: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    structured_outputs: bool | None = None,
    max_concurrent_requests: int | None = None,
    input_price_per_million: Decimal | None = None,
    output_price_per_million: Decimal | None = None,
    azure_deployment: str | None = None,
    azure_api_version: str | None = None,
) -> OrgLLMSettings:
    """Change an organization's provider settings; options left None keep their value.

    Choosing structured outputs or json_object by hand forgets a refusal docgen recorded.
    Provider azure needs an endpoint (base_url), a deployment and an api-version, given now
    or kept from before.
    """
    if provider not in PROVIDERS:
        raise InvalidInput(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    if base_url is not None and not re.match(r"^https?://\S+$", base_url):
        raise InvalidInput(f"base URL must start with http:// or https://, not {base_url!r}")
    if model is not None and not model.strip():
        raise InvalidInput("model name is empty")
    for label, value in (
        ("--rpm", requests_per_minute),
        ("--tpm", tokens_per_minute),
        ("--max-concurrent-requests", max_concurrent_requests),
    ):
        if value is not None and value <= 0:
            raise InvalidInput(f"{label} must be a positive number, not {value}")
    for label, price in (
        ("--input-price", input_price_per_million),
        ("--output-price", output_price_per_million),
    ):
        if price is not None and (not price.is_finite() or price < 0 or price >= 10**8):
            raise InvalidInput(f"{label} must be USD per 1M tokens, 0 or more, not {price}")
    current = get_llm_settings(conn, organization_id)  # NotFound for an unknown org
    _check_azure(current, provider, base_url, azure_deployment, azure_api_version)
    conn.execute(
        sa.text(
            "UPDATE enterprise.organization_llm_settings SET provider = :p,"
            " azure_deployment = coalesce(:ad, azure_deployment),"
            " azure_api_version = coalesce(:av, azure_api_version),"
            " base_url = CASE WHEN :leave_azure THEN CAST(:b AS text)"
            " ELSE coalesce(:b, base_url) END, model = coalesce(:m, model),"
            " requests_per_minute = coalesce(:rpm, requests_per_minute),"
            " tokens_per_minute = coalesce(:tpm, tokens_per_minute),"
            " structured_outputs = coalesce(:so, structured_outputs),"
            " structured_outputs_refused = CASE WHEN CAST(:so AS boolean) IS NULL"
            " THEN structured_outputs_refused END,"
            " max_concurrent_requests = coalesce(:mcr, max_concurrent_requests),"
            " input_price_per_million = coalesce(:pin, input_price_per_million),"
            " output_price_per_million = coalesce(:pout, output_price_per_million),"
            " updated_at = now() WHERE organization_id = :o"
        ),
        {
            "p": provider,
            "b": base_url,
            "m": model.strip() if model else None,
            "rpm": requests_per_minute,
            "tpm": tokens_per_minute,
            "so": structured_outputs,
            "mcr": max_concurrent_requests,
            "pin": input_price_per_million,
            "pout": output_price_per_million,
            # an Azure endpoint is no OpenAI base URL: leaving azure forgets it
            "leave_azure": current.provider == "azure" and provider != "azure",
            "ad": azure_deployment,
            "av": azure_api_version,
            "o": organization_id,
        },
    )
    return get_llm_settings(conn, organization_id)


def _check_azure(
    current: OrgLLMSettings,
    provider: str,
    endpoint: str | None,
    deployment: str | None,
    api_version: str | None,
) -> None:
    """InvalidInput naming the missing or malformed Azure setting."""
    if provider != "azure":
        if deployment is not None or api_version is not None:
            raise InvalidInput("--deployment and --api-version only apply to provider azure")
        return
    if deployment is not None and not _AZURE_DEPLOYMENT.match(deployment):
        raise InvalidInput(
            f"--deployment must be an Azure deployment name (letters, digits, . _ -), "
            f"not {deployment!r}"
        )
    if api_version is not None and not _AZURE_API_VERSION.match(api_version):
        raise InvalidInput(
            f"--api-version must look like 2024-10-21 or 2025-03-01-preview, not {api_version!r}"
        )
    missing = [
        flag
        for flag, given, kept in (
            ("--endpoint", endpoint, current.base_url if current.provider == "azure" else None),
            ("--deployment", deployment, current.azure_deployment),
            ("--api-version", api_version, current.azure_api_version),
        )
        if given is None and kept is None
    ]
    if missing:
        raise InvalidInput(f"provider azure needs {', '.join(missing)}")


def remember_structured_outputs_refused(
    conn: Connection, organization_id: UUID, reason: str
) -> None:
    """The endpoint refused json_schema: use json_object + validation from now on, and keep
    why (shown by `org show` and `org verify-key`; cleared by choosing a mode by hand)."""
    conn.execute(
        sa.text(
            "UPDATE enterprise.organization_llm_settings SET structured_outputs = false,"
            " structured_outputs_refused = :r, updated_at = now() WHERE organization_id = :o"
        ),
        {"r": reason[:1000], "o": organization_id},
    )


def set_api_key(conn: Connection, organization_id: UUID, api_key: str, master_key: bytes) -> None:
    """Store `api_key` encrypted for the organization's OpenAI-compatible provider."""
    api_key = api_key.strip()
    if not api_key:
        raise InvalidInput("the API key is empty (nothing was read from stdin)")
    if any(ch.isspace() for ch in api_key):
        raise InvalidInput("the API key contains whitespace; give exactly one key on stdin")
    get_llm_settings(conn, organization_id)  # NotFound for an unknown org
    encrypted = crypto.encrypt_api_key(api_key, organization_id, "openai", master_key)
    conn.execute(
        sa.text(
            "UPDATE enterprise.organization_llm_settings SET api_key_ciphertext = :c,"
            " api_key_nonce = :n, api_key_updated_at = now(), updated_at = now()"
            " WHERE organization_id = :o"
        ),
        {"c": encrypted.ciphertext, "n": encrypted.nonce, "o": organization_id},
    )


#: moved to docgen.crypto (the key it counts ciphertexts of); kept for callers here
count_encrypted_keys = crypto.count_encrypted_keys


def check_provider_ready(organization: Organization, settings: OrgLLMSettings) -> None:
    """Raise, with the command that fixes it, when the organization's provider cannot run a
    job: `openai` needs a stored API key that decrypts with the current master key; the
    offline analyser needs nothing. Makes no network call (`docgen org verify-key` does)."""
    if settings.provider == "offline":
        return
    name = shlex.quote(organization.name)
    if settings.encrypted_key is None:
        raise APIKeyError(
            f"organization {organization.name} uses provider {settings.provider} but has no"
            " API key:"
            f" store one with `docgen org set-key {name}` (the key on stdin), or use the"
            f" offline analyser with `docgen org set-provider {name} offline`"
        )
    try:
        decrypt_api_key(settings, crypto.load_master_key())
    except KeyDecryptionError:
        raise KeyDecryptionError(
            f"the API key of organization {organization.name} does not decrypt with the"
            f" master key from {crypto.master_key_source()}: use the master key it was"
            " stored with, or store the key"
            f" again with `docgen org set-key {name}`"
        ) from None


def decrypt_api_key(settings: OrgLLMSettings, master_key: bytes) -> str:
    """The organization's API key in clear text; call only right before building a client."""
    if settings.encrypted_key is None:
        raise APIKeyError("No OpenAI API key configured for organization")
    return crypto.decrypt_api_key(
        settings.encrypted_key, settings.organization_id, "openai", master_key
    )
