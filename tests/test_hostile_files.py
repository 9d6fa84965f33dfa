"""Hostile folders: the dbt-yaml write-back edits nothing outside the project or through a
symlink, and `docgen export --out` never clobbers a folder that is not its own (issue 13,
item 5). Every case runs the CLI as a user does and asserts the bytes on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import REPO_ROOT, OrgFixture, make_org
from tests.docs_factory import dbt_object, document, layers

ENTRY = 'version: 2\nmodels:\n  - name: fct_orders\n    description: ""\n'


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def documented(engine: Engine) -> OrgFixture:
    """An organization with fct_orders (models/marts/schema.yml) and dim_customers
    (models/marts/real.yml), documented."""
    org = make_org(engine, "files")
    for name, yml in (("fct_orders", "schema.yml"), ("dim_customers", "real.yml")):
        obj = dbt_object(engine, org, name, schema_file=f"models/marts/{yml}")
        document(engine, org, obj.id, layers(name, summary=f"{name} counts sales every day."))
    return org


def project(tmp_path: Path, model_paths: str) -> Path:
    root = tmp_path / "shop"
    (root / "models" / "marts").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        f"name: shop\nconfig-version: 2\nprofile: shop\nmodel-paths: {model_paths}\n"
    )
    return root


@pytest.mark.parametrize("how", ["../outside", "absolute"])
def test_write_back_skips_model_paths_outside_the_project(
    cli, documented: OrgFixture, tmp_path: Path, how: str
) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "schema.yml"
    victim.write_text(ENTRY)
    path = "../outside" if how == "../outside" else str(outside)
    root = project(tmp_path, f'["models", "{path}"]')
    (root / "models" / "marts" / "schema.yml").write_text(ENTRY)
    before = digest(victim)
    result = cli("export", "--org", documented.name, "--format", "dbt-yaml", "--project", str(root))
    assert result.returncode == 0, result.stderr
    assert digest(victim) == before, "a file outside the project was edited"
    assert f"warning: skipped model path {path!r} (outside the project or a symlink)" in (
        result.stderr
    )
    assert "counts sales" in (root / "models" / "marts" / "schema.yml").read_text()


def test_write_back_never_writes_through_a_symlinked_schema_file(
    cli, documented: OrgFixture, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    victim = tmp_path / "victim.yml"
    victim.write_text(ENTRY)
    root = project(tmp_path, '["models"]')
    (root / "models" / "marts" / "schema.yml").symlink_to(victim)
    (root / "models" / "marts" / "real.yml").write_text(
        ENTRY.replace("fct_orders", "dim_customers")
    )
    linked_dir = tmp_path / "elsewhere"
    linked_dir.mkdir()
    (linked_dir / "more.yml").write_text(ENTRY)
    (root / "models" / "linked").symlink_to(linked_dir, target_is_directory=True)
    before, before_dir = digest(victim), digest(linked_dir / "more.yml")
    result = cli("export", "--org", documented.name, "--format", "dbt-yaml", "--project", str(root))
    assert result.returncode == 0, result.stderr
    assert digest(victim) == before and digest(linked_dir / "more.yml") == before_dir
    assert "warning: skipped models/marts/schema.yml (a symlink)" in result.stderr
    assert "counts sales" in (root / "models" / "marts" / "real.yml").read_text()


def test_export_refuses_a_foreign_folder_unless_forced(
    cli, documented: OrgFixture, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<h1>the team's own home page</h1>")
    (out / "notes.txt").write_text("keep me")
    args = ("export", "--org", documented.name, "--format", "html", "--out", str(out))
    refused = cli(*args)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"docgen: error: {out} is not empty and is not a docgen")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert (out / "index.html").read_text() == "<h1>the team's own home page</h1>"
    forced = cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "fct_orders" in (out / "index.html").read_text()
    assert (out / "notes.txt").read_text() == "keep me", "--force deletes nothing of theirs"


@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_export_again_removes_its_own_stale_pages_only(
    cli, documented: OrgFixture, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / fmt
    ext = "html" if fmt == "html" else "md"
    base = ("export", "--org", documented.name, "--format", fmt, "--out", str(out))
    assert cli(*base).returncode == 0
    assert (out / f"dim_customers.{ext}").is_file()
    (out / "extra.css").write_text("/* added by the team */")
    again = cli(*base, "--select", "fct_*")
    assert again.returncode == 0, again.stderr
    assert not (out / f"dim_customers.{ext}").exists(), "a stale page was left"
    assert (out / f"fct_orders.{ext}").is_file()
    assert (out / "extra.css").read_text() == "/* added by the team */"


def test_export_refuses_an_empty_out_and_writes_nothing(cli, documented: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    before = sorted(p.name for p in REPO_ROOT.iterdir())
    result = cli("export", "--org", documented.name, "--format", "html", "--out", "")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'docgen: error: --out must name a folder (got ""); use --out . for this one'
    )
    assert sorted(p.name for p in REPO_ROOT.iterdir()) == before


def test_export_does_not_write_through_a_symlinked_page(
    cli, documented: OrgFixture, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "site"
    args = ("export", "--org", documented.name, "--format", "html", "--out", str(out))
    assert cli(*args).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (out / "fct_orders.html").unlink()
    (out / "fct_orders.html").symlink_to(victim)
    result = cli(*args)
    assert result.returncode == 2
    assert "is a symlink; docgen does not write through one" in result.stderr
    assert victim.read_text() == "untouched"
