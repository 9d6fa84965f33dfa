"""`docgen demo` as a new user runs it: a fresh virtual environment with docgen installed from
this checkout (not editable: the wheel must carry the migrations and the example project),
a fresh DOCGEN_HOME, no database URL, no Prefect server, no API key.

Installing every dependency again is what tests/test_readme.py does (the README's first block,
verbatim, in a fresh venv); here the new venv sees the test environment's dependencies
through a `.pth` line and pip installs docgen alone (`--no-deps`), which keeps what this test
is for (the installed wheel, run outside the checkout) and saves a minute of the suite."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # the dependencies from this environment's site-packages (a plain path line: its own .pth
    # files, such as the editable install of the checkout, are not processed)
    (own_site,) = [p for p in site.getsitepackages() if p.endswith("site-packages")][:1]
    (new_site,) = (venv / "lib").glob("python3*/site-packages")
    (new_site / "docgen-test-deps.pth").write_text(own_site + "\n")
    installed = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-c",
            str(REPO_ROOT / "constraints.txt"),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOCGEN_", "PREFECT_")) and key != "VIRTUAL_ENV"
    }
    env |= {"DOCGEN_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect")}
    demo = subprocess.run(
        [str(venv / "bin" / "docgen"), "demo"],
        cwd=tmp_path,  # not the checkout: everything must come from the installed package
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    lines = demo.stdout.strip().splitlines()
    page = Path(lines[-1])
    assert page.is_file() and page.is_relative_to(tmp_path / "home")
    assert "completed" in demo.stdout and "17/17 processed" in demo.stdout
    assert "Traceback" not in demo.stderr
    # the embedded PostgreSQL the demo started is stopped when it exits, and it says so
    assert "stops when the demo exits" in demo.stderr
    from docgen.db import embedded

    assert not embedded.is_running(tmp_path / "home")
    html = page.read_text()
    assert "fct_orders" in html and "customer_segments" in html
    # the demo ran the installed wheel, not the checkout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import docgen; print(docgen.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(new_site) in where.stdout and str(REPO_ROOT) not in where.stdout
