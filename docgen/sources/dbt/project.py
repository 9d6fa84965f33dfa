"""What a dbt project folder declares, read defensively: `dbt_project.yml`, installed packages,
`profiles.yml`, and files that stay inside the project root.

The folder is untrusted input. YAML is loaded with the safe loader and refused when it nests
deeper than `MAX_DEPTH` levels or its aliases expand to far more values than the text holds
(an alias bomb); a file that is a symlink, or sits under a symlinked folder, or a configured
path that leads outside the root, is skipped with a warning naming it. Wrong types in
`dbt_project.yml` (`model-paths: 5`, `vars: [1]`) are one-line errors naming the file and the
key; in schema files they are warnings and the entry is ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from docgen.errors import SourceError
from docgen.sources.base import IngestWarning, files_under, read_text, relative

MAX_DEPTH = 64
_BUILD_FOLDERS = {"target", "dbt_packages", "dbt_modules", "logs", "node_modules", "__pycache__"}
_PROFILE_KEYS = {"type", "schema", "database", "dataset", "project", "catalog", "threads"}


class Problems:
    """Warnings of one read, and the paths already reported as skipped."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.warnings: list[IngestWarning] = []
        self._skipped: set[str] = set()

    def add(self, path: Path | str, message: str, line: int | None = None) -> None:
        where = relative(path, self.root) if isinstance(path, Path) else path
        self.warnings.append(IngestWarning(path=where, line=line, message=message))

    def skip(self, path: Path, why: str) -> None:
        where = relative(path, self.root)
        if where not in self._skipped:
            self._skipped.add(where)
            self.add(where, f"{why}; not read")


# --- files inside the root ------------------------------------------------------------------


def _escapes(root: Path, path: Path) -> str | None:
    """Why `path` must not be read (a symlink on the way, or outside the root), else None."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return "outside the project folder"
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return "a symbolic link" if current == path else f"under a symbolic link ({part})"
    return None


def project_files(root: Path, folder: Path, suffixes: list[str], problems: Problems) -> list[Path]:
    """Files under `folder` with these suffixes, none through a symlink (each symlinked file
    or folder is named once in a warning)."""
    wanted = tuple(suffixes)
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _BUILD_FOLDERS]
        for name in [*dirs, *(n for n in names if n.endswith(wanted))]:
            if (Path(here) / name).is_symlink():
                problems.skip(Path(here) / name, "is a symbolic link")
    found = []
    for path in files_under(folder, suffixes):
        why = _escapes(root, path)
        if why:
            link = next((p for p in [path, *path.parents] if p.is_symlink()), path)
            problems.skip(link, f"is {why}" if link == path else "is a symbolic link")
            continue
        found.append(path)
    return found


def text_of(root: Path, path: Path, problems: Problems) -> str | None:
    """A file's text after the inside-the-root check (None with a warning otherwise)."""
    why = _escapes(root, path)
    if why:
        problems.skip(path, f"is {why}")
        return None
    return read_text(path, root, problems.warnings)


def folders(project: dict[str, Any], key: str, default: str, root: Path, problems: Problems,
            where: Path) -> list[Path]:  # fmt: skip
    """A `*-paths` setting as folders inside the root (others skipped with a warning)."""
    value = project.get(key, project.get(key.replace("-", "_"), [default]))
    if value is None:
        value = [default]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceError(f"{where}: {key} must be a list of folder names, got {_kind(value)}")
    kept = []
    for entry in value:
        path = root / entry
        inside = (root / entry).resolve()
        if Path(entry).is_absolute() or not inside.is_relative_to(root.resolve()):
            problems.add(where, f"{key} entry {entry!r} is outside the project folder; not read")
            continue
        why = _escapes(root, path)
        if why and path.exists():
            problems.skip(path, f"({key}) is {why}")
            continue
        kept.append(path)
    return kept


# --- YAML -----------------------------------------------------------------------------------


def _shape_problem(data: Any, budget: int) -> str | None:
    """Too deep or an alias bomb, measured without recursion and within `budget` steps."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > budget:
            return "its aliases expand to far more values than the file holds"
        if depth > MAX_DEPTH:
            return f"it nests more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value if not isinstance(k, str))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None


def load_yaml(root: Path, path: Path, problems: Problems, *, required: bool = False) -> Any:
    """A YAML file's data, or None with a warning (an error for a required file)."""
    text = text_of(root, path, problems)
    if text is None:
        if required:
            raise SourceError(f"{path} cannot be read (see the warning above)")
        return None
    problem: str | None = None
    line: int | None = None
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = f"not valid YAML: {getattr(exc, 'problem', None) or 'invalid YAML'}"
    except (RecursionError, MemoryError):
        problem = "nested too deeply to read"
    else:
        shape = _shape_problem(data, budget=2 * len(text) + 10_000)
        if shape:
            problem = f"refused: {shape}"
    if problem is None:
        return data
    if required:
        where = f" at line {line}" if line else ""
        raise SourceError(f"{path} is {problem}{where}" if problem.startswith("not") else
                          f"{path}: {problem}")  # fmt: skip
    problems.add(path, f"{problem}; its contents are ignored", line=line)
    return None


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {str(value)[:40]!r}"


