"""The workflow benchmark's definitions, Node baseline (run.mjs) and report (see bench/workflows_run.py)."""
