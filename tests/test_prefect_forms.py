"""The Prefect UI as the front door: the deployments' forms, driven the way a data engineer
uses them. A browser test fills documentation-job/on-demand's form in the Prefect UI (served
by the session's Prefect server) and a worker runs the job; API tests show that the server
refuses bad parameters before a flow run exists, so nothing of them is stored.

Screenshots of the form and the artifacts go to test-artifacts/prefect-ui/.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from tasks.artifacts import job_artifact_key, object_artifact_key, objects_artifact_key
from tests.browser import Browser, find_chromium
from tests.conftest import ARTIFACTS, OrgFixture, use_openai
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI
from tests.test_deployments import deployed, start_worker, stop, wait_job  # noqa: F401

pytestmark = pytest.mark.prefect

SHOTS = ARTIFACTS / "prefect-ui"

#: helpers the test calls inside the page: find a form field by its label, type into it
#: the way a keyboard does (Vue listens to input events), click a button by its text
PAGE_HELPERS = """
window.dg = {
  field(label) {
    return [...document.querySelectorAll('.schema-form-property')].find(
      p => p.querySelector('.schema-form-property__label')?.innerText.trim() === label);
  },
  type(el, value) {
    const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype
                                            : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, value);
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
    el.dispatchEvent(new Event('blur', {bubbles: true}));
  },
  fill(label, value) {
    const el = dg.field(label).querySelector('textarea, input');
    dg.type(el, value);
    return el.value;
  },
  button(text, root) {
    return [...(root || document).querySelectorAll('button')].find(
      b => b.innerText.trim() === text);
  },
  click(text, root) { dg.button(text, root).click(); return true; },
  tab(text) {
    const all = [...document.querySelectorAll('[role=tab], .p-tabs button, .p-tab, li, a')];
    return all.find(e => e.innerText && e.innerText.trim() === text);
  },
};
true
"""


class PrefectUI:
    """The headless browser on the Prefect server's UI."""

    def __init__(self, browser: Browser, ui_url: str) -> None:
        self.browser = browser
        self.ui_url = ui_url

    def goto(self, path: str, ready: str) -> None:
        """Open a UI route and wait until `ready` (a JavaScript expression) is true."""
        self.browser.events.clear()
        self.browser.send("Page.navigate", {"url": self.ui_url + path}, session=True)
        self.wait(ready, f"{path} did not show {ready}")

    def wait(self, expression: str, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.browser.eval(PAGE_HELPERS)  # again after each navigation
                value = self.browser.eval(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            time.sleep(0.25)
        self.shot("failed-wait.png")
        raise AssertionError(f"{what} (after {timeout} s): {self.text()[:2000]}")

    def eval(self, expression: str) -> Any:
        return self.browser.eval(expression)

    def text(self) -> str:
        return str(self.browser.eval("document.body ? document.body.innerText : ''") or "")

    def shot(self, name: str, height: int = 2400) -> Path:
        """A screenshot with a viewport tall enough for the whole form or page."""
        self.browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        time.sleep(0.5)
        return self.browser.screenshot(SHOTS / name)


@pytest.fixture
def ui(prefect_harness: str) -> Iterator[PrefectUI]:
    browser = Browser(find_chromium())
    try:
        yield PrefectUI(browser, prefect_harness.removesuffix("/api"))
    finally:
        browser.close()


def client_call(call: Any) -> Any:
    """Run `call(client)` with a fresh Prefect client."""
    from prefect.client.orchestration import get_client

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    return asyncio.run(run())


def deployment_id(name: str) -> UUID:
    return client_call(lambda c: c.read_deployment_by_name(name)).id  # type: ignore[no-any-return]


def flow_runs(deployment: UUID) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return client_call(  # type: ignore[no-any-return]
        lambda c: c.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
        )
    )


def artifacts(key: str) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    return client_call(  # type: ignore[no-any-return]
        lambda c: c.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    )


def wait_flow_run(flow_run_id: UUID, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client_call(lambda c: c.read_flow_run(flow_run_id))
        if run.state and run.state.is_final():
            return run
        time.sleep(0.5)
    raise AssertionError(f"flow run {flow_run_id} not finished after {timeout} s")


@pytest.mark.slow
def test_job_form_in_the_prefect_ui_runs_a_job_and_refuses_a_missing_field(
    deployed: dict[str, str],  # noqa: F811
    ui: PrefectUI,
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    use_openai(engine, org, fake_openai)
    suffix = org.name.rsplit("-", 1)[1]
    staging = make_object(engine, org, f"stg_orders_{suffix}")
    mart = make_object(engine, org, f"fct_orders_{suffix}", upstream=[staging.id])
    make_object(engine, org, f"other_{suffix}")  # not selected
    pattern = f"*_orders_{suffix}"
    on_demand = deployment_id("documentation-job/on-demand")
    form_ready = "!!document.querySelector('.flow-run-create-form-v2 textarea')"

    # 1. the form, filled as a person does: organization by name, user by email
    ui.goto(f"/deployments/deployment/{on_demand}/run", form_ready)
    assert ui.eval(f"dg.fill('organization', {json.dumps(org.name)})") == org.name
    ui.eval("dg.click('Add item', dg.field('Name patterns'))")
    ui.wait("!!dg.field('Name patterns').querySelector('input, textarea')", "no pattern input")
    ui.eval(
        "dg.type(dg.field('Name patterns').querySelector('input, textarea'),"
        f" {json.dumps(pattern)})"
    )
    assert ui.eval(f"dg.fill('triggered_by', {json.dumps(org.admin_email)})") == org.admin_email
    form_text = ui.text()
    for words in ("Organization name or id", "Objects by name", "Every object", "Budget (USD)"):
        assert words in form_text
    assert "`" not in form_text
    ui.shot("1-job-form.png")
    worker = start_worker(deployed, tmp_path / "worker.log")
    try:
        ui.eval("dg.click('Submit')")
        ui.wait("!location.pathname.endsWith('/run')", "the form did not submit")
        (run,) = flow_runs(on_demand)
        assert run.parameters == {
            "organization": org.name,
            "selection": {"select": [pattern]},
            "triggered_by": org.admin_email,
            "options": run.parameters["options"],
        }
        with transaction(engine) as conn:
            deadline = time.monotonic() + 180
            while not jobs_repo.list_jobs(conn, org.id) and time.monotonic() < deadline:
                time.sleep(0.5)
            (job,) = jobs_repo.list_jobs(conn, org.id)
        done = wait_job(engine, job.id, [tmp_path / "worker.log"])
        finished = wait_flow_run(run.id)
    finally:
        stop([worker])

    # 2. the run: named after what it documents; the job row; the artifacts
    assert finished.name == f"{org.name}: {pattern}"
    assert finished.state.is_completed(), finished.state
    assert (done.status, done.total_objects, done.processed_objects, done.failed_objects) == (
        "completed",
        2,
        2,
        0,
    )
    assert done.triggered_by_user_id == org.admin_id
    assert done.prefect_flow_run_id == run.id
    (staging_doc,) = artifacts(object_artifact_key(staging))
    (mart_doc,) = artifacts(object_artifact_key(mart))
    assert f"**Feeds into:**\n\n- fct\\_orders\\_{suffix} (dbt_model)" in staging_doc.data
    assert f"**Built from:**\n\n- stg\\_orders\\_{suffix} (dbt_model)" in mart_doc.data
    assert "(reads source data directly)" not in mart_doc.data
    (per_object,) = artifacts(objects_artifact_key(job.id))
    rows = {r["object"]: r for r in json.loads(per_object.data)}
    assert set(rows) == {staging.name, mart.name, "total"}
    for name in (staging.name, mart.name):
        assert rows[name]["status"] == "documented" and rows[name]["tokens"] > 0
        assert rows[name]["cost_usd"] > 0 and rows[name]["duration_s"] is not None
    assert rows["total"]["tokens"] == done.total_tokens_used
    assert rows["total"]["cost_usd"] == pytest.approx(float(done.actual_cost))
    (per_layer,) = artifacts(job_artifact_key(job.id))

    # 3. the same in the UI: the run's artifacts and an object's page
    ui.goto(f"/runs/flow-run/{run.id}", "!!dg.tab('Artifacts')")
    ui.eval("dg.tab('Artifacts').click()")
    ui.wait(
        f"document.body.innerText.includes({json.dumps(objects_artifact_key(job.id))})",
        "the run's Artifacts tab does not list the per-object table",
    )
    assert job_artifact_key(job.id) in ui.text()
    ui.shot("2-run-artifacts.png")
    ui.goto(
        f"/artifacts/artifact/{per_object.id}",
        f"document.body.innerText.includes({json.dumps(mart.name)})",
    )
    ui.shot("3-per-object-summary.png", height=1000)
    ui.goto(
        f"/artifacts/artifact/{per_layer.id}",
        "document.body.innerText.includes('executive_summary')",
    )
    assert "cost_usd" in ui.text()
    ui.shot("3-per-layer-summary.png", height=1000)
    ui.goto(
        f"/artifacts/artifact/{mart_doc.id}",
        "document.body.innerText.includes('Built from')",
    )
    assert staging.name in ui.text().split("Built from", 1)[1]
    ui.shot("4-object-documentation.png")

    # 4. a second submission without triggered_by: the form refuses it, no run is created.
    # On a busy machine the page may still be settling when 'Every object' is clicked and
    # lose that choice (the form then names selection too): the whole form again, at most
    # three times; every attempt is a refused submission, counted at the end.
    for _ in range(3):
        ui.goto(f"/deployments/deployment/{on_demand}/run", form_ready)
        ui.eval(f"dg.fill('organization', {json.dumps(org.name)})")
        ui.eval("dg.click('Every object')")
        ui.wait("!!dg.field('Every object')", "no 'Every object' choice")
        ui.eval("dg.click('Submit')")
        error = ui.wait(
            "[...document.querySelectorAll('.p-label__message')].map(e => e.innerText)"
            ".filter(Boolean).join(' | ')",
            "the form showed no error",
            timeout=20,
        )
        if "'selection'" not in error:
            break
    assert error == "'triggered_by' is a required property", error
    time.sleep(1.0)
    assert ui.eval("location.pathname").endswith("/run")
    ui.shot("5-job-form-refused.png")
    assert len(flow_runs(on_demand)) == 1


# --- the server refuses bad parameters before a flow run exists ----------------------------


def deployment_run(
    env: dict[str, str], name: str, **params: Any
) -> subprocess.CompletedProcess[str]:
    """`prefect deployment run NAME --param KEY=VALUE...`, Prefect's own CLI run in this
    process by Prefect's CLI test runner (the same command without a process start-up each;
    `env` must point at the session's server, as this process does)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.cli import CycloptsCliRunner

    assert env["PREFECT_API_URL"] == PREFECT_API_URL.value()
    args = ["deployment", "run", name]
    for key, value in params.items():
        args += ["--param", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    result = CycloptsCliRunner().invoke(args)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def all_parameters() -> str:
    """Every stored flow run's parameters, as one JSON text."""
    runs = client_call(lambda c: c.read_flow_runs(limit=200))
    return json.dumps([r.parameters for r in runs])


@pytest.mark.slow
def test_the_server_refuses_bad_parameters_before_a_run_exists(
    deployed: dict[str, str],  # noqa: F811
    org: OrgFixture,
) -> None:
    good = {
        "organization": org.name,
        "selection": {"select": ["fct_*"]},
        "triggered_by": org.admin_email,
    }
    on_demand = deployment_id("documentation-job/on-demand")
    before = len(flow_runs(on_demand))
    refused = {
        "triggered_by missing": {k: v for k, v in good.items() if k != "triggered_by"},
        "organization empty": {**good, "organization": ""},
        "organization blank": {**good, "organization": "   "},
        "selection empty": {**good, "selection": {}},
        "no patterns": {**good, "selection": {"select": []}},
        "all false": {**good, "selection": {"all": False}},
        "two shapes at once": {**good, "selection": {"select": ["a"], "all": True}},
        "budget as text": {**good, "options": {"max_cost_usd": "lots"}},
        "object id not a uuid": {**good, "selection": {"object_ids": ["fct_orders"]}},
    }
    for case, params in refused.items():
        result = deployment_run(deployed, "documentation-job/on-demand", **params)
        assert result.returncode != 0, (case, result.stdout)
        assert "Error creating flow run" in result.stdout + result.stderr, case
    assert len(flow_runs(on_demand)) == before
    existing = deployment_run(deployed, "documentation-job/existing-job", job_id="not-a-uuid")
    assert existing.returncode != 0

    secret = "hunter2-in-the-form"
    for source in (
        f"postgresql://reader:{secret}@127.0.0.1:5432/warehouse",
        f"postgresql://127.0.0.1/warehouse?sslmode=require&password={secret}",
    ):
        result = deployment_run(
            deployed, "ingest/on-demand", organization=org.name, kind="postgres", source=source
        )
        assert result.returncode != 0 and "Error creating flow run" in result.stdout, result
    assert flow_runs(deployment_id("ingest/on-demand")) == []
    assert secret not in all_parameters()
    # the same form accepts what it documents: a URL without password, env:, secret:
    for source in ("postgresql://reader@127.0.0.1/warehouse", "env:WAREHOUSE_URL", "secret:wh"):
        accepted = deployment_run(
            deployed, "ingest/on-demand", organization=org.name, kind="postgres", source=source
        )
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    accepted_runs = flow_runs(deployment_id("ingest/on-demand"))
    assert len(accepted_runs) == 3
    assert secret not in all_parameters()
    for run in accepted_runs:  # no worker is to pick them up later in the session
        client_call(lambda c, run_id=run.id: c.delete_flow_run(run_id))
