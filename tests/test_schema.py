"""The schema: migrations apply once, edits are refused, every brief column and function exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from docgen.db import embedded, migrate
from docgen.db.engine import create_engine, dispose_all
from docgen.errors import MigrationError
from docgen.resources import sql_dir
from tests.conftest import create_database, drop_database, run_cli

# The brief's columns (seed/000_...: "Key Columns"), plus what the issues add.
EXPECTED_COLUMNS = {
    ("metadata", "object_documentation"): {
        "object_id",
        "organization_id",
        "executive_summary",
        "business_narrative",
        "transformation_cards",
        "code_explanations",
        "business_rules",
        "impact_analysis",
        "complexity_score",
        "version",
        "is_current",
        "generation_status",
        "generated_by_model",
        "generation_metadata",
    },
    ("metadata", "documentation_jobs"): {
        "id",
        "organization_id",
        "connection_id",
        "object_ids",
        "total_objects",
        "processed_objects",
        "failed_objects",
        "status",
        "current_object_id",
        "progress_percentage",
        "estimated_completion_time",
        "api_provider",
        "model_name",
        "total_tokens_used",
        "estimated_cost",
        "layers_completed",
        "layers_failed",
        "triggered_by_user_id",
        "prefect_flow_run_id",
        "started_at",
        "completed_at",
        "error_log",
        "options",
    },
    ("metadata", "documentation_generation_logs"): {
        "job_id",
        "object_id",
        "layer",
        "status",
        "tokens_used",
        "processing_time_ms",
        "error_message",
        "model_used",
        "finish_reason",
    },
    ("metadata", "documentation_job_objects"): {
        "job_id",
        "object_id",
        "status",
        "attempts",
        "documentation_id",
        "started_at",
        "finished_at",
    },
    ("metadata", "objects"): {
        "id",
        "organization_id",
        "object_type",
        "name",
        "unique_key",
        "code",
        "compiled_code",
        "language",
        "dialect",
        "columns",
        "upstream_object_ids",
        "source_path",
        "content_hash",
        "created_at",
        "updated_at",
    },
    ("enterprise", "organizations"): {"id", "name"},
    ("enterprise", "users"): {"id", "email"},
    ("enterprise", "organization_members"): {"organization_id", "user_id", "role"},
    ("enterprise", "organization_llm_settings"): {
        "organization_id",
        "provider",
        "base_url",
        "model",
        "requests_per_minute",
        "tokens_per_minute",
        "api_key_ciphertext",
        "api_key_nonce",
    },
}

EXPECTED_FUNCTIONS = {
    "increment_processed_objects": "job_id uuid",
    "increment_failed_objects": "job_id uuid",
    "update_job_status": "job_id uuid, status character varying, error_details jsonb",
    "update_average_processing_time": "job_id uuid",
    "update_estimated_completion": "job_id uuid",
    "get_documentation_summary": "object_id uuid",
}


def assert_schema_complete(url: str) -> None:
    with psycopg.connect(url) as conn:
        for (schema, table), expected in EXPECTED_COLUMNS.items():
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            ).fetchall()
            present = {r[0] for r in rows}
            assert present, f"{schema}.{table} is missing"
            assert expected <= present, f"{schema}.{table} lacks {sorted(expected - present)}"
        for name, arguments in EXPECTED_FUNCTIONS.items():
            row = conn.execute(
                "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'metadata' AND p.proname = %s",
                (name,),
            ).fetchone()
            assert row is not None, f"metadata.{name} is missing"
            assert row[0] == arguments


def test_fresh_embedded_database_upgrades_twice(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`docgen db upgrade` on a new DOCGEN_HOME starts PostgreSQL, migrates, then is a no-op."""
    # a short path: the server's socket goes in pgdata only while its path fits a socket
    # address (107 bytes), and an xdist worker adds a folder to the path
    home = tmp_path_factory.mktemp("home")
    env = {"DOCGEN_HOME": str(home), "DOCGEN_DATABASE_URL": ""}
    try:
        first = run_cli("db", "upgrade", env=env)
        assert first.returncode == 0, first.stderr
        assert "001_foundation.sql" in first.stderr
        second = run_cli("db", "upgrade", env=env)
        assert second.returncode == 0, second.stderr
        assert "current" in second.stderr and "applied" not in second.stderr
        url = run_cli("db", "url", env=env)
        assert url.returncode == 0
        assert url.stdout.strip().startswith("postgresql://")
        assert str(home / "pgdata") in url.stdout
        assert_schema_complete(url.stdout.strip())
    finally:
        embedded.stop(home)


def test_session_database_has_full_schema(database_url: str) -> None:
    assert_schema_complete(database_url)


@pytest.fixture
def scratch_db(pg_admin_url: str):  # type: ignore[no-untyped-def]
    url = create_database(pg_admin_url, "docgen_migrate")
    engine = create_engine(url)
    yield engine
    engine.dispose()
    dispose_all()
    drop_database(pg_admin_url, url)


def test_runner_applies_in_order_and_records(scratch_db: sa.Engine) -> None:
    applied = migrate.upgrade(scratch_db)
    assert [m.version for m in applied] == [m.version for m in migrate.discover()]
    assert migrate.upgrade(scratch_db) == []
    with scratch_db.connect() as conn:
        versions = (
            conn.execute(
                sa.text("SELECT version FROM public.docgen_schema_migrations ORDER BY version")
            )
            .scalars()
            .all()
        )
    assert versions == [m.version for m in applied]


def test_edited_migration_is_refused(scratch_db: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    migrate.upgrade(scratch_db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate.upgrade(scratch_db, folder)


def test_missing_applied_migration_is_refused(scratch_db: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    (folder / "999_extra.sql").write_text("CREATE TABLE public.extra_marker (id int);")
    migrate.upgrade(scratch_db, folder)
    (folder / "999_extra.sql").unlink()
    with pytest.raises(MigrationError, match="999_extra.sql"):
        migrate.upgrade(scratch_db, folder)


def test_failed_migration_leaves_nothing_half_applied(
    scratch_db: sa.Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    (folder / "998_broken.sql").write_text(
        "CREATE TABLE public.half_done (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(Exception, match="no_such_function"):
        migrate.upgrade(scratch_db, folder)
    with scratch_db.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.half_done')")).scalar() is None
        recorded = conn.execute(
            sa.text("SELECT count(*) FROM public.docgen_schema_migrations WHERE version = '998'")
        ).scalar()
    assert recorded == 0


def test_outdated_external_schema_is_refused_not_migrated(scratch_db: sa.Engine) -> None:
    with pytest.raises(MigrationError, match="docgen db upgrade"):
        migrate.ensure_current(scratch_db, apply=False)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "7_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_lowercase_name.sql"):
        migrate.discover(tmp_path)
