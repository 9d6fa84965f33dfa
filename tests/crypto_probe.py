"""Look for a secret anywhere in docgen's database."""

from __future__ import annotations

import psycopg


def find_in_database(url: str, needle: str) -> list[str]:
    """Every table (docgen's schemas) whose rows contain `needle` as text or as bytes."""
    hits = []
    hex_needle = needle.encode().hex()
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('enterprise', 'metadata', 'public')"
            " AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            count = conn.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" AS t'
                " WHERE strpos(t::text, %s) > 0 OR strpos(t::text, %s) > 0",
                (needle, hex_needle),
            ).fetchone()
            if count and count[0]:
                hits.append(f"{schema}.{table}")
    return hits