# --- dbt_project.yml, packages, profiles ----------------------------------------------------


@dataclass
class Package:
    """One dbt project: the root, or a package installed under dbt_packages/."""

    name: str
    root: Path
    config: dict[str, Any]
    macro_paths: list[Path] = field(default_factory=list)


def load_project(root: Path, problems: Problems, *, package: bool = False) -> Package:
    path = root / "dbt_project.yml"
    data = load_yaml(root, path, problems, required=not package)
    if data is None:
        raise SourceError(f"{path} cannot be read")
    if not isinstance(data, dict):
        raise SourceError(f"{path} must be a mapping of settings, got {_kind(data)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SourceError(f"{path} has no project name")
    for key in ("models", "seeds", "snapshots", "vars", "dispatch"):
        value = data.get(key)
        wanted = list if key == "dispatch" else dict
        if value is not None and not isinstance(value, wanted):
            raise SourceError(
                f"{path}: {key} must be a {'list' if wanted is list else 'mapping'}, "
                f"got {_kind(value)}"
            )
    macro_paths = folders(data, "macro-paths", "macros", root, problems, path)
    return Package(name=name.strip(), root=root, config=data, macro_paths=macro_paths)


def installed_packages(root: Path, project: Package, problems: Problems) -> list[Package]:
    """Packages `dbt deps` installed (inside the root only; a symlinked package is skipped)."""
    install = project.config.get("packages-install-path") or "dbt_packages"
    if not isinstance(install, str):
        raise SourceError(
            f"{root / 'dbt_project.yml'}: packages-install-path must be a folder name"
        )
    found: list[Package] = []
    for base in dict.fromkeys([root / install, root / "dbt_modules"]):
        if not base.is_dir() or _escapes(root, base):
            if base.is_symlink():
                problems.skip(base, "is a symbolic link")
            continue
        for folder in sorted(base.iterdir()):
            if folder.is_symlink():
                problems.skip(folder, "is a symbolic link (a local package?)")
                continue
            if not (folder / "dbt_project.yml").is_file():
                continue
            try:
                package = load_project(folder, problems, package=True)
            except SourceError as exc:
                problems.add(folder, f"package not loaded ({exc})")
                continue
            package.macro_paths = [p for p in package.macro_paths if not _escapes(root, p)]
            found.append(package)
    _missing_packages(root, found, problems)
    return found


def _missing_packages(root: Path, installed: list[Package], problems: Problems) -> None:
    """One warning when packages.yml lists packages that are not installed."""
    names = {p.name for p in installed} | {p.root.name for p in installed}
    wanted: list[str] = []
    for file in ("packages.yml", "dependencies.yml"):
        if not (root / file).is_file():
            continue
        data = load_yaml(root, root / file, problems)
        entries = data.get("packages") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            spec = entry.get("package") or entry.get("git") or entry.get("local") or ""
            if isinstance(spec, str) and spec:
                wanted.append(spec.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))

    def known(spec: str) -> bool:
        bare = spec.replace("-", "_")
        return bool({spec, bare, bare.removeprefix("dbt_")} & names)

    missing = [w for w in wanted if not known(w)]
    # a git package installs under its own project name, which its URL may not tell
    if missing and len(installed) < len(wanted):
        problems.add(
            "packages.yml",
            f"packages not installed: {', '.join(missing)}; run `dbt deps` in the project "
            "so models that use their macros can be rendered",
        )


def profile_target(root: Path, project: Package, problems: Problems) -> dict[str, Any]:
    """`target.*` from the project's own profiles.yml (never ~/.dbt): type, schema, database
    of the default target; credentials are never read. Templated values are left out."""
    path = root / "profiles.yml"
    if not path.is_file():
        return {}
    data = load_yaml(root, path, problems)
    name = project.config.get("profile") or project.name
    profile = data.get(name) if isinstance(data, dict) else None
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        return {}
    target = profile.get("target")
    if not isinstance(target, str) or "{{" in target:
        target = next(iter(profile["outputs"]), "dev")
    output = profile["outputs"].get(target)
    if not isinstance(output, dict):
        return {}
    values: dict[str, Any] = {"name": target, "target_name": target}
    for key in _PROFILE_KEYS:
        value = output.get(key)
        if isinstance(value, str | int) and "{{" not in str(value):
            values[key] = value
    if "dataset" in values:  # BigQuery's words for schema and database
        values.setdefault("schema", values["dataset"])
    if "project" in values:
        values.setdefault("database", values["project"])
    return values
