"""Typer command groups (one file per group). They only parse options and call pipelines."""
