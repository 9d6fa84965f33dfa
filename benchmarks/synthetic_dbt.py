"""Synthetic dbt projects for tests and benchmarks (standard library only).

    generate_project(root, n_models, seed=0, dialect="snowflake",
                     python_share=0.01, broken_share=0.0) -> SyntheticProject

writes a dbt project that looks like a real one of that size:

* ``dbt_project.yml``, ``packages.yml`` (dbt_utils, not installed), ``macros/``
  with project macros, one singular test and one analysis (not models);
* ``models/staging/<source>/``: one sources yml per source system (several
  tables each, a few declared but never read), ``stg_<source>__<table>`` models
  that read ``source()`` (a few union an ``_archive`` table too);
* ``models/intermediate/<domain>/``: ``int_<domain>__...`` models reading staging
  models and earlier intermediate models;
* ``models/marts/<domain>/``: ``fct_``/``dim_``/``agg_``/``rpt_`` models reading
  intermediate and staging models (most 1-4 inputs, about one in eight 5-10),
  plus Python models (``def model(dbt, session)``);
* a few hub models (users, customers, accounts, ...) read by dozens of models;
* ``_<folder>__models.yml`` schema files: descriptions for some models and
  columns (a few through ``{{ doc() }}`` blocks), tests, nothing for others.

Model SQL uses what real projects use: ``config()`` (incremental with
``unique_key``, tags, clustering/partitioning), ``is_incremental()`` with
``{{ this }}``, ``ref()`` written with single or double quotes and odd
whitespace, refs inside macro arguments (``dbt_utils.star(ref('x'))``,
``union_relations``) and ``{% set %}`` statements, ``source()``, ``{% set %}`` +
``{% for %}`` loops, ``var()``, ``env_var()``, ``{# #}`` comments, ``{%- -%}``
whitespace control, project macros and uninstalled package macros; and dialect
SQL (Snowflake ``::`` casts, ``iff``, ``qualify``, ``lateral flatten``; BigQuery
backticks, ``safe_cast``, ``unnest``, ``date_trunc(x, month)``; PostgreSQL
``::``, ``jsonb_array_elements``, ``distinct on``).  CTE chains of 2-6 CTEs (more
when a mart imports many models).

``SyntheticProject.models`` is the ground truth: model -> sorted upstream names
(models, and sources as ``source.<source>.<table>``).  Commented-out Jinja never
contains a ``ref(``/``source(`` call, so every call in a file is a dependency.
``broken_share`` of the SQL models get an unparseable body (an ``{% if %}``
without ``endif``, a ``{% for %}`` without ``endfor``, or garbage SQL) whose
``ref()``/``source()`` calls are still present and valid.

Python models are written for every dialect (dbt itself runs them only on
Snowflake, BigQuery and Databricks).  Same seed, same arguments: same bytes.

    python -m benchmarks.synthetic_dbt OUT_DIR --models N [--seed S] [--dialect D]
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

DIALECTS = ("snowflake", "bigquery", "postgres")
PROJECT_NAME = "acme_analytics"

SOURCE_SYSTEMS: dict[str, list[str]] = {
    "app_db": [
        "users",
        "accounts",
        "organizations",
        "memberships",
        "projects",
        "events",
        "sessions",
        "subscriptions",
        "invoices",
        "feature_flags",
        "api_keys",
        "audit_logs",
        "workspaces",
        "invitations",
    ],
    "stripe": [
        "charges",
        "customers",
        "invoices",
        "invoice_line_items",
        "subscriptions",
        "refunds",
        "payouts",
        "balance_transactions",
        "disputes",
        "plans",
        "prices",
        "products",
        "coupons",
    ],
    "salesforce": [
        "accounts",
        "contacts",
        "opportunities",
        "leads",
        "campaigns",
        "users",
        "tasks",
        "events",
        "opportunity_line_items",
        "cases",
        "pricebook_entries",
    ],
    "shopify": [
        "orders",
        "order_lines",
        "customers",
        "products",
        "product_variants",
        "refunds",
        "transactions",
        "fulfillments",
        "inventory_levels",
        "locations",
        "discount_codes",
        "abandoned_checkouts",
    ],
    "hubspot": [
        "contacts",
        "companies",
        "deals",
        "engagements",
        "email_events",
        "forms",
        "owners",
        "deal_pipelines",
        "tickets",
    ],
    "zendesk": [
        "tickets",
        "ticket_comments",
        "users",
        "organizations",
        "groups",
        "satisfaction_ratings",
        "ticket_metrics",
        "sla_policies",
    ],
    "netsuite": [
        "transactions",
        "transaction_lines",
        "accounts",
        "subsidiaries",
        "currencies",
        "vendors",
        "customers",
        "departments",
        "classes",
        "accounting_periods",
        "items",
    ],
    "segment": ["pages", "tracks", "identifies", "screens", "users", "groups"],
    "jira": [
        "issues",
        "projects",
        "sprints",
        "users",
        "issue_changelog",
        "comments",
        "worklogs",
        "statuses",
    ],
    "google_ads": [
        "campaigns",
        "ad_groups",
        "ads",
        "keywords",
        "campaign_stats",
        "ad_stats",
        "accounts",
    ],
    "facebook_ads": ["campaigns", "ad_sets", "ads", "ad_insights", "accounts", "creatives"],
    "intercom": ["conversations", "conversation_parts", "contacts", "companies", "admins", "tags"],
    "marketo": ["leads", "activities", "campaigns", "programs", "emails", "lists"],
    "workday": [
        "workers",
        "positions",
        "organizations",
        "job_profiles",
        "compensation",
        "time_off",
    ],
    "greenhouse": [
        "applications",
        "candidates",
        "jobs",
        "offers",
        "interviews",
        "scorecards",
        "departments",
    ],
    "braze": ["users", "campaigns", "canvases", "email_sends", "push_sends", "events"],
    "snowplow": ["events", "sessions", "page_views"],
    "quickbooks": [
        "invoices",
        "bills",
        "payments",
        "accounts",
        "customers",
        "vendors",
        "journal_entries",
    ],
    "github": ["repositories", "pull_requests", "issues", "commits", "users", "reviews"],
    "amplitude": ["events", "users", "sessions", "cohorts"],
    "ga4": ["events", "users", "sessions"],
    "linkedin_ads": ["campaigns", "creatives", "ad_analytics", "accounts"],
    "xero": ["invoices", "contacts", "accounts", "journals", "bank_transactions"],
    "sap": [
        "materials",
        "plants",
        "purchase_orders",
        "purchase_order_items",
        "goods_receipts",
        "vendors",
        "cost_centers",
        "gl_line_items",
    ],
}
INSTANCES = [
    "",
    "_eu",
    "_us",
    "_apac",
    "_legacy",
    "_latam",
    "_uk",
    "_jp",
    "_de",
    "_br",
    "_ca",
    "_au",
    "_in",
    "_fr",
    "_sandbox",
    "_v2",
]
LOADERS = ["fivetran", "airbyte", "stitch", "meltano", "custom_python"]
HUB_TABLES = (
    "users",
    "customers",
    "accounts",
    "organizations",
    "contacts",
    "products",
    "orders",
    "workers",
    "companies",
)
DOMAINS = [
    "finance",
    "marketing",
    "product",
    "sales",
    "support",
    "operations",
    "people",
    "growth",
    "revenue",
    "customer_success",
    "engineering",
    "supply_chain",
]
KEYS = [
    "customer_id",
    "account_id",
    "user_id",
    "organization_id",
    "product_id",
    "order_id",
    "campaign_id",
    "owner_id",
]
ATTRS = [
    ("status", "str"),
    ("amount", "num"),
    ("currency", "str"),
    ("name", "str"),
    ("email", "str"),
    ("type", "str"),
    ("category", "str"),
    ("country", "str"),
    ("quantity", "int"),
    ("unit_price", "num"),
    ("description", "str"),
    ("is_active", "bool"),
    ("plan", "str"),
    ("channel", "str"),
    ("region", "str"),
    ("score", "num"),
    ("duration_seconds", "int"),
    ("discount", "num"),
    ("tax", "num"),
    ("priority", "str"),
    ("is_deleted", "bool"),
    ("source_medium", "str"),
    ("payload", "json"),
    ("tier", "str"),
]
INT_SUFFIXES = [
    "joined",
    "enriched",
    "aggregated_daily",
    "pivoted",
    "deduplicated",
    "unioned",
    "windowed",
    "filtered",
    "rollup",
    "mapped",
    "scored",
    "sessionized",
    "bridged",
    "monthly",
    "attributed",
    "normalized",
]
MART_FORMS = [
    "fct_{e}",
    "dim_{e}",
    "agg_{e}_daily",
    "agg_{e}_monthly",
    "rpt_{d}_{e}",
    "fct_{e}_history",
    "{d}_{e}_summary",
    "dim_{e}_current",
    "fct_{e}_snapshot",
]
SENTENCES = [
    "One row per {e}.",
    "Deduplicated on the latest update.",
    "Used by the {d} team.",
    "Amounts are converted to USD at the daily rate.",
    "Excludes test and internal accounts.",
    "Refreshed hourly by the orchestrator.",
    "Grain: {e} x day.",
    "Soft-deleted records are filtered out.",
    "Source of truth for {d} reporting.",
]
COLUMN_DOCS = {
    "status": "Lifecycle status as reported by the source system.",
    "amount": "Amount in the transaction currency.",
    "created_at": "When the record was created in the source system (UTC).",
    "updated_at": "Last update in the source system (UTC).",
    "currency": "ISO 4217 currency code.",
    "email": "Contact email, lower-cased.",
    "country": "ISO 3166 alpha-2 country code.",
    "is_active": "Whether the record is active.",
}


@dataclass
class SyntheticProject:
    root: Path
    models: dict[str, list[str]]  # model -> sorted upstream models and "source.<src>.<table>"
    sources: list[str]  # every declared "source.<src>.<table>"
    python_models: list[str]
    described: set[str]  # models given a description in a schema yml
    broken: set[str] = field(default_factory=set)  # deliberately unparseable models
    paths: dict[str, str] = field(default_factory=dict)  # model -> path relative to root
    hubs: list[str] = field(default_factory=list)  # models read by dozens of models
    layers: dict[str, str] = field(default_factory=dict)  # model -> staging|intermediate|marts

    @property
    def edges(self) -> int:
        return sum(len(v) for v in self.models.values())


@dataclass
class _Model:
    name: str
    layer: str
    folder: str  # models/<layer>/<source or domain>
    domain: str
    entity: str
    key: str
    columns: list[tuple[str, str]]
    deps: list[str] = field(default_factory=list)  # ordered, unique
    python: bool = False
    broken: bool = False


IRREGULAR = {
    "statuses": "status",
    "canvases": "canvas",
    "people": "person",
    "classes": "class",
    "time_off": "time_off",
    "compensation": "compensation",
}
QUALIFIERS = [
    "_by_region",
    "_by_channel",
    "_weekly",
    "_wide",
    "_enriched",
    "_legacy",
    "_by_segment",
    "_current",
    "_latest",
    "_rollup",
]


def _singular(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


class _Sql:
    """Dialect-specific SQL fragments."""

    TYPES = {
        "snowflake": {
            "str": "varchar",
            "num": "number(18, 2)",
            "int": "integer",
            "bool": "boolean",
            "ts": "timestamp_ntz",
            "json": "variant",
        },
        "bigquery": {
            "str": "string",
            "num": "numeric",
            "int": "int64",
            "bool": "bool",
            "ts": "timestamp",
            "json": "json",
        },
        "postgres": {
            "str": "text",
            "num": "numeric(18, 2)",
            "int": "integer",
            "bool": "boolean",
            "ts": "timestamp",
            "json": "jsonb",
        },
    }
    BQ_RESERVED = {"date", "order", "group", "hash", "rows", "range", "window", "type", "name"}

    def __init__(self, dialect: str, rng: random.Random):
        self.d = dialect
        self.rng = rng

    def col(self, name: str) -> str:
        if self.d == "bigquery" and name in self.BQ_RESERVED:
            return f"`{name}`"
        return name

    def cast(self, expr: str, kind: str) -> str:
        t = self.TYPES[self.d][kind]
        if self.d == "bigquery":
            return (
                f"safe_cast({expr} as {t})" if self.rng.random() < 0.7 else f"cast({expr} as {t})"
            )
        if self.d == "snowflake" and self.rng.random() < 0.2:
            return f"try_cast({expr} as {t})" if kind != "json" else f"parse_json({expr})"
        return f"{expr}::{t}"

    def iff(self, cond: str, a: str, b: str) -> str:
        if self.d == "snowflake":
            return f"iff({cond}, {a}, {b})"
        if self.d == "bigquery":
            return f"if({cond}, {a}, {b})"
        return f"case when {cond} then {a} else {b} end"

    def month(self, expr: str) -> str:
        if self.d == "bigquery":
            return f"date_trunc(date({expr}), month)"
        return f"date_trunc('month', {expr})"

    def day(self, expr: str) -> str:
        if self.d == "bigquery":
            return f"date({expr})"
        if self.d == "snowflake":
            return f"{expr}::date"
        return f"date_trunc('day', {expr})::date"

    def days_between(self, a: str, b: str) -> str:
        if self.d == "snowflake":
            return f"datediff('day', {a}, {b})"
        if self.d == "bigquery":
            return f"date_diff(date({b}), date({a}), day)"
        return f"({b}::date - {a}::date)"

    def lookback(self) -> str:
        n = "{{ env_var('DBT_LOOKBACK_DAYS', '3') }}"
        if self.d == "snowflake":
            return f"dateadd('day', -{n}, current_date())"
        if self.d == "bigquery":
            return f"date_sub(current_date(), interval {n} day)"
        return f"current_date - interval '{n} days'"

    def now(self) -> str:
        return "now()" if self.d == "postgres" else "current_timestamp()"

    def dedupe(self, cte: str, key: str, order: str = "updated_at") -> list[str]:
        """Lines of a CTE body keeping the latest row per key."""
        if self.d == "postgres":
            return [f"select distinct on ({key}) *", f"from {cte}", f"order by {key}, {order} desc"]
        return [
            "select *",
            f"from {cte}",
            f"qualify row_number() over (partition by {key} order by {order} desc) = 1",
        ]

    def flatten(self, cte: str, alias: str) -> tuple[str, list[str]]:
        """(from clause, selected item columns) exploding a JSON/array payload."""
        if self.d == "snowflake":
            return (
                f"{cte},\n        lateral flatten(input => {cte}.payload:items) as {alias}",
                [
                    f"{alias}.value:sku::varchar as item_sku",
                    f"{alias}.value:quantity::integer as item_quantity",
                    f"{alias}.index as item_position",
                ],
            )
        if self.d == "bigquery":
            return (
                f"{cte}\n    cross join unnest(json_query_array({cte}.payload, '$.items'))"
                f" as {alias} with offset as item_position",
                [
                    f"json_value({alias}, '$.sku') as item_sku",
                    f"safe_cast(json_value({alias}, '$.quantity') as int64) as item_quantity",
                    "item_position",
                ],
            )
        return (
            f"{cte}\n    cross join lateral jsonb_array_elements({cte}.payload -> 'items')"
            f" with ordinality as {alias}(item, item_position)",
            [
                f"({alias}.item ->> 'sku')::text as item_sku",
                f"({alias}.item ->> 'quantity')::integer as item_quantity",
                "item_position",
            ],
        )


class _Generator:
    def __init__(
        self,
        root: Path,
        n_models: int,
        seed: int,
        dialect: str,
        python_share: float,
        broken_share: float,
    ):
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        if n_models < 3:
            raise ValueError("n_models must be at least 3 (one model per layer)")
        self.root = Path(root)
        self.n = n_models
        # the DAG and the schema files depend on seed and size only; the SQL text on the dialect too
        self.rng = random.Random(f"synthetic-dbt:plan:{seed}:{n_models}")
        self.doc_rng = random.Random(f"synthetic-dbt:docs:{seed}:{n_models}")
        self.render_seed = f"synthetic-dbt:render:{seed}:{n_models}:{dialect}"
        self.sql = _Sql(dialect, self.rng)
        self.dialect = dialect
        self.python_share = python_share
        self.broken_share = broken_share
        self.models: dict[str, _Model] = {}
        self.sources: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {}  # src -> tables
        self.source_loader: dict[str, str] = {}
        self.described: set[str] = set()
        self.hubs: list[str] = []
        self.doc_blocks: dict[str, str] = {}

    # ------------------------------------------------------------------ plan
    def _counts(self) -> tuple[int, int, int]:
        n_stg = max(1, round(self.n * 0.38))
        n_mart = max(1, round(self.n * 0.27))
        n_int = self.n - n_stg - n_mart
        if n_int < 1:
            n_int, n_stg = 1, n_stg - 1
        return n_stg, n_int, n_mart

    def _source_columns(self, table: str) -> list[tuple[str, str]]:
        rng = self.rng
        entity = _singular(table)
        keys = [k for k in rng.sample(KEYS, rng.randint(1, 3)) if k != f"{entity}_id"]
        attrs = rng.sample(ATTRS, rng.randint(3, 7))
        return (
            [("id", "str")]
            + [(k, "str") for k in keys]
            + attrs
            + [("created_at", "ts"), ("updated_at", "ts")]
        )

    def plan_sources(self, n_tables: int) -> list[tuple[str, str]]:
        """Declared source tables; returns those that get a staging model."""
        rng = self.rng
        systems = list(SOURCE_SYSTEMS)
        rng.shuffle(systems)
        cap = max(1, n_tables // 3)  # at least three sources once there are three tables
        picked: list[tuple[str, str]] = []
        k = 0
        while len(picked) < n_tables:
            system = systems[k % len(systems)]
            inst = k // len(systems)
            suffix = INSTANCES[inst] if inst < len(INSTANCES) else f"_r{inst}"
            src = system + suffix
            tables = SOURCE_SYSTEMS[system][: min(cap, n_tables - len(picked))]
            declared = []
            for t in tables:
                declared.append((t, self._source_columns(t)))
                picked.append((src, t))
            # a few tables declared but never read, and archives for unions
            if rng.random() < 0.3 and len(SOURCE_SYSTEMS[system]) > len(tables):
                t = SOURCE_SYSTEMS[system][len(tables)]
                declared.append((t, self._source_columns(t)))
            self.sources[src] = declared
            self.source_loader[src] = rng.choice(LOADERS)
            k += 1
        return picked

    def plan(self) -> None:
        rng = self.rng
        n_stg, n_int, n_mart = self._counts()
        staged = self.plan_sources(n_stg)
        n_domains = min(len(DOMAINS), max(3, self.n // 150))
        domains = DOMAINS[:n_domains]
        src_domains = {
            s: rng.sample(domains, min(len(domains), rng.randint(1, 2))) for s in self.sources
        }

        # staging
        stg_by_domain: dict[str, list[str]] = {d: [] for d in domains}
        staging: list[str] = []
        hub_candidates: list[str] = []
        for src, table in staged:
            name = f"stg_{src}__{table}"
            cols = next(c for t, c in self.sources[src] if t == table)
            entity = _singular(table)
            out_cols = [(f"{entity}_id", "str")] + [c for c in cols[1:]]
            m = _Model(
                name,
                "staging",
                f"staging/{src}",
                src_domains[src][0],
                entity,
                f"{entity}_id",
                out_cols,
                deps=[f"source.{src}.{table}"],
            )
            if rng.random() < 0.05:  # union with an archive table of the same source
                self.sources[src].append((f"{table}_archive", cols))
                m.deps.append(f"source.{src}.{table}_archive")
            self.models[name] = m
            staging.append(name)
            for d in src_domains[src]:
                stg_by_domain[d].append(name)
            if table in HUB_TABLES:
                hub_candidates.append(name)
        n_stg_hubs = min(40, max(2, self.n // 150))
        rng.shuffle(hub_candidates)
        stg_hubs = hub_candidates[:n_stg_hubs]
        stg_hubs += [s for s in staging if s not in stg_hubs][: n_stg_hubs - len(stg_hubs)]

        # intermediate
        used_names = set(self.models)
        intermediate: list[str] = []
        int_by_domain: dict[str, list[str]] = {d: [] for d in domains}
        n_int_hubs = min(20, max(1, self.n // 300))
        int_hubs: list[str] = []
        hub_window = max(n_int_hubs, n_int // 5)
        for i in range(n_int):
            domain = rng.choice(domains)
            n_deps = rng.choices([1, 2, 3, 4, 5, 6], [22, 34, 24, 12, 5, 3])[0]
            deps: list[str] = []
            for _ in range(n_deps):
                r = rng.random()
                if r < 0.16 and (stg_hubs or int_hubs):
                    pool = int_hubs if int_hubs and rng.random() < 0.4 else stg_hubs
                elif r < 0.45 and intermediate:
                    same = int_by_domain[domain]
                    pool = same if same and rng.random() < 0.7 else intermediate
                else:
                    same = stg_by_domain[domain]
                    pool = same if same and rng.random() < 0.7 else staging
                d = rng.choice(pool)
                if d not in deps:
                    deps.append(d)
            base = self.models[deps[0]]
            name = self._unique(
                f"int_{domain}__{base.entity}_{rng.choice(INT_SUFFIXES)}", used_names
            )
            self.models[name] = _Model(
                name,
                "intermediate",
                f"intermediate/{domain}",
                domain,
                base.entity,
                base.key,
                self._derive_columns(deps),
                deps,
            )
            intermediate.append(name)
            int_by_domain[domain].append(name)
            if i < hub_window and len(int_hubs) < n_int_hubs and rng.random() < 0.5:
                int_hubs.append(name)
        self.hubs = stg_hubs + int_hubs

        # marts
        marts: list[str] = []
        for _ in range(n_mart):
            domain = rng.choice(domains)
            n_deps = rng.choices(range(1, 11), [20, 25, 18, 13, 8, 6, 4, 3, 2, 1])[0]
            deps = []
            for _ in range(n_deps):
                r = rng.random()
                if r < 0.18:
                    pool = int_hubs if int_hubs and rng.random() < 0.5 else stg_hubs
                elif r < 0.75:
                    same = int_by_domain[domain]
                    pool = same if same and rng.random() < 0.7 else intermediate
                else:
                    same = stg_by_domain[domain]
                    pool = same if same and rng.random() < 0.6 else staging
                d = rng.choice(pool)
                if d not in deps:
                    deps.append(d)
            base = self.models[deps[0]]
            form = rng.choice(MART_FORMS)
            name = self._unique(form.format(e=base.entity, d=domain), used_names)
            self.models[name] = _Model(
                name,
                "marts",
                f"marts/{domain}",
                domain,
                base.entity,
                base.key,
                self._derive_columns(deps),
                deps,
            )
            marts.append(name)

        # python models (marts, reading staging/intermediate and sometimes a source)
        n_py = round(self.n * self.python_share)
        if self.python_share > 0 and n_py == 0 and self.n >= 20:
            n_py = 1
        for name in rng.sample(marts, min(n_py, len(marts))):
            m = self.models[name]
            m.python = True
            if rng.random() < 0.3:
                src = rng.choice(sorted(self.sources))
                m.deps.append(f"source.{src}.{self.sources[src][0][0]}")

        # broken models (SQL only, in every layer)
        sql_models = [n for n, m in self.models.items() if not m.python]
        n_broken = round(self.n * self.broken_share)
        if self.broken_share > 0 and n_broken == 0:
            n_broken = 1
        for name in rng.sample(sql_models, min(n_broken, len(sql_models))):
            self.models[name].broken = True

    def _unique(self, name: str, used: set[str]) -> str:
        if name not in used:
            used.add(name)
            return name
        for q in self.rng.sample(QUALIFIERS, 4):
            if name + q not in used:
                used.add(name + q)
                return name + q
        k = 2
        while f"{name}_v{k}" in used:
            k += 1
        used.add(f"{name}_v{k}")
        return f"{name}_v{k}"

    def _derive_columns(self, deps: list[str]) -> list[tuple[str, str]]:
        base = self.models[deps[0]]
        cols = list(base.columns[: 2 + self.rng.randint(2, 6)])
        seen = {c for c, _ in cols}
        for d in deps[1:]:
            for c in self.models[d].columns[1:3]:
                if c[0] not in seen:
                    cols.append(c)
                    seen.add(c[0])
        for ts in ("created_at", "updated_at"):
            if ts not in seen:
                cols.append((ts, "ts"))
        return cols

    # ------------------------------------------------------------- rendering
    def ref(self, name: str, *, bare: bool = False) -> str:
        r = self.rng.random()
        if r < 0.62:
            call = f"ref('{name}')"
        elif r < 0.82:
            call = f'ref("{name}")'
        else:
            call = f"ref( '{name}' )"
        if bare:
            return call
        r = self.rng.random()
        if r < 0.75:
            return "{{ " + call + " }}"
        if r < 0.9:
            return "{{" + call + "}}"
        return "{{  " + call + "  }}"

    def source(self, src: str, table: str) -> str:
        r = self.rng.random()
        if r < 0.7:
            return f"{{{{ source('{src}', '{table}') }}}}"
        if r < 0.88:
            return f'{{{{ source("{src}", "{table}") }}}}'
        return f"{{{{source('{src}','{table}')}}}}"

    def config(self, m: _Model) -> tuple[str, bool]:
        """(config line or '', incremental?)"""
        rng = self.rng
        incremental = (m.layer != "intermediate" or rng.random() < 0.3) and rng.random() < (
            0.15 if m.layer == "staging" else 0.3
        )
        if not incremental and rng.random() < 0.4:
            return "", False
        q = "'" if rng.random() < 0.75 else '"'
        parts = []
        if incremental:
            parts.append(f"materialized={q}incremental{q}")
            if rng.random() < 0.25:
                parts.append(f"unique_key=[{q}{m.key}{q}, {q}created_at{q}]")
            else:
                parts.append(f"unique_key={q}{m.key}{q}")
            if self.dialect != "postgres" and rng.random() < 0.5:
                parts.append(f"incremental_strategy={q}merge{q}")
            if rng.random() < 0.3:
                parts.append(f"on_schema_change={q}append_new_columns{q}")
        else:
            mat = {
                "staging": "view",
                "intermediate": rng.choice(["ephemeral", "view", "table"]),
                "marts": "table",
            }[m.layer]
            parts.append(f"materialized={q}{mat}{q}")
        if m.layer == "marts" and rng.random() < 0.4:
            if self.dialect == "snowflake":
                parts.append(f"cluster_by=[{q}created_at{q}]")
            elif self.dialect == "bigquery":
                parts.append(
                    "partition_by={'field': 'created_at', 'data_type': 'timestamp', "
                    "'granularity': 'day'}"
                )
            else:
                parts.append(f"indexes=[{{'columns': [{q}{m.key}{q}], 'unique': True}}]")
        if rng.random() < 0.6:
            tags = [m.layer, m.domain] + (["daily"] if rng.random() < 0.5 else ["hourly"])
            parts.append("tags=[" + ", ".join(f"{q}{t}{q}" for t in tags) + "]")
        if rng.random() < 0.15:
            parts.append(
                "meta={{'owner': '@{}-team', 'contains_pii': {}}}".format(
                    m.domain.replace("_", "-"), rng.choice(["true", "false"])
                )
            )
        if len(parts) > 3 and rng.random() < 0.5:
            inner = ",\n    ".join(parts)
            return "{{\n  config(\n    " + inner + "\n  )\n}}\n", incremental
        return "{{ config(" + ", ".join(parts) + ") }}\n", incremental

    def incremental_filter(self, cte_col: str = "updated_at") -> list[str]:
        rng = self.rng
        if rng.random() < 0.7:
            return [
                "{% if is_incremental() %}",
                f"    where {cte_col} > (select max({cte_col}) from {{{{ this }}}})",
                "{% endif %}",
            ]
        return [
            "{%- if is_incremental() %}",
            f"    where {cte_col} >= {self.sql.lookback()}",
            "{%- else %}",
            f"    where {cte_col} >= '{{{{ var(\"start_date\") }}}}'",
            "{%- endif %}",
        ]

    def header_comment(self, m: _Model) -> str:
        r = self.rng.random()
        if r < 0.15:
            return f"{{# Grain: one row per {m.entity}. Owner: {m.domain} team. #}}\n"
        if r < 0.22:
            return (
                "{#-\n    TODO: move the currency conversion upstream once the\n"
                "    finance team publishes daily rates.\n-#}\n"
            )
        return ""

    def render_staging(self, m: _Model) -> str:
        rng, sql = self.rng, self.sql
        cfg, incremental = self.config(m)
        src, table = m.deps[0].split(".")[1:]
        cols = next(c for t, c in self.sources[src] if t == table)
        lines: list[str] = []
        money = [c for c, k in cols if k == "num"]
        use_loop = len(money) >= 2 and rng.random() < 0.5
        if use_loop:
            lines.append("{%- set money_columns = [" + ", ".join(f"'{c}'" for c in money) + "] -%}")
            lines.append("")
        lines += ["with source as (", "", f"    select * from {self.source(src, table)}"]
        if incremental:
            lines += self.incremental_filter("updated_at")
        lines.append(
            "",
        )
        lines.append("),")
        from_cte = "source"
        if len(m.deps) > 1:
            atable = m.deps[1].split(".")[2]
            lines += [
                "",
                "archived as (",
                f"    select * from {self.source(src, atable)}",
                "    where created_at < '{{ var(\"start_date\") }}'",
                "),",
                "",
                "unioned as (",
                "    select * from source",
                "    union all",
                "    select * from archived",
                "),",
            ]
            from_cte = "unioned"
        sel = [f"{sql.cast('id', 'str')} as {m.key}"]
        for c, kind in cols[1:]:
            if use_loop and c in money:
                continue
            if kind == "num" and rng.random() < 0.3:
                sel.append(f"{{{{ cents_to_dollars('{c}') }}}} as {c}")
            elif kind == "bool" and rng.random() < 0.5:
                sel.append(f"{sql.iff(f'{c} = 1', 'true', 'false')} as {c}")
            elif kind == "str" and c == "email":
                sel.append(f"lower(trim({c})) as {c}")
            elif kind in ("ts", "json") or rng.random() < 0.5:
                sel.append(f"{sql.cast(sql.col(c), kind)} as {sql.col(c)}")
            else:
                sel.append(sql.col(c))
        if self.dialect == "bigquery" and rng.random() < 0.3:
            sel.append("_fivetran_synced as `_loaded_at`")
        else:
            sel.append("_loaded_at")
        lines += ["", "renamed as (", "", "    select"]
        body = [f"        {s}," for s in sel[:-1]]
        if use_loop:
            body.append("        {%- for col in money_columns %}")
            body.append("        {{ cents_to_dollars(col) }} as {{ col }}_usd,")
            body.append("        {%- endfor %}")
        body.append(f"        {sel[-1]}")
        lines += body
        lines += ["", f"    from {from_cte}"]
        if any(c == "is_deleted" for c, _ in cols):
            lines.append("    where not coalesce(is_deleted, false)")
        elif rng.random() < 0.2:
            lines.append("    {{ limit_data_in_dev('created_at') }}")
        lines.append("")
        last = "renamed"
        if rng.random() < 0.5:
            lines.append("),")
            lines += ["", "deduplicated as (", ""] + [
                "    " + s for s in sql.dedupe("renamed", m.key)
            ]
            lines.append("")
            last = "deduplicated"
        has_json = any(k == "json" for _, k in cols)
        if has_json and rng.random() < 0.5:
            lines.append("),")
            frm, items = sql.flatten(last, "item")
            lines += ["", "exploded as (", "", "    select", f"        {last}.{m.key},"]
            lines += [f"        {i}," for i in items[:-1]] + [f"        {items[-1]}"]
            lines += [f"    from {frm}", ""]
            lines.append(")")
            lines += ["", "select * from exploded"]
        else:
            lines.append(")")
            lines += ["", f"select * from {last}"]
        return cfg + self.header_comment(m) + "\n" + "\n".join(lines) + "\n"

    def _alias(self, name: str, taken: set[str]) -> str:
        a = name
        for p in ("stg_", "int_", "fct_", "dim_", "agg_", "rpt_"):
            if a.startswith(p):
                a = a[len(p) :]
                break
        a = a.replace("__", "_")
        cand, k = a, 2
        while cand in taken or cand in ("source", "final", "joined", "aggregated"):
            cand = f"{a}_{k}"
            k += 1
        taken.add(cand)
        return cand

    def render_model(self, m: _Model) -> str:
        """Intermediate and mart SQL: import CTEs, logic CTEs, final select."""
        rng, sql = self.rng, self.sql
        cfg, incremental = self.config(m)
        pre: list[str] = []
        ctes: list[tuple[str, list[str]]] = []
        taken: set[str] = set()
        aliases: list[str] = []
        deps = list(m.deps)
        i = 0
        while i < len(deps):
            dep = deps[i]
            alias = self._alias(dep, taken)
            r = rng.random()
            if (
                r < 0.1
                and i + 1 < len(deps)
                and m.layer == "intermediate"
                and not (incremental and not ctes)
            ):
                # two upstream models unioned through a package macro
                other = deps[i + 1]
                body = [
                    "    {{ dbt_utils.union_relations(",
                    f"        relations=[{self.ref(dep, bare=True)}, "
                    f"{self.ref(other, bare=True)}],",
                    "        exclude=['_loaded_at']",
                    "    ) }}",
                ]
                i += 2
            elif r < 0.25:
                body = [
                    f"    select {{{{ dbt_utils.star({self.ref(dep, bare=True)}, "
                    "except=['_loaded_at']) }}",
                    f"    from {self.ref(dep)}",
                ]
                i += 1
            elif r < 0.35:
                var = f"{alias}_relation"
                pre.append(f"{{%- set {var} = {self.ref(dep, bare=True)} -%}}")
                body = [f"    select * from {{{{ {var} }}}}"]
                i += 1
            else:
                body = [f"    select * from {self.ref(dep)}"]
                i += 1
            if incremental and not ctes:
                body += [
                    "    " + ln if not ln.startswith("{") else ln
                    for ln in self.incremental_filter("updated_at")
                ]
            ctes.append((alias, body))
            aliases.append(alias)

        base = aliases[0]
        key = m.key
        # logic CTEs
        # 2-6 CTEs in all (imports + logic + final) unless there are many imports
        total = rng.randint(max(2, len(ctes) + 1), max(6, len(ctes) + 2))
        n_logic = total - len(ctes) - 1
        logic_kinds = rng.sample(
            ["aggregated", "filtered", "deduplicated", "pivoted"],
            k=min(4, max(0, n_logic - (len(aliases) > 1))),
        )
        if len(aliases) > 1:
            logic_kinds.insert(0, "joined")
        last = base
        cols_by_alias = {}
        for a, d in zip(aliases, [d for d in deps], strict=False):
            cols_by_alias[a] = [c for c, _ in self.models[d].columns]
        for kind in logic_kinds:
            if kind == "joined":
                sel = [f"{base}.*"]
                joins = []
                for a in aliases[1:]:
                    other_cols = cols_by_alias.get(a, [key])
                    shared = [
                        c for c in other_cols if c in cols_by_alias[base] and c.endswith("_id")
                    ]
                    jk = shared[0] if shared else key
                    for c in other_cols[1:3]:
                        if c not in ("created_at", "updated_at"):
                            sel.append(f"{a}.{sql.col(c)} as {a}_{c}")
                    jt = rng.choice(["left join", "left join", "inner join", "left outer join"])
                    if rng.random() < 0.15 and jk == key:
                        joins.append(f"    {jt} {a} using ({jk})")
                    else:
                        joins.append(f"    {jt} {a}\n        on {base}.{jk} = {a}.{jk}")
                body = ["    select"] + [f"        {s}," for s in sel[:-1]] + [f"        {sel[-1]}"]
                body += [f"    from {base}"] + joins
                ctes.append(("joined", body))
                last = "joined"
            elif kind == "aggregated":
                use_loop = rng.random() < 0.4
                period = (sql.month if rng.random() < 0.5 else sql.day)("created_at")
                body = []
                if use_loop:
                    vals = rng.choice(
                        [
                            ["credit_card", "bank_transfer", "gift_card"],
                            ["web", "ios", "android"],
                            ["free", "pro", "enterprise"],
                            ["new", "returning"],
                        ]
                    )
                    pre.append("{%- set segments = [" + ", ".join(f"'{v}'" for v in vals) + "] -%}")
                body += [
                    "    select",
                    f"        {key},",
                    f"        {period} as period_start,",
                    "        count(*) as record_count,",
                    f"        count(distinct {key}) as distinct_{key.removesuffix('_id')}s,",
                    "        min(created_at) as first_seen_at,",
                ]
                if use_loop:
                    body += [
                        "        max(updated_at) as updated_at",
                        "        {%- for segment in segments %},",
                        "        sum("
                        + sql.iff("segment = '{{ segment }}'", "1", "0")
                        + ") as {{ segment }}_count",
                        "        {%- endfor %}",
                    ]
                else:
                    body += ["        max(updated_at) as updated_at"]
                body += [f"    from {last}", "    group by 1, 2"]
                ctes.append(("aggregated", body))
                last = "aggregated"
            elif kind == "filtered":
                cond = rng.choice(
                    [
                        "created_at >= '{{ var(\"start_date\") }}'",
                        f"{key} is not null",
                        "created_at >= " + sql.lookback(),
                        f"{key} not in (select {key} from {last} where {key} like 'test%')",
                    ]
                )
                body = ["    select *", f"    from {last}", f"    where {cond}"]
                ctes.append(("filtered", body))
                last = "filtered"
            elif kind == "deduplicated":
                body = ["    " + s for s in sql.dedupe(last, key)]
                ctes.append(("deduplicated", body))
                last = "deduplicated"
            elif kind == "pivoted":
                body = [
                    "    select",
                    "        *,",
                    f"        {sql.days_between('created_at', sql.now())} as age_days,",
                    f"        {sql.iff('updated_at > created_at', 'true', 'false')}"
                    " as was_updated,",
                    f"        row_number() over (partition by {key} order by created_at)"
                    " as sequence_number",
                    f"    from {last}",
                ]
                ctes.append(("pivoted", body))
                last = "pivoted"
        final = ["    select"]
        if m.layer == "marts" and rng.random() < 0.4:
            final.append(
                f"        {{{{ dbt_utils.generate_surrogate_key(['{key}', 'created_at']) }}}}"
                f" as {m.entity}_sk,"
            )
        elif rng.random() < 0.1:
            final.append(
                f"        {{{{ {PROJECT_NAME}.safe_divide('1', 'nullif(1, 0)') }}}} as weight,"
            )
        final += ["        *", f"    from {last}"]
        ctes.append(("final", final))

        out = [cfg.rstrip("\n")] if cfg else []
        hc = self.header_comment(m)
        if hc:
            out.append(hc.rstrip("\n"))
        out += pre
        if out:
            out.append("")
        parts = []
        for name, body in ctes:
            parts.append(f"{name} as (\n\n" + "\n".join(body) + "\n\n)")
        out.append("with " + ",\n\n".join(parts))
        out.append("")
        out.append("select * from final")
        return "\n".join(out) + "\n"

    def render_python(self, m: _Model) -> str:
        rng = self.rng
        to_df = ".toPandas()" if self.dialect == "bigquery" else ".to_pandas()"
        lines = [
            f'"""{m.name}: built in Python because the scoring needs pandas."""',
            "",
            "import pandas as pd",
            "",
            "",
            "def model(dbt, session):",
            '    dbt.config(materialized="table", packages=["pandas"])',
            "",
        ]
        frames = []
        for i, d in enumerate(m.deps):
            var = f"df_{i}"
            if d.startswith("source."):
                _, src, table = d.split(".")
                q = '"' if rng.random() < 0.7 else "'"
                lines.append(f"    {var} = dbt.source({q}{src}{q}, {q}{table}{q}){to_df}")
            else:
                q = '"' if rng.random() < 0.7 else "'"
                lines.append(f"    {var} = dbt.ref({q}{d}{q}){to_df}")
            lines.append(f"    {var}.columns = [c.lower() for c in {var}.columns]")
            frames.append(var)
        lines.append("")
        lines.append(f"    df = {frames[0]}")
        for f in frames[1:]:
            lines.append(f'    df = df.merge({f}, on="{m.key}", how="left", suffixes=("", "_r"))')
        lines += [
            '    df["created_at"] = pd.to_datetime(df["created_at"])',
            '    df["period"] = df["created_at"].dt.to_period("M").astype(str)',
            f'    out = df.groupby(["{m.key}", "period"], as_index=False).size()',
            '    out["score"] = out["size"] / out["size"].max()',
            "    return out",
            "",
        ]
        return "\n".join(lines)

    def break_body(self, text: str) -> str:
        kind = self.rng.choice(["unclosed_if", "unclosed_for", "garbage"])
        if kind == "unclosed_if":
            if "{% endif %}" in text:
                return text.replace("{% endif %}", "", 1)
            return text.replace("with ", "{% if var('include_legacy', false) %}\nwith ", 1)
        if kind == "unclosed_for":
            return text.replace("with ", "{% for region in var('regions', []) %}\nwith ", 1)
        return (
            text.replace("select * from ", "selec t ,, from ((( ", 1).rstrip("\n")
            + "\nwhere and group by order ) ;;\n"
        )

    # ------------------------------------------------------------------ files
    def write(self) -> SyntheticProject:
        root = self.root
        models_dir = root / "models"
        root.mkdir(parents=True, exist_ok=True)
        self.rng = self.sql.rng = random.Random(self.render_seed)
        self._write_project_files()
        folders: dict[str, list[_Model]] = {}
        for m in self.models.values():
            folders.setdefault(m.folder, []).append(m)
        paths: dict[str, str] = {}
        broken: set[str] = set()
        for folder, ms in folders.items():
            d = models_dir / folder
            d.mkdir(parents=True, exist_ok=True)
            for m in ms:
                if m.python:
                    text, ext = self.render_python(m), ".py"
                elif m.layer == "staging":
                    text, ext = self.render_staging(m), ".sql"
                else:
                    text, ext = self.render_model(m), ".sql"
                if m.broken:
                    text = self.break_body(text)
                    broken.add(m.name)
                (d / (m.name + ext)).write_text(text)
                paths[m.name] = f"models/{folder}/{m.name}{ext}"
            self._write_schema_yml(d, folder, ms)
        for src in self.sources:
            self._write_sources_yml(models_dir / "staging" / src, src)
        if self.doc_blocks:
            (models_dir / "_docs.md").write_text(
                "\n".join(
                    f"{{% docs {k} %}}\n{v}\n{{% enddocs %}}\n" for k, v in self.doc_blocks.items()
                )
            )
        return SyntheticProject(
            root=root,
            models={n: sorted(m.deps) for n, m in self.models.items()},
            sources=sorted(f"source.{s}.{t}" for s, ts in self.sources.items() for t, _ in ts),
            python_models=sorted(n for n, m in self.models.items() if m.python),
            described=set(self.described),
            broken=broken,
            paths=paths,
            hubs=list(self.hubs),
            layers={n: m.layer for n, m in self.models.items()},
        )

    def _write_project_files(self) -> None:
        root = self.root
        mat_int = "ephemeral"
        (root / "dbt_project.yml").write_text(f"""\
