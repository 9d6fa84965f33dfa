"""Lay out a corpus of real public dbt projects with their packages under dbt_packages/, the
way `dbt deps` would, from git mirrors fetched beforehand (nothing of theirs is committed).

    python -m benchmarks.dbt_corpus OUT [--mirrors /work/.mirror]

Each mirror is `<mirrors>/<owner>+<name>/repo` (a bare git directory, e.g. what the session's
`fetch` tool brings: github:dbt-labs/jaffle-shop...). A package is installed under the name
in its own dbt_project.yml, at the revision given (a tag) or the newest snapshot.
Prints one JSON line per project: {name, path, dialect, commit}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Project:
    name: str
    repo: str
    dialect: str
    subpath: str = ""
    #: (repository, revision or "" for the newest snapshot)
    packages: list[tuple[str, str]] = field(default_factory=list)
    revision: str = ""  # a tag, or "" for the newest snapshot


UTILS = ("dbt-labs/dbt-utils", "")
DATE = ("godatadriven/dbt-date", "")
EXPECTATIONS = ("metaplane/dbt-expectations", "")

CORPUS = [
    Project("jaffle-shop", "dbt-labs/jaffle-shop", "duckdb", "",
            [UTILS, DATE, ("dbt-labs/dbt-audit-helper", "")]),
    # v1.2.0: the newest release whose fivetran_utils macros the stored mirror holds (v0.4.10)
    Project("hubspot", "fivetran/dbt_hubspot", "snowflake", "", [
        ("fivetran/dbt_fivetran_utils", "v0.4.10"), ("dbt-labs/spark-utils", ""), UTILS], "v1.2.0"),
    Project("mattermost-analytics", "mattermost/mattermost-data-warehouse", "snowflake",
            "transform/mattermost-analytics",
            [("dbt-labs/dbt-utils", "1.3.0"), ("dbt-labs/dbt-codegen", ""),
             ("dbt-labs/dbt-project-evaluator", ""), ("get-select/dbt-snowflake-query-tags", "")]),
    Project("snowflake-dbt", "mattermost/mattermost-data-warehouse", "snowflake",
            "transform/snowflake-dbt",
            [("dbt-labs/dbt-utils", "0.8.4"), ("dbt-labs/dbt-codegen", "")]),
    Project("tuva", "tuva-health/tuva", "snowflake", "",
            [UTILS, EXPECTATIONS, DATE, ("tuva-health/dbt-data-reliability", "")]),
    Project("calitp-warehouse", "cal-itp/data-infra", "bigquery", "warehouse",
            [UTILS, EXPECTATIONS, DATE]),
]  # fmt: skip


def _mirror(mirrors: Path, repo: str) -> Path:
    path = mirrors / repo.replace("/", "+") / "repo"
    if not path.is_dir():
        raise SystemExit(f"no mirror of {repo} at {path}: fetch github:{repo} first")
    return path


def _extract(git_dir: Path, revision: str, subpath: str, dest: Path) -> str:
    """Files of `subpath` at `revision` into dest (symlinks, submodules and blobs the
    mirror lacks, e.g. large files, are left out)."""
    git = ["git", f"--git-dir={git_dir}"]
    commit = subprocess.run(
        [*git, "rev-parse", f"{revision or 'HEAD'}^{{commit}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", commit, *([subpath] if subpath else [])],
        capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    prefix = f"{subpath.strip('/')}/" if subpath else ""
    blobs = []
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in ("100644", "100755") and path.startswith(prefix):
            blobs.append((sha, path[len(prefix) :]))
    batch = subprocess.Popen(
        [*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert batch.stdin is not None and batch.stdout is not None
    for sha, path in blobs:
        batch.stdin.write(sha.encode() + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    batch.stdin.close()
    batch.wait()
    return commit


def install(project: Path, mirrors: Path, repo: str, revision: str = "") -> str:
    """Install one package under project/dbt_packages/<its name>, as `dbt deps` would."""
    staging = project / ".staging"
    if staging.exists():
        shutil.rmtree(staging)
    _extract(_mirror(mirrors, repo), revision, "", staging)
    name = str(yaml.safe_load((staging / "dbt_project.yml").read_text())["name"])
    target = project / "dbt_packages" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return name


def lay_out(out: Path, mirrors: Path) -> list[dict[str, str]]:
    laid = []
    for project in CORPUS:
        dest = out / project.name
        if dest.exists():
            shutil.rmtree(dest)
        commit = _extract(_mirror(mirrors, project.repo), project.revision, project.subpath, dest)
        for repo, revision in project.packages:
            install(dest, mirrors, repo, revision)
        laid.append(
            {"name": project.name, "path": str(dest), "dialect": project.dialect,
             "commit": f"{project.repo}@{commit[:12]}"}
        )  # fmt: skip
    return laid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    args = parser.parse_args()
    for entry in lay_out(args.out, args.mirrors):
        print(json.dumps(entry), flush=True)


if __name__ == "__main__":
    main()
