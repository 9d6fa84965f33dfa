"""Deployments of docgen's flows: prefect.yaml (for `prefect deploy` and workers) and
`docgen serve` (both deployments served from one process)."""
