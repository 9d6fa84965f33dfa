"""`read_dbt`: manifest first, the folder otherwise."""

from __future__ import annotations

from pathlib import Path

from docgen.errors import SourceError
from docgen.sources.base import IngestWarning, SourceResult, existing_path
from docgen.sources.dbt.folder import DbtFolder
from docgen.sources.dbt.manifest import read_manifest
from docgen.sources.dbt.project import Problems, folders, load_project, project_files
from docgen.sources.dbt.render_worker import RenderLimits


def read(
    source: str | Path, *, dialect: str | None = None, limits: RenderLimits | None = None
) -> SourceResult:
    path = existing_path(source, "dbt source")
    if path.is_file():
        if path.suffix != ".json":
            raise SourceError(f"{path} is neither a dbt project folder nor a manifest.json")
        return read_manifest(path)
    if not (path / "dbt_project.yml").is_file():
        raise SourceError(
            f"{path} has no dbt_project.yml (give a dbt project folder or its manifest.json)"
        )
    manifest = _compiled_manifest(path)
    if manifest is not None:
        result = read_manifest(manifest)
        result.warnings += _disagreement(path, manifest, result)
        return result
    return DbtFolder(path, dialect=dialect, limits=limits or _limits()).read()


def _limits() -> RenderLimits:
    from docgen.config import DbtRenderSettings

    settings = DbtRenderSettings()
    return RenderLimits(
        timeout_seconds=settings.render_timeout_seconds,
        memory_mb=settings.render_memory_mb,
        workers=settings.render_workers,
        max_failures=settings.render_max_failures,
    )


def _compiled_manifest(root: Path) -> Path | None:
    """`target/manifest.json` when dbt compiled the project (a manifest from `dbt parse`
    holds no compiled SQL: then the folder route renders it instead)."""
    problems = Problems(root)
    try:
        project = load_project(root, problems)
        target = project.config.get("target-path") or "target"
    except SourceError:
        return None  # the folder route reports it
    if not isinstance(target, str):
        return None
    path = root / target / "manifest.json"
    if not path.is_file() or path.is_symlink() or not path.resolve().is_relative_to(root):
        return None
    try:
        with path.open("rb") as stream:
            head = stream.read(64 * 1024 * 1024)
    except OSError:
        return None
    return path if b'"compiled_code": "' in head or b'"compiled_sql": "' in head else None


def _disagreement(root: Path, manifest: Path, result: SourceResult) -> list[IngestWarning]:
    """A warning when the folder's model files and the manifest's models differ."""
    problems = Problems(root)
    try:
        project = load_project(root, problems)
        paths = folders(project.config, "model-paths", "models", root, problems,
                        root / "dbt_project.yml")  # fmt: skip
    except SourceError:
        return []
    files = {
        f.stem
        for folder in paths
        if folder.is_dir()
        for f in project_files(root, folder, [".sql", ".py"], problems)
    }
    package = result.scope.removeprefix("dbt:")
    models = {
        (o.source_path or "").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for o in result.objects
        if o.properties.get("resource_type") == "model" and o.properties.get("package") == package
    }
    only_files, only_manifest = sorted(files - models), sorted(models - files)
    if not (only_files or only_manifest):
        return []
    parts = []
    if only_files:
        shown = ", ".join(only_files[:5])
        parts.append(f"{len(only_files)} model files it does not hold ({shown})")
    if only_manifest:
        parts.append(f"{len(only_manifest)} models with no file ({', '.join(only_manifest[:5])})")
    rel = manifest.relative_to(root).as_posix()
    return [
        IngestWarning(
            path=rel,
            message=f"read instead of the folder, but it disagrees with it: {'; '.join(parts)};"
            " run `dbt compile` to refresh it",
        )
    ]
