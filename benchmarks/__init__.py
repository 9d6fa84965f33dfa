"""docgen's measured figures: `python -m benchmarks` (see README.md in this folder)."""
