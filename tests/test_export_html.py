"""The HTML catalog as a business reader opens it: exported by the CLI, opened from file://
in headless Chromium. Pages render, links between objects resolve both ways, the index
filters, a screenshot is kept in test-artifacts/, and payloads planted in SQL comments and
LLM output are shown as text and never run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from sqlalchemy.engine import Engine

from docgen.columns import column_rows
from docgen.render.data import slugify, version_facts
from docgen.render.html import json_island
from tests.browser import Browser, find_chromium
from tests.conftest import ARTIFACTS, make_org, run_cli
from tests.docs_factory import (
    CLOSE_SCRIPT_PAYLOAD,
    IMG_PAYLOAD,
    SCRIPT_PAYLOAD,
    ShopProject,
    build_example_project,
)

# "Did anything planted run?" -- evaluated in the page after its load event.
PWNED = (
    "({title: document.title, flag: window.__pwned === undefined ? null : window.__pwned,"
    " attr: document.body.getAttribute('data-pwned'), scripts: document.scripts.length,"
    " images: document.images.length})"
)
SECTIONS = ["summary", "story", "steps", "code", "rules", "impact", "lineage"]


@pytest.fixture(scope="module")
def project(engine: Engine) -> ShopProject:
    """The example dbt project, ingested and documented offline, plus an object carrying
    attack payloads; every test below derives what it expects from this fixture."""
    return build_example_project(engine, make_org(engine, "html"))


@pytest.fixture(scope="module")
def site(
    project: ShopProject,
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    master_key_b64: str,
) -> Path:
    out = tmp_path_factory.mktemp("site") / "catalog"
    env = {
        "DOCGEN_DATABASE_URL": database_url,
        "DOCGEN_HOME": str(tmp_path_factory.mktemp("home")),
        "DOCGEN_MASTER_KEY": master_key_b64,
    }
    result = run_cli(
        "export", "--org", project.org.name, "--format", "html", "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out / "index.html")
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = Browser(find_chromium())
    yield chromium
    chromium.close()


def page(site: Path, name: str) -> Path:
    return site / f"{slugify(name)}.html"


def slugs(names: Iterable[str]) -> set[str]:
    return {slugify(n) for n in names}


def test_every_page_renders_its_documentation(
    site: Path, project: ShopProject, browser: Browser
) -> None:
    total = len(project.objects)
    assert sorted(p.name for p in site.glob("*.html")) == sorted(
        ["index.html", "lineage.html", *(page(site, n).name for n in project.objects)]
    )
    browser.open(site / "index.html")
    assert browser.eval("document.querySelectorAll('tr[data-slug]').length") == total
    assert (
        browser.eval("document.getElementById('count').textContent")
        == f"{total} of {total} objects"
    )
    assert browser.console_errors() == []

    for name, obj in project.objects.items():
        browser.open(page(site, name))
        assert browser.eval("document.title") == f"{name} · {project.org.name}"
        assert browser.eval("document.querySelector('h1').textContent") == name
        doc = project.docs.get(name)
        if doc is None:
            summary = browser.eval("document.getElementById('summary').innerText")
            assert "Not documented yet" in summary
            continue
        summary = browser.eval("document.querySelector('.executive-summary').textContent")
        assert summary == doc.executive_summary
        # the summary comes first, then the story, cards, code, rules, impact, lineage
        order = browser.eval("Array.from(document.querySelectorAll('main section')).map(s => s.id)")
        columns = ["columns"] if column_rows(obj, doc) else []
        assert order == [*SECTIONS, *columns, "source", "about"]
        counts = browser.eval(
            "[document.querySelectorAll('.card').length,"
            " document.querySelectorAll('.pair pre.code').length,"
            " document.querySelectorAll('.journey li').length]"
        )
        journey = (doc.business_narrative or {}).get("dataJourney", [])
        assert counts == [len(doc.transformation_cards), len(doc.code_explanations), len(journey)]
        about = browser.eval("document.getElementById('about').innerText")
        facts = version_facts(doc)
        for fact in (facts.model, facts.prompt_version, facts.cost, facts.tokens, facts.complexity):
            assert fact in about, (name, fact, about)
        assert browser.console_errors() == [], name


def test_links_between_objects_resolve_both_ways(
    site: Path, project: ShopProject, browser: Browser
) -> None:
    checked = 0
    for html_file in sorted(site.glob("*.html")):
        browser.open(html_file)
        hrefs = browser.eval(
            "Array.from(document.querySelectorAll('a[href]'))"
            ".map(a => new URL(a.getAttribute('href'), document.baseURI).href)"
        )
        for href in hrefs:
            url = urlparse(href)
            assert url.scheme == "file", f"{html_file.name} links outside the site: {href}"
            target = Path(unquote(url.path))
            assert target.is_file(), f"{html_file.name} -> {href}: no such file"
            if url.fragment:
                assert f'id="{url.fragment}"' in target.read_text(), href
            checked += 1
    assert checked > 5 * len(project.objects)

    pairs = 0
    for name in project.objects:
        browser.open(page(site, name))
        for side, expected in (
            ("upstream", project.upstream(name)),
            ("downstream", project.downstream(name)),
        ):
            hrefs = browser.eval(
                f"Array.from(document.querySelectorAll('#{side} li a')).map(a => a.href)"
            )
            assert {Path(urlparse(h).path).stem for h in hrefs} == slugs(expected), (name, side)
            pairs += len(expected)
    assert pairs >= 2 * 3  # lineage exists, and each link is seen from both ends

    # following a lineage link in the browser lands on the other object's page
    source = min(n for n in project.objects if project.downstream(n))
    browser.open(page(site, source))
    browser.eval("document.querySelector('#downstream a').click()")
    browser._wait_event("Page.loadEventFired")
    assert browser.eval("document.querySelector('h1').textContent") in project.downstream(source)


def test_screenshot_of_an_object_page(site: Path, project: ShopProject, browser: Browser) -> None:
    # the most complex model of the example project (not the payload object)
    name = max(
        (n for n in project.docs if n != project.xss_name),
        key=lambda n: (project.docs[n].complexity_score or 0, n),
    )
    browser.open(page(site, name))
    shot = browser.screenshot(ARTIFACTS / "html-export" / "object-page.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 1200  # the whole page, not an empty viewport
    assert len(data) > 50_000
    browser.open(site / "index.html")
    browser.screenshot(ARTIFACTS / "html-export" / "index.png")


def _within_two(project: ShopProject, name: str) -> set[str]:
    """Names two levels upstream and downstream of `name` (the picture's expected nodes)."""
    found = {name}
    for step in (project.upstream, project.downstream):
        frontier = {name}
        for _ in range(2):
            frontier = {n for f in frontier for n in step(f)} - found
            found |= frontier
    return found


SVG_NODES = (
    "Array.from(document.querySelectorAll('#lineage svg g.lg-node')).map(g => ({"
    " name: g.querySelector('title').textContent.replace(/ \\([^)]*\\)$/, ''),"
    " href: g.querySelector('a') ? g.querySelector('a').getAttribute('href') : null,"
    " focus: g.classList.contains('focus'), depth: Number(g.dataset.depth),"
    " box: (r => [r.left, r.top, r.width, r.height])(g.getBoundingClientRect()) }))"
)


def test_lineage_picture_on_every_object_page(
    site: Path, project: ShopProject, browser: Browser
) -> None:
    drawn_edges = 0
    for name in project.objects:
        browser.open(page(site, name))
        expected = _within_two(project, name)
        nodes = browser.eval(SVG_NODES)
        if expected == {name}:
            assert nodes == [], name  # an isolated object gets no picture
            continue
        assert {n["name"] for n in nodes} == expected, name
        focus = [n for n in nodes if n["focus"]]
        assert [n["name"] for n in focus] == [name] and focus[0]["href"] is None
        for node in nodes:
            if not node["focus"]:
                assert node["href"] == f"{slugify(node['name'])}.html", node
                side = -1 if node["name"] in project.upstream(name) else 1
                if node["name"] in project.upstream(name) | project.downstream(name):
                    assert node["depth"] == side, (name, node)
                else:
                    assert abs(node["depth"]) == 2, (name, node)
            assert node["box"][2] > 60 and node["box"][3] > 15, node  # drawn, visible
        # no two boxes overlap
        boxes = [n["box"] for n in nodes]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0]
                assert apart or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1], (name, a, b)
        edges = browser.eval("document.querySelectorAll('#lineage svg .lg-edges path').length")
        assert edges >= len(nodes) - 1
        drawn_edges += edges
        assert browser.console_errors() == [], name  # the SVG passed the CSP
    assert drawn_edges > len(project.objects)

    # clicking a box in the picture opens that object's page
    name = next(n for n in project.objects if project.downstream(n))
    browser.open(page(site, name))
    browser.eval(
        "document.querySelector('#lineage svg g.lg-node:not(.focus) a')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    browser._wait_event("Page.loadEventFired")
    landed = browser.eval("document.querySelector('h1').textContent")
    assert landed in _within_two(project, name) - {name}


def test_project_lineage_page(site: Path, project: ShopProject, browser: Browser) -> None:
    browser.open(site / "lineage.html")
    nodes = browser.eval(SVG_NODES.replace("#lineage", "#project-lineage"))
    assert {n["name"] for n in nodes} == set(project.objects)
    assert all(n["href"] == f"{slugify(n['name'])}.html" for n in nodes)
    depth = {n["name"]: n["depth"] for n in nodes}
    for name in project.objects:  # every object sits right of everything it reads
        for parent in project.upstream(name):
            assert depth[parent] < depth[name], (parent, name)
    edges = browser.eval("document.querySelectorAll('#project-lineage .lg-edges path').length")
    assert edges == sum(len(project.upstream(n)) for n in project.objects)
    assert browser.console_errors() == []
    width = browser.eval("document.querySelector('#project-lineage svg').getBBox().width")
    metrics = {"height": 900, "deviceScaleFactor": 1, "mobile": False}
    browser.send(
        "Emulation.setDeviceMetricsOverride", {"width": int(width) + 120, **metrics}, session=True
    )
    shot = browser.screenshot_element("#project-lineage", ARTIFACTS / "html-export" / "lineage.png")
    browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, **metrics}, session=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    name = max(project.objects, key=lambda n: (len(_within_two(project, n)), n))
    browser.open(page(site, name))
    browser.screenshot_element("#lineage", ARTIFACTS / "html-export" / "object-lineage.png")


