"""Writing an export's files: the output folder rules shared by the HTML and Markdown writers.

An export folder is marked by a manifest, `.docgen-export.json`, listing the files docgen
wrote there. Writing again into a marked folder replaces those files and removes the ones
the new export no longer has (an object that was deleted or renamed leaves no stale page).
A non-empty folder without the manifest is someone else's: docgen refuses it unless
`force`, and then only adds and replaces its own file names, deleting nothing. Nothing is
ever written through a symlink.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from docgen.errors import InvalidInput

#: the file that marks a folder as a docgen export and lists what docgen wrote there
EXPORT_MANIFEST = ".docgen-export.json"


def prepare_out_dir(out_dir: Path) -> Path:
    """The output folder, created if needed; a clear error when it cannot be one."""
    out = out_dir.expanduser()
    if not str(out_dir).strip():
        raise InvalidInput("the output folder must be named (got an empty path)")
    if out.is_symlink():
        raise InvalidInput(f"output path {out} is a symlink; docgen does not write through one")
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create output directory {out}: {exc.strerror}") from exc
    return out


@dataclass
class ExportDir:
    """A folder being written by one export (see the module doc)."""

    path: Path
    kind: str
    #: files the previous docgen export wrote here (empty for a new or foreign folder)
    previous: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def write(self, name: str, text: str) -> Path:
        if "/" in name or "\\" in name or name in ("", ".", "..", EXPORT_MANIFEST):
            raise InvalidInput(f"refusing to write an export file named {name!r}")
        path = write_text(self.path / name, text)
        self.written.append(path)
        return path

    def finish(self) -> list[Path]:
        """Remove the previous export's files this one did not write; mark the folder."""
        names = {p.name for p in self.written}
        for name in self.previous:
            stale = self.path / name
            if name in names or "/" in name or "\\" in name or name.startswith("."):
                continue
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
        manifest = {"generator": "docgen", "format": self.kind, "files": sorted(names)}
        write_text(self.path / EXPORT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
        return self.written


def open_export_dir(out_dir: Path, kind: str, *, force: bool = False) -> ExportDir:
    """The export folder: new, empty, a previous docgen export, or (with `force`) any."""
    out = prepare_out_dir(out_dir)
    previous = _previous_export(out)
    if previous is None:
        if any(out.iterdir()) and not force:
            raise InvalidInput(
                f"{out} is not empty and is not a docgen export (no {EXPORT_MANIFEST}); "
                "choose an empty or new folder, or pass --force to write into it "
                "(docgen then replaces only its own file names and deletes nothing)"
            )
        previous = []
    return ExportDir(out, kind, previous)


def _previous_export(out: Path) -> list[str] | None:
    """The files listed by the folder's manifest, or None when it has no valid one."""
    manifest = out / EXPORT_MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("generator") != "docgen" or not isinstance(files, list):
        return None
    return [f for f in files if isinstance(f, str)]


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text with LF line endings (the same bytes on every platform); never
    through a symlink (O_NOFOLLOW)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise InvalidInput(f"{path} is a symlink; docgen does not write through one") from None
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
    return path
