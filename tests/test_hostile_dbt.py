"""Hostile dbt projects: what an attacker's project can do to `docgen ingest dbt` (issue 13).

Each case writes a project inline and asserts the concrete outcome: no file created, no secret
text in what is stored, the warning line naming the file, the error line and exit code.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import textwrap
import time
import types
import uuid
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.db.objects import list_objects
from docgen.errors import SourceError
from docgen.ingest import ingest_source
from docgen.sources.dbt import read_dbt
from docgen.sources.dbt.render_worker import RenderLimits
from docgen.sources.dbt.sandbox import ModelRequest, Renderer
from tests.conftest import OrgFixture, make_org

FAST = RenderLimits(timeout_seconds=3, memory_mb=400, workers=2, max_failures=5)
SECRET = "sk-hostile-test-" + uuid.uuid4().hex


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def project(root: Path, models: dict[str, str], **extra: str) -> Path:
    files = {"dbt_project.yml": "name: hostile\n"}
    files.update({f"models/{name}.sql": text for name, text in models.items()})
    files.update(extra)
    return write(root, files)


def by_name(result: Any) -> dict[str, Any]:
    return {o.name: o for o in result.objects}


def warned(result: Any, path: str) -> list[str]:
    return [w.message for w in result.warnings if w.path == path]


# --- 1. no code runs: the sandbox -----------------------------------------------------------

# Each template tries to run `touch MARKER` (or read a secret) through an object of the
# context: the two known escapes and their relatives through every kind of exposed object.
ESCAPES = {
    "datetime_sys": "{{ modules.datetime.sys.modules['os'].system('touch MARKER') }}",
    "re_enum": "{{ modules.re.enum.sys.modules['subprocess'].check_output(['touch', 'MARKER']) }}",
    "datetime_class_module": "{{ modules.datetime.datetime.__module__ }}",
    "re_function_globals": "{{ modules.re.sub.__globals__['_os'] }}",
    "re_pattern_class": "{{ modules.re.compile('x').__class__.__mro__ }}",
    "itertools_mro": "{{ modules.itertools.chain.mro()[-1].__subclasses__() }}",
    "pytz_globals": "{{ modules.pytz.timezone.__globals__['os'].system('touch MARKER') }}",
    "ref_globals": "{{ ref.__globals__['os'].system('touch MARKER') }}",
    "ref_result": "{{ ref('x').__class__.__init__.__globals__['os'].system('touch MARKER') }}",
    "adapter_self": "{{ adapter.dispatch.__self__.__class__.__init__.__globals__ }}",
    "config_class": "{{ config.__class__.__init__.__globals__['os'].system('touch MARKER') }}",
    "cycler_globals": "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "joiner_globals": "{{ joiner.__init__.__globals__['os'].popen('touch MARKER').read() }}",
    "namespace_globals": "{{ namespace.__init__.__globals__['os'].system('touch MARKER') }}",
    "self_context": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "string_format": "{{ '{0.__class__.__mro__[1].__subclasses__}'.format('') }}",
    "builtins_ns": "{{ builtins.ref.__globals__['os'].system('touch MARKER') }}",
    "exceptions_ns": "{{ exceptions.warn.__globals__['os'].system('touch MARKER') }}",
    "target_items": "{{ target._items.__class__.__init__.__globals__ }}",
    "fromyaml_python": "{{ fromyaml('!!python/object/apply:os.system [\"touch MARKER\"]') }}",
    "include_file": "{% include '/etc/hostname' %}",
    "import_module": "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
    "env_secret": "{{ env_var('OPENAI_API_KEY') }}",
    "env_master_key": "{{ env_var('DOCGEN_MASTER_KEY') }}",
    "env_pgpassword": "{{ env_var('PGPASSWORD', 'fallback') }}",
    "env_dbt_secret": "{{ env_var('DBT_ENV_SECRET_TOKEN', 'fallback') }}",
    "master_key_file": "{% include 'MASTER_KEY' %}",
}


def test_templates_cannot_run_code_read_files_or_read_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    home = tmp_path / "home"
    home.mkdir()
    (home / "master.key").write_text(SECRET)
    for name in ("OPENAI_API_KEY", "DOCGEN_MASTER_KEY", "PGPASSWORD", "DBT_ENV_SECRET_TOKEN"):
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("DBT_TARGET_SCHEMA", "allowed_value")
    models = {
        name: "select '"
        + text.replace("MARKER", str(marker)).replace("MASTER_KEY", str(home / "master.key"))
        + "' as x"
        for name, text in ESCAPES.items()
    }
    models["dbt_var_allowed"] = "select '{{ env_var(\"DBT_TARGET_SCHEMA\") }}' as x"
    result = read_dbt(project(tmp_path / "p", models), limits=FAST)
    objects = by_name(result)
    assert not marker.exists()
    stored = json.dumps([o.model_dump() for o in result.objects])
    assert SECRET not in stored and SECRET not in json.dumps([str(w) for w in result.warnings])
    assert objects["dbt_var_allowed"].compiled_code == "select 'allowed_value' as x\n"
    # a variable docgen does not pass gives its default, never the real value
    assert objects["env_pgpassword"].compiled_code == "select 'fallback' as x\n"
    assert objects["env_dbt_secret"].compiled_code == "select 'fallback' as x\n"
    for name in ESCAPES:
        if name in ("env_pgpassword", "env_dbt_secret"):
            continue
        obj = objects[name]
        # nothing rendered, or something harmless (a name, an empty string)
        assert obj.compiled_code is None or "os" not in obj.compiled_code.split("'")[1], name
        if obj.compiled_code is None:
            assert obj.properties["uncompiled"] is True
            assert warned(result, f"models/{name}.sql"), name


def _reachable(env: jinja2.Environment, roots: dict[str, Any], depth: int = 5) -> list[Any]:
    """Every value a template reaches from `roots` by attribute or item access, calling
    nothing, the way the sandbox resolves `a.b` (getattr, then item)."""
    seen: dict[int, Any] = {}
    frontier = list(roots.values())
    for _ in range(depth):
        found = []
        for value in frontier:
            if id(value) in seen:
                continue
            seen[id(value)] = value
            names = [n for n in dir(value) if not n.startswith("_")]
            for name in names:
                child = env.getattr(value, name)
                if not isinstance(child, jinja2.Undefined):
                    found.append(child)
            items: Any = ()
            if isinstance(value, dict):
                items = value.values()
            elif isinstance(value, list | tuple | set | frozenset):
                items = list(value)[:50]
            elif hasattr(value, "keys") and callable(value.keys) and not isinstance(value, type):
                try:
                    items = [env.getitem(value, k) for k in list(value.keys())[:50]]
                except Exception:  # noqa: BLE001 - not a mapping after all
                    items = ()
            found.extend(i for i in items if not isinstance(i, jinja2.Undefined))
        frontier = found
    return list(seen.values())


def test_no_attribute_chain_from_the_context_reaches_a_module_or_a_dangerous_builtin() -> None:
    """Walks the whole context (globals, `this`, `model`, `config`, and values its
    constructors return) five levels deep: no module, no `open`/`__import__`/`eval`."""
    import builtins
    import subprocess
    import sys

    renderer = Renderer({"project": "p", "run_started_at": "2024-01-01T00:00:00+00:00"})
    renderer.load_macro_file("p", "{% macro m() %}1{% endmacro %}")
    renderer.load_macro_file("pkg", "{% macro n() %}1{% endmacro %}")
    renderer.finish_macros()
    renderer.render(ModelRequest(name="m", text="select 1", package="p", config={"a": 1}))
    env = renderer.env
    modules = env.globals["modules"]
    samples = {
        "now": modules.datetime.datetime.now(),
        "delta": modules.datetime.timedelta(days=1),
        "pattern": modules.re.compile("(a)"),
        "match": modules.re.match("(a)", "a"),
        "zone": modules.pytz.timezone("UTC"),
        "ref": env.globals["ref"]("x"),
        "source": env.globals["source"]("a", "b"),
        "chain": modules.itertools.chain([1]),
    }
    reached = _reachable(env, {**env.globals, **samples})
    assert len(reached) > 100  # the walk did walk
    dangerous = {
        id(x)
        for x in (builtins.open, builtins.__import__, eval, exec, compile, getattr, setattr,
                  os.system, subprocess.Popen, sys.exit)
    }  # fmt: skip
    for value in reached:
        assert not isinstance(value, types.ModuleType), value
        assert id(value) not in dangerous, value
        assert value is not datetime.datetime.now.__self__.__module__


# --- 1. bounded in time and memory ----------------------------------------------------------


def test_resource_bombs_end_with_a_warning_naming_the_file(tmp_path: Path) -> None:
    models = {
        "loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
        "{% endfor %}select 1",
        "doubling": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}select '{{ ns.s | length }}'",
        "repeat": "select '{{ 'x' * 100000000 }}'",
        "power": "select {{ 10 ** 100000000 }}",
        "fine": "select 1 as ok",
    }
    started = time.monotonic()
    result = read_dbt(project(tmp_path / "p", models), limits=FAST)
    elapsed = time.monotonic() - started
    objects = by_name(result)
    assert objects["fine"].compiled_code == "select 1 as ok\n"
    for name in ("loops", "doubling", "repeat", "power"):
        assert objects[name].compiled_code is None, name
        assert warned(result, f"models/{name}.sql"), name
    assert any("took longer than 3 s" in m for m in warned(result, "models/loops.sql"))
    assert elapsed < 40


def test_a_yaml_alias_bomb_is_refused_with_a_warning(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    schema = bomb + "models:\n  - name: fine\n    tags: *i\n"
    root = project(tmp_path / "p", {"fine": "select 1"}, **{"models/schema.yml": schema})
    started = time.monotonic()
    result = read_dbt(root, limits=FAST)
    assert time.monotonic() - started < 30
    [message] = warned(result, "models/schema.yml")
    assert "aliases expand" in message
    assert by_name(result)["fine"].tags == []

    (root / "dbt_project.yml").write_text("name: hostile\nvars:\n  " + bomb.replace("\n", "\n  "))
    with pytest.raises(SourceError, match="dbt_project.yml: refused: its aliases expand"):
        read_dbt(root, limits=FAST)


# --- 2. malformed input: one line, never a traceback ----------------------------------------


@pytest.mark.parametrize(
    ("project_yml", "message"),
    [
        ("name: p\nmodels: 5\n", "dbt_project.yml: models must be a mapping, got int"),
        ("name: p\nmodel-paths: 5\n", "dbt_project.yml: model-paths must be a list of folder"),
        ("name: p\nvars: [1]\n", "dbt_project.yml: vars must be a mapping, got list"),
        ("name: p\ndispatch: x\n", "dbt_project.yml: dispatch must be a list"),
        ("[" * 100_000 + "]" * 100_000, "dbt_project.yml is not valid YAML"),
        ("- 1\n", "dbt_project.yml must be a mapping of settings"),
    ],
    ids=["models", "model-paths", "vars", "dispatch", "deep", "list"],
)
def test_a_malformed_dbt_project_yml_is_one_line_naming_file_and_key(
    tmp_path: Path, project_yml: str, message: str
) -> None:
    root = write(tmp_path / "p", {"models/a.sql": "select 1"})
    (root / "dbt_project.yml").write_text(project_yml)
    with pytest.raises(SourceError) as caught:
        read_dbt(root, limits=FAST)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_malformed_schema_yml_is_a_warning_and_the_rest_is_read(tmp_path: Path) -> None:
    deep = "models:\n  - name: a\n    meta: " + "[" * 100 + "]" * 100 + "\n"
    root = project(
        tmp_path / "p",
        {"a": "select 1", "b": "select 2"},
        **{
            "models/five.yml": "models: 5\nsources: {x: 1}\n",
            "models/deep.yml": deep,
            "models/very_deep.yml": "models: " + "[" * 100_000 + "]" * 100_000,
            "models/ok.yml": "models:\n  - name: b\n    description: B.\n  - 7\n  - name: '  '\n",
        },
    )
    result = read_dbt(root, limits=FAST)
    assert set(by_name(result)) == {"a", "b"} and by_name(result)["b"].description == "B."
    assert warned(result, "models/five.yml") == [
        "models must be a list, got int; ignored",
        "sources must be a list, got dict; ignored",
    ]
    assert "nests more than 64 levels" in warned(result, "models/deep.yml")[0]
    assert "not valid YAML" in warned(result, "models/very_deep.yml")[0]
    assert warned(result, "models/ok.yml") == [
        "models[1] has no name; ignored",
        "models[2] has no name; ignored",
    ]


def _manifest(tmp_path: Path, **node_fields: Any) -> Path:
    base = {
        "resource_type": "model", "name": "bad", "package_name": "p", "raw_code": "select 1",
        "depends_on": {"nodes": []}, "original_file_path": "models/bad.sql",
    }  # fmt: skip
    node = {**base, **node_fields}
    good = {**base, "name": "good", "raw_code": "select 2", "original_file_path": "x"}
    manifest = {"metadata": {"project_name": "p"},
                "nodes": {"model.p.bad": node, "model.p.good": good}}  # fmt: skip
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"raw_code": 5}, "raw_code"),
        ({"depends_on": "x"}, "depends_on"),
        ({"depends_on": {"nodes": [1]}}, "depends_on.nodes.0"),
        ({"tags": "x"}, "tags"),
        ({"columns": {"c": {"description": ["x"]}}}, "columns.c.description"),
        ({"config": []}, "config"),
    ],
    ids=["raw_code", "depends_on", "depends_on_nodes", "tags", "column", "config"],
)
def test_a_manifest_node_of_the_wrong_shape_is_skipped_with_a_warning(
    tmp_path: Path, fields: dict[str, Any], field: str
) -> None:
    result = read_dbt(_manifest(tmp_path, **fields))
    assert set(by_name(result)) == {"good"}
    [warning] = result.warnings
    assert warning.path == "manifest.json"
    assert warning.message.startswith(f"nodes['model.p.bad'].{field}: ")
    assert warning.message.endswith("; skipped")


def test_a_malformed_manifest_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SourceError, match="nested too deeply"):
        read_dbt(path)
    path.write_text(json.dumps({"nodes": {}, "sources": [1]}))
    with pytest.raises(SourceError, match="manifest.json: sources must be an object, got list"):
        read_dbt(path)


# --- 2. hostile names -----------------------------------------------------------------------


def test_nul_bytes_and_absurd_names_skip_that_object_only(
    engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    long = "t" * 10_000
    root = project(
        tmp_path / "p",
        {"ok": "select * from {{ source('raw', 'orders') }}", "nul": "select 1"},
        **{
            "models/src.yml": f"sources:\n  - name: raw\n    tables:\n      - name: orders\n"
            f"      - name: {long}\n"
        },  # fmt: skip
    )
    (root / "models/nul.sql").write_bytes(b"select '\x00' as x\n")
    report = ingest_source(engine, org.id, "dbt", root)
    with transaction(engine) as conn:
        names = {o.name for o in list_objects(conn, org.id)}
    assert names == {"ok", "raw.orders"}
    messages = [str(w) for w in report.warnings]
    assert any(
        m.startswith("models/nul.sql: ") and "NUL byte in its code" in m and "skipped" in m
        for m in messages
    ), messages
    assert any("has a name of 10,004 characters" in m and "skipped" in m for m in messages)

    manifest = _manifest(tmp_path, name="   ")
    other = make_org(engine, "blank")
    blank = ingest_source(engine, other.id, "dbt", manifest)
    with transaction(engine) as conn:
        assert {o.name for o in list_objects(conn, other.id)} == {"good"}
    assert any("has a blank name" in str(w) for w in blank.warnings)


# --- 3. nothing outside the project root ----------------------------------------------------


def test_symlinks_and_outside_paths_are_skipped_with_a_warning(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"secret.sql": f"select '{SECRET}'",
                                           "more/m.sql": f"select '{SECRET}'"})  # fmt: skip
    root = project(tmp_path / "p", {"fine": "select 1"})
    (root / "models/pw.sql").symlink_to(outside / "secret.sql")
    (root / "models/linked").symlink_to(outside / "more")
    (root / "macros").mkdir()
    (root / "macros/evil.sql").symlink_to(outside / "secret.sql")
    (root / "dbt_project.yml").write_text(
        f"name: hostile\nmodel-paths: ['models', '../outside', '{outside}']\n"
    )
    result = read_dbt(root, limits=FAST)
    assert set(by_name(result)) == {"fine"}
    assert SECRET not in json.dumps([o.model_dump() for o in result.objects])
    messages = [str(w) for w in result.warnings]
    assert "models/pw.sql: is a symbolic link; not read" in messages
    assert "models/linked: is a symbolic link; not read" in messages
    assert "macros/evil.sql: is a symbolic link; not read" in messages
    assert (
        "dbt_project.yml: model-paths entry '../outside' is outside the project folder; not read"
        in messages
    )
    assert any(f"'{outside}' is outside the project folder" in m for m in messages)


# --- the command a user types ---------------------------------------------------------------


def test_docgen_ingest_dbt_of_a_hostile_project(  # type: ignore[no-untyped-def]
    cli, engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    root = project(
        tmp_path / "p",
        {
            "escape": f"{{{{ modules.datetime.sys.modules['os'].system('touch {marker}') }}}}",
            "secret": 'select \'{{ env_var("OPENAI_API_KEY", "none") }}\' as k',
            "fine": "select 1 as ok",
        },
    )
    done = cli("ingest", "dbt", str(root), "--org", org.name, OPENAI_API_KEY=SECRET,
               DOCGEN_DBT_RENDER_TIMEOUT_SECONDS="5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert "models/escape.sql: not rendered" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    with transaction(engine) as conn:
        rows = {o.name: o for o in list_objects(conn, org.id)}
    assert SECRET not in json.dumps([o.model_dump(mode="json") for o in rows.values()])
    assert rows["secret"].compiled_code == "select 'none' as k\n"
    assert rows["escape"].compiled_code is None and rows["escape"].properties["uncompiled"]

    (root / "dbt_project.yml").write_text("name: hostile\nvars: [1]\n")
    bad = cli("ingest", "dbt", str(root), "--org", org.name)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert re.fullmatch(r"[^\n]*dbt_project.yml: vars must be a mapping, got list[^\n]*\n?",
                        bad.stderr)  # fmt: skip