def _visible(browser: Browser, q: str = "", type_: str = "", complexity: str = "") -> set[str]:
    script = (
        "(() => { const set = (id, v) => { const el = document.getElementById(id); el.value = v;"
        " el.dispatchEvent(new Event('input')); };"
        f" set('q', {json.dumps(q)}); set('type', {json.dumps(type_)});"
        f" set('complexity', {json.dumps(complexity)});"
        " return Array.from(document.querySelectorAll('tr[data-slug]')).filter(r => !r.hidden)"
        ".map(r => r.dataset.slug); })()"
    )
    return set(browser.eval(script))


def test_index_search_and_filters(site: Path, project: ShopProject, browser: Browser) -> None:
    browser.open(site / "index.html")
    names = project.objects
    types = {o.object_type for o in names.values()}
    assert len(types) >= 2
    for object_type in types:
        expected = [n for n, o in names.items() if o.object_type == object_type]
        assert _visible(browser, type_=object_type) == slugs(expected), object_type
    scores = {project.complexity(n) for n in names}
    assert len(scores) >= 3
    for score in scores:
        expected = [n for n in names if project.complexity(n) == score]
        assert _visible(browser, complexity=score) == slugs(expected), score
    xss = project.xss_name
    found = _visible(
        browser, q=xss, type_=names[xss].object_type, complexity=project.complexity(xss)
    )
    assert found == {slugify(xss)}
    with_columns = next(n for n, o in names.items() if o.columns)
    assert slugify(with_columns) in _visible(browser, q=names[with_columns].columns[0].name)
    assert _visible(browser, q="no such words anywhere") == set()
    assert browser.eval("document.getElementById('no-match').hidden") is False
    total = len(names)
    assert browser.eval("document.getElementById('count').textContent") == f"0 of {total} objects"
    assert browser.console_errors() == []  # our own script passed the CSP


