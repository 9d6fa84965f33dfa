"""Writing an export's files: the output folder checks shared by the HTML and Markdown writers."""

from __future__ import annotations

from pathlib import Path

from docgen.errors import InvalidInput


def prepare_out_dir(out_dir: Path) -> Path:
    """The output folder, created if needed; a clear error when it cannot be one."""
    out = out_dir.expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create output directory {out}: {exc.strerror}") from exc
    return out


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text with LF line endings (the same bytes on every platform)."""
    try:
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
    return path
