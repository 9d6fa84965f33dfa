"""dbt constructs read from a project folder as dbt compiles them (issue 16): one small project
per construct, each asserting the compiled SQL."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from docgen.context import ObjectContext
from docgen.db.engine import transaction
from docgen.db.objects import Selection, list_objects, resolve_selection
from docgen.ingest import ingest_source
from docgen.prompts.context import render_context
from docgen.sources.dbt import read_dbt
from docgen.sources.dbt.render_worker import RenderLimits
from tests.conftest import OrgFixture

ONE = RenderLimits(timeout_seconds=10, workers=1)


def read(root: Path, files: dict[str, str], dialect: str | None = None) -> Any:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return read_dbt(root, dialect=dialect, limits=ONE)


def sql(result: Any, name: str) -> str | None:
    [obj] = [o for o in result.objects if o.name == name]
    return obj.compiled_code.strip() if obj.compiled_code else None


def test_package_macros_bare_namespaced_and_the_project_s_own_namespace(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "dbt_packages/helpers/dbt_project.yml": "name: helpers\n",
        "dbt_packages/helpers/macros/m.sql": """
            {% macro cents(col) %}({{ _divide(col) }}){% endmacro %}
            {% macro _divide(col) %}{{ col }} / 100{% endmacro %}
        """,
        "macros/own.sql": "{% macro upper_name(c) %}upper({{ c }}){% endmacro %}",
        "models/m.sql": "select {{ helpers.cents('a') }}, {{ shop.upper_name('b') }},"
                        " {{ upper_name('c') }}",
    })  # fmt: skip
    assert sql(result, "m") == "select (a / 100), upper(b), upper(c)"


def test_adapter_dispatch_follows_the_project_s_dispatch_order(tmp_path: Path) -> None:
    files = {
        "dbt_project.yml": "name: shop\n",
        "dbt_packages/helpers/dbt_project.yml": "name: helpers\n",
        "dbt_packages/helpers/macros/m.sql": """
            {% macro width() %}{{ return(adapter.dispatch('width', 'helpers')()) }}{% endmacro %}
            {% macro default__width() %}package_default{% endmacro %}
            {% macro snowflake__width() %}package_snowflake{% endmacro %}
        """,
        "macros/override.sql": "{% macro default__width() %}project_override{% endmacro %}",
        "models/m.sql": "select '{{ helpers.width() }}'",
    }
    # no dispatch config: the root project, then the package (packages first, prefixes
    # second, as dbt loops): the project's default__ wins over the package's snowflake__
    assert sql(read(tmp_path / "a", files, "snowflake"), "m") == "select 'project_override'"
    files["dbt_project.yml"] = (
        "name: shop\ndispatch:\n  - macro_namespace: helpers\n    search_order: [helpers]\n"
    )
    assert sql(read(tmp_path / "b", files, "snowflake"), "m") == "select 'package_snowflake'"
    assert sql(read(tmp_path / "c", files, "postgres"), "m") == "select 'package_default'"


def test_dbt_builtins_in_the_warehouse_dialect(tmp_path: Path) -> None:
    model = (
        "select {{ dbt.type_string() }}, {{ dbt.current_timestamp() }},"
        " {{ dbt.safe_cast('a', dbt.type_int()) }}, {{ dbt.concat(['a', 'b']) }},"
        " {{ dbt.date_trunc('day', 'd') }}, {{ type_timestamp() }}"
    )
    files = {"dbt_project.yml": "name: shop\n", "models/m.sql": model}
    assert sql(read(tmp_path / "s", files, "snowflake"), "m") == (
        "select varchar, current_timestamp(), try_cast(a as integer), concat(a, b),"
        " date_trunc('day', d), timestamp_ntz"
    )
    assert sql(read(tmp_path / "b", files, "bigquery"), "m") == (
        "select string, current_timestamp(), safe_cast(a as int64), concat(a, b),"
        " timestamp_trunc(cast(d as timestamp), day), timestamp"
    )


def test_config_dict_folder_config_and_yaml_config(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": """
            name: shop
            models:
              shop:
                +tags: [all]
                marts:
                  +materialized: table
                  +schema: marts
                  +tags: [mart]
        """,
        "models/marts/_models.yml": """
            models:
              - name: yml_config
                config: {materialized: view, tags: [from_yml]}
        """,
        "models/marts/dict_config.sql": "{{ config({'materialized': 'incremental',"
                                        " 'tags': ['own']}) }}select 1",
        "models/marts/yml_config.sql": "select '{{ config.get('materialized') }}'",
        "models/marts/folder_config.sql": "select 1",
    })  # fmt: skip
    objects = {o.name: o for o in result.objects}
    assert objects["dict_config"].materialization == "incremental"
    assert objects["dict_config"].tags == ["all", "mart", "own"]
    assert objects["yml_config"].materialization == "view"
    assert sql(result, "yml_config") == "select 'view'"
    assert objects["yml_config"].tags == ["all", "from_yml", "mart"]
    assert objects["folder_config"].materialization == "table"
    assert objects["folder_config"].schema_name == "marts"


def test_versioned_models(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "models/_models.yml": """
            models:
              - name: customers
                description: One row per customer.
                latest_version: 2
                columns:
                  - name: id
                  - name: legacy_flag
                versions:
                  - v: 1
                  - v: 2
                    columns:
                      - include: all
                        exclude: [legacy_flag]
                      - name: segment
        """,
        "models/customers_v1.sql": "select id, legacy_flag from raw",
        "models/customers_v2.sql": "select id, segment from raw",
        "models/report.sql": "select * from {{ ref('customers') }}"
                             " join {{ ref('customers', v=1) }} using (id)",
    })  # fmt: skip
    objects = {o.name: o for o in result.objects}
    assert sql(result, "report") == "select * from customers_v2 join customers_v1 using (id)"
    assert sorted(objects["report"].upstream_keys) == [
        "model.shop.customers.v1",
        "model.shop.customers.v2",
    ]
    v2 = objects["customers.v2"]
    assert v2.description == "One row per customer." and v2.properties["version"] == "2"
    assert [c.name for c in v2.columns] == ["id", "segment"]
    assert [c.name for c in objects["customers.v1"].columns] == ["id", "legacy_flag"]


def test_builtins_ref_inside_the_project_s_own_ref(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "macros/ref.sql": """
            {% macro ref(name) -%}
              {{ return(builtins.ref(name).include(database=false)) }}
            {%- endmacro %}
        """,
        "models/a.sql": "select 1 as x",
        "models/b.sql": "select x from {{ ref('a') }}",
    })  # fmt: skip
    assert sql(result, "b") == "select x from a"
    assert [o.upstream_keys for o in result.objects if o.name == "b"] == [["model.shop.a"]]


def test_profiles_target_gives_the_dialect_and_target(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\nprofile: shop\n",
        "profiles.yml": """
            shop:
              target: prod
              outputs:
                prod: {type: bigquery, project: acme, dataset: analytics, keyfile: /secret.json}
        """,
        "models/m.sql": "select '{{ target.type }}', '{{ target.schema }}',"
                        " {{ dbt.type_string() }} {% if is_incremental() %}"
                        "where x > (select max(x) from {{ this }}){% endif %}",
    })  # fmt: skip
    assert sql(result, "m") == "select 'bigquery', 'analytics', string"
    assert {o.dialect for o in result.objects} == {"bigquery"}


def test_vars_and_a_model_that_cannot_render_keeps_its_template(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\nvars:\n  start: '2024-01-01'\n",
        "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
        "models/ok.sql": "select '{{ var('start') }}', '{{ var('other', 'dflt') }}'",
        "models/no_var.sql": "select '{{ var('platform') }}' as platform",
        "models/no_pkg.sql": "select {{ dbt_utils.star(ref('ok')) }}",
    })  # fmt: skip
    assert sql(result, "ok") == "select '2024-01-01', 'dflt'"
    objects = {o.name: o for o in result.objects}
    for name in ("no_var", "no_pkg"):
        assert objects[name].compiled_code is None and objects[name].properties["uncompiled"]
        assert "NULL" not in objects[name].code
    assert "var('platform') has no value" in objects["no_var"].properties["render_problem"]
    messages = [str(w) for w in result.warnings]
    assert any(m.startswith("models/no_var.sql: not rendered (var('platform')") for m in messages)
    assert any(m.startswith("packages.yml: packages not installed: dbt_utils;") for m in messages)
    ctx = ObjectContext(object=_stored(objects["no_var"]), upstream=(), downstream=())
    prompt = render_context(ctx)
    assert "{{ var('platform') }}" in prompt and "uncompiled dbt Jinja template" in prompt


def _stored(obj: Any) -> Any:
    from docgen.db.objects import DataObject

    fields = obj.model_dump(exclude={"upstream_keys", "external_upstreams"})
    return DataObject.model_validate({**fields, "id": "00000000-0000-0000-0000-000000000001",
                                      "organization_id": "00000000-0000-0000-0000-000000000002",
                                      "content_hash": ""})  # fmt: skip


def test_disabled_models_are_registered_but_not_selected_by_all(
    engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    read(tmp_path, {
        "dbt_project.yml": "name: shop\nmodels:\n  shop:\n    old:\n      +enabled: false\n",
        "models/on.sql": "select 1",
        "models/old/off.sql": "select 2",
    })  # fmt: skip
    ingest_source(engine, org.id, "dbt", tmp_path)
    with transaction(engine) as conn:
        objects = {o.name: o for o in list_objects(conn, org.id)}
        assert objects["off"].properties["disabled"] is True
        assert resolve_selection(conn, org.id, Selection(all=True)) == [objects["on"].id]
        chosen = resolve_selection(conn, org.id, Selection(select=["off"]))
    assert chosen == [objects["off"].id]


def test_the_manifest_is_read_first_and_a_disagreement_is_said(tmp_path: Path) -> None:
    manifest = {
        "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
        "nodes": {
            "model.shop.a": {
                "resource_type": "model", "name": "a", "package_name": "shop",
                "raw_code": "select 1", "compiled_code": "select 1 /* compiled by dbt */",
                "original_file_path": "models/a.sql",
            }
        },
    }  # fmt: skip
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "models/a.sql": "select 1",
        "models/b.sql": "select 2",
        "target/manifest.json": json.dumps(manifest),
    })  # fmt: skip
    assert sql(result, "a") == "select 1 /* compiled by dbt */"
    assert [o.name for o in result.objects] == ["a"]
    [warning] = result.warnings
    assert warning.path == "target/manifest.json"
    assert "disagrees with it: 1 model files it does not hold (b)" in warning.message


def test_columns_dbt_would_ask_the_warehouse_for(tmp_path: Path) -> None:
    """`adapter.get_columns_in_relation`: a source's declared columns, a rendered model's
    output columns; a relation nobody describes leaves the model unrendered."""
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "models/src.yml": "sources:\n  - name: raw\n    tables:\n      - name: t\n"
                          "        columns: [{name: a}, {name: b}]\n      - name: u\n",
        "models/opaque.sql": "select * from {{ source('raw', 'u') }}",
        "models/named.sql": "with x as (select 1 as id, 'n' as label) select * from x",
        "models/from_model.sql": "select {% for c in adapter.get_columns_in_relation("
                                 "ref('named')) %}{{ c.name }}{{ ', ' if not loop.last }}"
                                 "{% endfor %} from {{ ref('named') }}",
        "models/from_source.sql": "select {{ adapter.get_columns_in_relation(source('raw', 't'))"
                                  " | map(attribute='name') | join(', ') }} from"
                                  " {{ source('raw', 't') }}",
        "models/unknown.sql": "select {{ adapter.get_columns_in_relation(ref('opaque'))"
                              " | length }} as n from {{ ref('opaque') }}",
    })  # fmt: skip
    assert sql(result, "from_model") == "select id, label from named"
    assert sql(result, "from_source") == "select a, b from raw.t"
    [unknown] = [o for o in result.objects if o.name == "unknown"]
    assert unknown.compiled_code is None
    assert unknown.properties["render_problem"] == (
        "needs the warehouse: adapter.get_columns_in_relation"
    )


def test_a_broken_macro_file_only_affects_the_models_that_call_it(tmp_path: Path) -> None:
    result = read(tmp_path, {
        "dbt_project.yml": "name: shop\n",
        "macros/broken.sql": "{% macro broken() %}{% if %}{% endmacro %}",
        "models/calls_it.sql": "select {{ broken() }}",
        "models/does_not.sql": "select 1",
    })  # fmt: skip
    assert sql(result, "does_not") == "select 1"
    [obj] = [o for o in result.objects if o.name == "calls_it"]
    assert obj.compiled_code is None
    assert obj.properties["render_problem"] == (
        "macros/broken.sql has a Jinja syntax error at line 1"
    )