def assert_nothing_ran(browser: Browser, *, scripts: int) -> None:
    state = browser.eval(PWNED)
    assert "PWNED" not in state["title"]
    assert state["flag"] is None and state["attr"] is None
    assert state["scripts"] == scripts and state["images"] == 0


def test_payloads_are_shown_as_text_and_never_run(
    site: Path, project: ShopProject, browser: Browser, tmp_path: Path
) -> None:
    xss_page = page(site, project.xss_name)
    source = xss_page.read_text()
    for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD, CLOSE_SCRIPT_PAYLOAD):
        assert payload not in source  # never raw in the file

    browser.open(xss_page)
    assert_nothing_ran(browser, scripts=0)
    summary = browser.eval("document.querySelector('.executive-summary').textContent")
    assert SCRIPT_PAYLOAD in summary and IMG_PAYLOAD in summary and CLOSE_SCRIPT_PAYLOAD in summary
    code = browser.eval("document.querySelector('.source-code').textContent")
    assert SCRIPT_PAYLOAD in code and IMG_PAYLOAD in code  # the SQL comment, as text
    for selector in (
        ".card h3",
        ".pair pre.code",
        ".rules td",
        ".used-by td",
        ".journey li",
        ".columns td",
    ):
        texts = browser.eval(
            f"Array.from(document.querySelectorAll('{selector}')).map(e => e.textContent).join(' ')"
        )
        assert IMG_PAYLOAD in texts, selector
    assert browser.console_errors() == []  # nothing was even blocked: nothing tried to run

    # The index carries the payloads in its table and in the JSON island.
    browser.open(site / "index.html")
    assert_nothing_ran(browser, scripts=2)
    texts = browser.eval(
        "JSON.parse(document.getElementById('catalog-data').textContent).objects.map(o => o.text)"
    )
    assert any(CLOSE_SCRIPT_PAYLOAD.lower() in t for t in texts)
    assert browser.console_errors() == []

    # Escaping alone is enough: the same page without its Content-Security-Policy.
    no_csp = tmp_path / "no-csp.html"
    no_csp.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", source))
    assert "Content-Security-Policy" not in no_csp.read_text()
    browser.open(no_csp)
    assert_nothing_ran(browser, scripts=0)

    # Control: the same payloads pasted raw do run in this browser, so the checks above can fail.
    raw = tmp_path / "raw.html"
    raw.write_text(
        f"<!doctype html><title>control</title><body><p>{SCRIPT_PAYLOAD} {IMG_PAYLOAD}</p>"
    )
    browser.open(raw)
    state = browser.eval(PWNED)
    assert state["title"] == "PWNED" and state["flag"] == 1 and state["attr"] == "1"