name: '{PROJECT_NAME}'
version: '1.0.0'
config-version: 2

profile: '{PROJECT_NAME}'

model-paths: ["models"]
analysis-paths: ["analyses"]
test-paths: ["tests"]
seed-paths: ["seeds"]
macro-paths: ["macros"]
snapshot-paths: ["snapshots"]

clean-targets:
  - "target"
  - "dbt_packages"

vars:
  start_date: '2020-01-01'
  include_legacy: false
  regions: ['us', 'eu']

models:
  {PROJECT_NAME}:
    +persist_docs:
      relation: true
      columns: true
    staging:
      +materialized: view
      +schema: staging
    intermediate:
      +materialized: {mat_int}
      +schema: intermediate
    marts:
      +materialized: table
      +schema: marts
""")
        (root / "packages.yml").write_text("""\
packages:
  - package: dbt-labs/dbt_utils
    version: [">=1.1.0", "<2.0.0"]
  - package: calogica/dbt_expectations
    version: 0.10.1
""")
        macros = root / "macros"
        macros.mkdir(exist_ok=True)
        (macros / "cents_to_dollars.sql").write_text("""\
{% macro cents_to_dollars(column_name, scale=2) -%}
    round({{ column_name }} / 100.0, {{ scale }})
{%- endmacro %}
""")
        (macros / "limit_data_in_dev.sql").write_text("""\
{% macro limit_data_in_dev(column_name, dev_days_of_data=3) -%}
{%- if target.name == 'dev' %}
    where {{ column_name }} >= {{ dbt.dateadd('day', -dev_days_of_data, dbt.current_timestamp()) }}
{%- endif %}
{%- endmacro %}
""")
        (macros / "safe_divide.sql").write_text("""\
{% macro safe_divide(numerator, denominator) -%}
    case when {{ denominator }} = 0 then null else {{ numerator }} / {{ denominator }} end
{%- endmacro %}
""")
        (macros / "generate_schema_name.sql").write_text("""\
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}
        {{ default_schema }}
    {%- elif target.name == 'prod' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
""")
        # not models: a singular test and an analysis that ref models
        some = sorted(n for n, m in self.models.items() if m.layer == "marts" and not m.python)
        if some:
            (root / "tests").mkdir(exist_ok=True)
            (root / "tests" / "assert_no_future_records.sql").write_text(
                f"select * from {{{{ ref('{some[0]}') }}}}\nwhere created_at > {self.sql.now()}\n"
            )
            (root / "analyses").mkdir(exist_ok=True)
            (root / "analyses" / "adhoc_row_counts.sql").write_text(
                f"select count(*) from {{{{ ref('{some[-1]}') }}}}\n"
            )

    @staticmethod
    def _q(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def _describe(self, m: _Model) -> str:
        rng = self.doc_rng
        n = rng.randint(1, 3)
        sents = [
            s.format(e=m.entity.replace("_", " "), d=m.domain.replace("_", " "))
            for s in rng.sample(SENTENCES, n)
        ]
        entity, domain = m.entity.replace("_", " "), m.domain.replace("_", " ")
        lead = {
            "staging": f"Cleaned {entity} records from {m.folder.split('/')[1]}.",
            "intermediate": f"Intermediate {entity} model for {domain}.",
            "marts": f"{domain.capitalize()} mart of {entity}s.",
        }
        return " ".join([lead[m.layer]] + sents)

    def _write_schema_yml(self, d: Path, folder: str, ms: list[_Model]) -> None:
        rng = self.doc_rng
        share = {"staging": 0.5, "intermediate": 0.3, "marts": 0.65}
        out = ["version: 2", "", "models:"]
        listed = 0
        for m in ms:
            r = rng.random()
            describe = r < share[m.layer]
            if not describe and rng.random() < 0.5:
                continue  # absent from every schema file
            listed += 1
            out.append(f"  - name: {m.name}")
            if describe:
                text = self._describe(m)
                self.described.add(m.name)
                if rng.random() < 0.05:
                    key = f"{m.name}_overview"
                    self.doc_blocks[key] = text
                    out.append(f"    description: '{{{{ doc(\"{key}\") }}}}'")
                elif len(text) > 90 and rng.random() < 0.5:
                    out.append("    description: >")
                    out.append(f"      {text}")
                else:
                    out.append(f"    description: {self._q(text)}")
            if rng.random() < 0.2:
                out += ["    config:", f"      tags: ['{m.domain}']"]
            cols = m.columns[: rng.randint(1, len(m.columns))]
            out.append("    columns:")
            for i, (c, _) in enumerate(cols):
                out.append(f"      - name: {c}")
                if describe and (i == 0 or rng.random() < 0.5):
                    doc = COLUMN_DOCS.get(c) or (
                        f"Identifier of the {c[:-3].replace('_', ' ')}."
                        if c.endswith("_id")
                        else f"{c.replace('_', ' ').capitalize()}."
                    )
                    out.append(f"        description: {self._q(doc)}")
                if i == 0:
                    out += ["        data_tests:", "          - unique", "          - not_null"]
                elif c == "status" and rng.random() < 0.5:
                    out += [
                        "        data_tests:",
                        "          - accepted_values:",
                        "              values: ['active', 'inactive', 'pending']",
                    ]
        if listed:
            name = folder.split("/")[-1]
            (d / f"_{name}__models.yml").write_text("\n".join(out) + "\n")

    def _write_sources_yml(self, d: Path, src: str) -> None:
        rng = self.doc_rng
        system = src
        for inst in sorted(INSTANCES, key=len, reverse=True):
            if inst and src.endswith(inst) and src[: -len(inst)] in SOURCE_SYSTEMS:
                system = src[: -len(inst)]
                break
        loader = self.source_loader[src]
        db = "raw" if self.dialect != "bigquery" else "acme-raw-data"
        out = [
            "version: 2",
            "",
            "sources:",
            f"  - name: {src}",
            f"    description: {self._q(f'Raw {system} data loaded by {loader}.')}",
            f"    database: {db}",
            f"    schema: {src}",
            f"    loader: {loader}",
            "    loaded_at_field: _loaded_at",
            "    freshness:",
            "      warn_after: {count: 24, period: hour}",
            "      error_after: {count: 48, period: hour}",
            "    tables:",
        ]
        for table, _cols in self.sources[src]:
            out.append(f"      - name: {table}")
            if rng.random() < 0.1:
                out.append(f"        identifier: {table.upper()}_V2")
            if rng.random() < 0.6:
                what = _singular(table).replace("_", " ")
                out.append(f"        description: {self._q(f'One row per {what} in {system}.')}")
            if rng.random() < 0.4:
                out.append("        columns:")
                out.append("          - name: id")
                out.append("            data_tests: [unique, not_null]")
        (d).mkdir(parents=True, exist_ok=True)
        (d / f"_{src}__sources.yml").write_text("\n".join(out) + "\n")


def generate_project(
    root: Path,
    n_models: int,
    *,
    seed: int = 0,
    dialect: str = "snowflake",
    python_share: float = 0.01,
    broken_share: float = 0.0,
) -> SyntheticProject:
    """Write a synthetic dbt project of n_models models under root (created if need be;
    an existing models/ folder is replaced) and return its ground truth."""
    root = Path(root)
    if (root / "models").exists():
        shutil.rmtree(root / "models")
    g = _Generator(root, n_models, seed, dialect, python_share, broken_share)
    g.plan()
    return g.write()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.synthetic_dbt", description="Write a synthetic dbt project."
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument("--models", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dialect", choices=DIALECTS, default="snowflake")
    p.add_argument("--python-share", type=float, default=0.01)
    p.add_argument("--broken-share", type=float, default=0.0)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    proj = generate_project(
        a.out_dir,
        a.models,
        seed=a.seed,
        dialect=a.dialect,
        python_share=a.python_share,
        broken_share=a.broken_share,
    )
    dt = time.perf_counter() - t0
    layers = {
        k: sum(1 for v in proj.layers.values() if v == k)
        for k in ("staging", "intermediate", "marts")
    }
    n_src = len({s.split(".")[1] for s in proj.sources})
    print(
        f"{proj.root}: {len(proj.models)} models ({layers['staging']} staging, "
        f"{layers['intermediate']} intermediate, {layers['marts']} marts; "
        f"{len(proj.python_models)} python, {len(proj.broken)} broken), "
        f"{n_src} sources with {len(proj.sources)} tables, {proj.edges} edges, "
        f"{len(proj.described)} described, {a.dialect}, seed {a.seed}, {dt:.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
