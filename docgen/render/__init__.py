"""Reading the documentation: exports and version views (see README.md beside this file).

data      load_catalog() (objects, current versions, lineage), resolve_object(), version facts
html      the static HTML catalog (Jinja2, autoescaped, CSP)
markdown  one Markdown file per object plus an index; also the Prefect artifact's text
dbt_yaml  descriptions written back into a dbt project's schema .yml files
          (dbt_project: its schema files and model matching; yaml_roundtrip: line-exact edits)
diff      layer-by-layer comparison of two versions
summary   a job's per-layer token and cost table
"""