def test_json_island_cannot_close_its_script() -> None:
    island = str(json_island({"text": CLOSE_SCRIPT_PAYLOAD, "amp": "a & b", "sep": "\u2028"}))
    assert "<" not in island and ">" not in island and "&" not in island
    assert "\u2028" not in island
    assert json.loads(island) == {"text": CLOSE_SCRIPT_PAYLOAD, "amp": "a & b", "sep": "\u2028"}


def test_export_errors_are_one_line(cli, tmp_path: Path, project: ShopProject) -> None:  # type: ignore[no-untyped-def]
    def error(code: int, *args: str, org: str = project.org.name) -> str:
        result = cli("export", "--org", org, *args)
        assert result.returncode == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("docgen: error: ")
        return lines[0]

    taken = tmp_path / "taken"
    taken.write_text("x")
    html = ("--format", "html", "--out")
    assert "exists and is not a directory" in error(2, *html, str(taken))
    assert "--format must be one of html, markdown, dbt-yaml" in error(
        2, "--format", "pdf", "--out", str(tmp_path / "x")
    )
    assert "unknown organization 'no-such-org'" in error(
        1, *html, str(tmp_path / "y"), org="no-such-org"
    )
    assert "--dry-run only apply to --format dbt-yaml" in error(
        2, *html, str(tmp_path / "z"), "--dry-run"
    )
    assert "no object of organization" in error(2, *html, str(tmp_path / "w"), "--select", "no_*")
    assert not (tmp_path / "z").exists()  # nothing written on a refused command
