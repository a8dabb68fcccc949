"""Video commands: align, edit, evaluate, attrs, batch."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
