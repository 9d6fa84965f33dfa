"""Hostile project folders for the sql and python readers, and objects no database could
store, from any source kind (issue 13, item 3 and the bad-input bullets): nothing outside the
root is read, no symlink is followed, one unusable object is skipped with a warning naming
it and the rest of the ingest is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.db.objects import list_objects
from docgen.ingest import store
from docgen.sources.base import SourceObject, SourceResult
from tests.conftest import OrgFixture

SECRET = "root:x:0:0:the secret line outside the project"


def stored_code(engine: Engine, org: OrgFixture) -> dict[str, str]:
    with transaction(engine) as conn:
        return {o.name: o.code for o in list_objects(conn, org.id)}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside the project: what a symlink in it points at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd.sql").write_text(f"-- {SECRET}\ncreate view stolen as select 1 as x")
    (folder / "passwd.py").write_text(
        f"# {SECRET}\nimport pandas as pd\n\ndef stolen():\n    return pd.read_csv('x.csv')\n"
    )
    return folder


@pytest.mark.parametrize("kind", ["sql", "python"])
def test_folder_readers_follow_no_symlink(
    cli, engine: Engine, org: OrgFixture, tmp_path: Path, outside: Path, kind: str
) -> None:  # type: ignore[no-untyped-def]
    ext = "sql" if kind == "sql" else "py"
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    if kind == "sql":
        (root / "models" / "orders.sql").write_text("create view orders as select 1 as id")
    else:
        (root / "models" / "orders.py").write_text(
            "import pandas as pd\n\ndef orders():\n    return pd.read_csv('orders.csv')\n"
        )
    (root / "models" / f"pw.{ext}").symlink_to(outside / f"passwd.{ext}")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    result = cli("ingest", kind, str(root), "--org", org.name)
    assert result.returncode == 0, result.stderr
    code = stored_code(engine, org)
    assert any(name.endswith("orders") for name in code), code
    assert not any(SECRET in text for text in code.values()), "a file outside was read"
    assert "stolen" not in code
    for link in (f"models/pw.{ext}", "linked"):
        assert f"warning {link}: a symlink; skipped" in result.stderr


def obj(key: str, name: str, code: str = "select 1", **extra: object) -> SourceObject:
    return SourceObject(
        unique_key=key, name=name, object_type="view", code=code, language="sql", **extra
    )


BAD = {
    "nul in code": (obj("bad.nul", "nul_code", "select '\x00'"), "contains a NUL byte in its code"),
    "nul in name": (obj("bad.nuln", "evil\x00name"), "contains a NUL byte in its name"),
    "nul in a column": (
        obj("bad.col", "nul_col", columns=[{"name": "c\x00"}]),
        "contains a NUL byte in its columns",
    ),
    "long name": (obj("bad.long", "n" * 10_000), "has a name of 10,000 characters (at most 1,000)"),
    "blank name": (obj("bad.blank", "   "), "has a blank name"),
}


@pytest.mark.parametrize("kind", ["dbt", "sql", "postgres", "python"])
def test_unstorable_objects_are_skipped_and_the_rest_is_stored(
    engine: Engine, org: OrgFixture, kind: str
) -> None:
    good = obj("good.orders", "orders", upstream_keys=["bad.nul"])
    result = SourceResult(
        kind=kind, scope=f"{kind}:hostile", objects=[good, *(o for o, _ in BAD.values())]
    )  # type: ignore[arg-type]
    with transaction(engine) as conn:
        report = store(conn, org.id, result)
    assert report.added == 1
    messages = [str(w) for w in report.warnings]
    for what, (_bad, reason) in BAD.items():
        assert any(reason in m and "skipped" in m for m in messages), (what, messages)
    assert any("'evil\\x00name'" in m for m in messages), "the name is printed escaped"
    assert any(m.startswith("bad.long: object 'nnnn") and "n...' has a name" in m for m in messages)
    assert list(stored_code(engine, org)) == ["orders"]


def test_a_previously_stored_object_is_kept_when_it_turns_unusable(
    engine: Engine, org: OrgFixture
) -> None:
    first = SourceResult(kind="sql", scope="sql:keep", objects=[obj("k.a", "a"), obj("k.b", "b")])
    with transaction(engine) as conn:
        store(conn, org.id, first)
    later = SourceResult(
        kind="sql", scope="sql:keep", objects=[obj("k.a", "a"), obj("k.b", "b", "select '\x00'")]
    )
    with transaction(engine) as conn:
        report = store(conn, org.id, later)
    assert report.removed == 0 and report.unchanged == 1
    assert stored_code(engine, org) == {"a": "select 1", "b": "select 1"}


def test_cli_ingest_goes_on_past_a_nul_byte_and_a_huge_name(
    cli, engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "sql"
    root.mkdir()
    (root / "good.sql").write_text("create view good as select 1 as id")
    (root / "nul.sql").write_bytes(b"create view with_nul as select 'a\x00b' as x")
    (root / "huge.sql").write_text(f"create view {'v' * 10_000} as select 1 as id")
    result = cli("ingest", "sql", str(root), "--org", org.name, "--json")
    assert result.returncode == 0, result.stderr
    assert "good" in stored_code(engine, org)
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert "with_nul" not in stored_code(engine, org)
    assert "NUL byte" in text and "10,000 characters" in text
