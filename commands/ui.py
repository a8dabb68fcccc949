"""`stitchtime ui`: the local web app (:mod:`pipelines.ui`)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Optional

import typer

from commands._common import friendly_errors
from stitchtime.errors import BackendError


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (0.0.0.0: every interface)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to serve on."),
    model: Optional[Path] = typer.Option(
        None, "--model", help="A cVAE or DDPM run folder to edit with (default: the shipped models)."
    ),
) -> None:
    """A web page to upload a video, preview one frame, run the edit and download the result.

    Serves on http://127.0.0.1:7860 (this machine only) until Ctrl-C. There is no authentication:
    with --host other than loopback, anyone who can reach the port can run edits."""
    from pipelines.ui import launch  # (first: it turns Gradio's calls home off before Gradio is imported)

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise BackendError("stitchtime ui needs Gradio: pip install 'stitchtime[ui]'") from None

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(f"stitchtime: note: serving on {host}:{port} with no authentication", file=sys.stderr)
    print(
        f"stitchtime: serving on http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port} (Ctrl-C to stop)",
        file=sys.stderr,
    )
    launch(host, port, model)


def register(app: typer.Typer) -> None:
    app.command()(friendly_errors(ui))
