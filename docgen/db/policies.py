"""An organization's writing policies: privacy masking and house style.

Privacy lives beside the provider settings (enterprise.organization_llm_settings); the house
style has its own table (enterprise.organization_style, one row per organization, created on
first write). `prompt_policies()` reads both for many organizations in one query each, for
the context loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.errors import InvalidInput, NotFound
from docgen.privacy import DEFAULT_MAX_LITERAL
from docgen.style import MAX_INSTRUCTIONS, GlossaryTerm, HouseStyle


@dataclass(frozen=True)
class PrivacySettings:
    enabled: bool = False
    max_literal: int = DEFAULT_MAX_LITERAL


@dataclass(frozen=True)
class PromptPolicies:
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    style: HouseStyle = field(default_factory=HouseStyle)


def get_privacy(conn: Connection, organization_id: UUID) -> PrivacySettings:
    row = conn.execute(
        sa.text(
            "SELECT privacy_masking, privacy_max_literal FROM enterprise.organization_llm_settings"
            " WHERE organization_id = :o"
        ),
        {"o": organization_id},
    ).first()
    if row is None:
        raise NotFound(f"unknown organization {organization_id}")
    return PrivacySettings(row.privacy_masking, row.privacy_max_literal)


def set_privacy(
    conn: Connection, organization_id: UUID, enabled: bool, max_literal: int | None = None
) -> PrivacySettings:
    if max_literal is not None and not 8 <= max_literal <= 100_000:
        raise InvalidInput(f"--max-literal must be between 8 and 100000, not {max_literal}")
    get_privacy(conn, organization_id)  # NotFound for an unknown org
    conn.execute(
        sa.text(
            "UPDATE enterprise.organization_llm_settings SET privacy_masking = :e,"
            " privacy_max_literal = coalesce(:m, privacy_max_literal), updated_at = now()"
            " WHERE organization_id = :o"
        ),
        {"e": enabled, "m": max_literal, "o": organization_id},
    )
    return get_privacy(conn, organization_id)


def _style(row: sa.Row[Any] | None) -> HouseStyle:
    if row is None:
        return HouseStyle()
    m = row._mapping
    glossary = m["glossary"] if isinstance(m["glossary"], list) else json.loads(m["glossary"])
    return HouseStyle(
        instructions=m["instructions"],
        glossary=[GlossaryTerm.model_validate(t) for t in glossary],
        banned_words=list(m["banned_words"]),
    )


def get_style(conn: Connection, organization_id: UUID) -> HouseStyle:
    row = conn.execute(
        sa.text(
            "SELECT instructions, glossary, banned_words FROM enterprise.organization_style"
            " WHERE organization_id = :o"
        ),
        {"o": organization_id},
    ).first()
    return _style(row)


def save_style(conn: Connection, organization_id: UUID, style: HouseStyle) -> HouseStyle:
    """Replace the organization's house style (an empty style deletes the row)."""
    if len(style.instructions) > MAX_INSTRUCTIONS:
        raise InvalidInput(
            f"instructions are {len(style.instructions)} characters; at most {MAX_INSTRUCTIONS}"
        )
    for word in style.banned_words:
        if not word.strip() or len(word) > 100:
            raise InvalidInput(f"banned word {word!r} is empty or longer than 100 characters")
    get_privacy(conn, organization_id)  # NotFound for an unknown org
    if style.empty:
        conn.execute(
            sa.text("DELETE FROM enterprise.organization_style WHERE organization_id = :o"),
            {"o": organization_id},
        )
        return HouseStyle()
    conn.execute(
        sa.text(
            "INSERT INTO enterprise.organization_style"
            " (organization_id, instructions, glossary, banned_words)"
            " VALUES (:o, :i, CAST(:g AS jsonb), :b)"
            " ON CONFLICT (organization_id) DO UPDATE SET instructions = EXCLUDED.instructions,"
            " glossary = EXCLUDED.glossary, banned_words = EXCLUDED.banned_words,"
            " updated_at = now()"
        ),
        {
            "o": organization_id,
            "i": style.instructions.strip(),
            "g": json.dumps([t.model_dump() for t in style.glossary]),
            "b": list(dict.fromkeys(w.strip() for w in style.banned_words)),
        },
    )
    return get_style(conn, organization_id)


def prompt_policies(conn: Connection, organization_ids: list[UUID]) -> dict[UUID, PromptPolicies]:
    """Privacy and house style of each organization (defaults for unknown ones)."""
    ids = list(dict.fromkeys(organization_ids))
    if not ids:
        return {}
    privacy = {
        r.organization_id: PrivacySettings(r.privacy_masking, r.privacy_max_literal)
        for r in conn.execute(
            sa.text(
                "SELECT organization_id, privacy_masking, privacy_max_literal"
                " FROM enterprise.organization_llm_settings WHERE organization_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    }
    styles = {
        r.organization_id: _style(r)
        for r in conn.execute(
            sa.text(
                "SELECT organization_id, instructions, glossary, banned_words"
                " FROM enterprise.organization_style WHERE organization_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    }
    return {
        i: PromptPolicies(privacy.get(i, PrivacySettings()), styles.get(i, HouseStyle()))
        for i in ids
    }
