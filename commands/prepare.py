"""Data commands: `stitchtime prepare celeba`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from commands._common import friendly_errors

prepare_app = typer.Typer(help="Prepare training data (aligned with the video aligner).", no_args_is_help=True)


@prepare_app.command("celeba")
@friendly_errors
def celeba(
    source: Path = typer.Argument(
        ..., help="CelebA folder (img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Prepared folder: images/, attributes.csv, split.csv."),
    size: int = typer.Option(64, "--size", min=16, help="Crop side in pixels."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N images (for a quick try)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Align every CelebA face with stitchtime's aligner; resumable (finished images are kept)."""
    from pipelines.prepare_data import prepare_celeba

    r = prepare_celeba(
        source, output, size=size, workers=workers, limit=limit, progress=not quiet and sys.stderr.isatty()
    )
    print(f"{output}: {r.n_images - r.n_failed} aligned images ({r.n_written} new, {r.n_failed} without a face)")


@prepare_app.command("edges")
@friendly_errors
def edges(
    prepared: Path = typer.Argument(..., help="A folder made by `stitchtime prepare celeba`."),
    output: Path = typer.Option(..., "--output", "-o", help="Pairs folder: train/ and test/ of edges|face PNGs."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N images (for a quick try)."),
) -> None:
    """Edges -> face pairs for pix2pix (Canny edges | face, side by side); resumable."""
    from pipelines.prepare_data import prepare_edge_pairs

    counts = prepare_edge_pairs(prepared, output, limit=limit)
    print(f"{output}: {counts['train']} train and {counts['test']} test pairs")


def register(app: typer.Typer) -> None:
    app.add_typer(prepare_app, name="prepare")
