"""A dbt project as the YAML write-back sees it: its schema files (inside the project root,
never through a symlink), and which object a `models:` entry names.

Matching objects to `models:` entries: by model name, narrowed when the object knows more:
its dbt unique id's package must be this project, its manifest `patch_path` must be this
file, and when two still share a name, the one whose `source_path` is beside the file wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from docgen.errors import InvalidInput
from docgen.model import DataObject, Documentation
from docgen.render.yaml_roundtrip import read_yaml

_SKIP_DIRS = frozenset({"target", "dbt_packages", "dbt_modules", "logs", "node_modules"})


@dataclass(frozen=True)
class DbtProject:
    root: Path
    name: str | None
    schema_files: list[Path]
    #: model paths and files left out because they lie outside the project or are symlinks
    skipped: list[str] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def load_project(project_dir: Path) -> DbtProject:
    """The dbt project at `project_dir` and its schema .yml files under the model paths.

    Only files inside the project root are taken, never through a symlink: a model path
    outside the root (absolute, `../x`, or a symlinked folder) and a symlinked .yml file are
    skipped and named in `skipped`, so the write-back cannot edit anything outside it.
    """
    root = project_dir.expanduser().resolve()
    if not root.is_dir():
        raise InvalidInput(f"dbt project directory {root} does not exist or is not a directory")
    manifest = root / "dbt_project.yml"
    if manifest.is_symlink():
        raise InvalidInput(f"{manifest} is a symlink; docgen reads nothing through one")
    if not manifest.is_file():
        raise InvalidInput(f"{root} is not a dbt project (no dbt_project.yml)")
    config = read_yaml(manifest, manifest.name)[1] or {}
    if not isinstance(config, dict):
        raise InvalidInput(f"{manifest} is not a YAML mapping")
    model_paths = config.get("model-paths") or config.get("source-paths") or ["models"]
    if isinstance(model_paths, str):
        model_paths = [model_paths]
    if not isinstance(model_paths, list) or not all(isinstance(p, str) for p in model_paths):
        raise InvalidInput(f"{manifest}: model-paths must be a list of folder names")
    files: list[Path] = []
    skipped: list[str] = []
    for model_path in model_paths:
        base = root / model_path
        if not inside(root, base):
            skipped.append(f"model path {model_path!r} (outside the project or a symlink)")
            continue
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix not in (".yml", ".yaml") or (
                (_SKIP_DIRS | {".git"}).intersection(p.relative_to(root).parts[:-1])
            ):
                continue
            if not inside(root, p):
                skipped.append(f"{p.relative_to(root).as_posix()} (a symlink)")
            elif p.is_file():
                files.append(p)
    if not files:
        where = ", ".join(f"{p}/" for p in model_paths)
        raise InvalidInput(f"no schema .yml files under {where} in the dbt project {root}")
    name = config.get("name")
    return DbtProject(root, str(name) if name else None, files, skipped)


def inside(root: Path, path: Path) -> bool:
    """True when `path` is under the resolved `root` with no symlink on the way (the path
    itself included): what docgen may read or write in a project."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False
    current = root
    for part in relative.parts:
        if part in ("..", ""):
            return False
        current = current / part
        if current.is_symlink():
            return False
    return True


def unique_id(obj: DataObject) -> str | None:
    value = obj.properties.get("dbt_unique_id")
    if value:
        return str(value)
    return obj.unique_key if obj.unique_key.startswith("model.") else None


def patch_path(obj: DataObject) -> str | None:
    value = obj.properties.get("patch_path")
    return str(value).split("://", 1)[-1] if value else None


def in_project(obj: DataObject, project_name: str | None) -> bool:
    """False only when the object's dbt unique id names another package."""
    uid = unique_id(obj)
    return project_name is None or uid is None or uid.split(".")[1:2] == [project_name]


def is_dbt(obj: DataObject) -> bool:
    return obj.object_type == "dbt_model" or obj.source_kind == "dbt" or unique_id(obj) is not None


@dataclass
class ModelIndex:
    project: DbtProject
    by_name: dict[str, list[tuple[DataObject, Documentation | None]]]

    def match(
        self, name: str, schema_file: str
    ) -> tuple[tuple[DataObject, Documentation | None] | None, str | None]:
        """(the object for a `models:` entry, or None; a warning when it is ambiguous)."""
        candidates = self.by_name.get(name, [])
        if self.project.name:
            candidates = [
                c
                for c in candidates
                if (uid := unique_id(c[0])) is None or uid.split(".")[1:2] == [self.project.name]
            ]
        candidates = [c for c in candidates if patch_path(c[0]) in (None, schema_file)]
        if len(candidates) > 1:
            folder = PurePosixPath(schema_file).parent
            beside = [
                c
                for c in candidates
                if c[0].source_path and PurePosixPath(c[0].source_path).parent == folder
            ]
            candidates = beside if len(beside) == 1 else candidates
        if len(candidates) > 1:
            keys = ", ".join(sorted(c[0].unique_key for c in candidates))
            return None, f"{schema_file}: model {name!r} matches several objects ({keys}); skipped"
        return (candidates[0] if candidates else None), None
