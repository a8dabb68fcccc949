"""Video commands: align, edit (and, as they land, evaluate, attrs, batch)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from commands._common import friendly_errors
from pipelines.align_video import align_video
from pipelines.edit_video import PipelineConfig, edit_video
from pipelines.editors import make_editor
from stitchtime.config import AlignConfig, DetectConfig, DetectorBackend, EncodeConfig
from stitchtime.render.blend import BlendMode


def _pipeline_config(
    detector: DetectorBackend,
    face_index: Optional[int],
    crop_size: int,
    sigma_center: float,
    sigma_axis: float,
    crf: int = EncodeConfig.crf,
    preset: str = EncodeConfig.preset,
    blend: BlendMode = BlendMode.delta,
    quiet: bool = False,
) -> PipelineConfig:
    return PipelineConfig(
        detect=DetectConfig(backend=detector, face_index=face_index),
        align=AlignConfig(crop_size=crop_size, sigma_center=sigma_center, sigma_axis=sigma_axis),
        encode=EncodeConfig(crf=crf, preset=preset),
        blend=blend,
        progress=not quiet and sys.stderr.isatty(),
    )


def _say(lines: list[str]) -> None:
    for line in lines:
        print(f"stitchtime: {line}", file=sys.stderr)


DETECTOR = typer.Option(DetectorBackend.dlib, "--detector", case_sensitive=False, help="Face detector / landmark backend.")
FACE_INDEX = typer.Option(None, "--face-index", min=0, help="Edit the N-th face (left to right) instead of the largest.")
SIGMA_CENTER = typer.Option(AlignConfig.sigma_center, help="Temporal smoothing of the crop centre (frames).")
SIGMA_AXIS = typer.Option(AlignConfig.sigma_axis, help="Temporal smoothing of the crop size/rotation (frames).")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def align(
    video: Path = typer.Argument(..., help="Input video."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory for crops/, landmarks.json, contact_sheet.png."),
    crop_size: int = typer.Option(AlignConfig.crop_size, min=16, help="Crop side in pixels."),
    detector: DetectorBackend = DETECTOR,
    face_index: Optional[int] = FACE_INDEX,
    sigma_center: float = SIGMA_CENTER,
    sigma_axis: float = SIGMA_AXIS,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Aligned face crops of a video (FFHQ-style, smoothed over time), landmarks and a contact sheet."""
    config = _pipeline_config(detector, face_index, crop_size, sigma_center, sigma_axis, quiet=quiet)
    result = align_video(video, output, config, overwrite=overwrite)
    _say(result.notes)
    print(f"{result.n_face_frames}/{result.n_frames} frames with a face -> {result.out_dir} (sheet: {result.sheet})")


def edit(
    video: Path = typer.Argument(..., help="Input video."),
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4)."),
    attr: str = typer.Option(..., "--attr", help="Attribute to edit ('none' = round trip without an edit)."),
    strength: float = typer.Option(1.0, "--strength", help="Signed edit strength (negative removes the attribute)."),
    crop_size: int = typer.Option(AlignConfig.crop_size, min=16, help="Aligned crop side in pixels."),
    detector: DetectorBackend = DETECTOR,
    face_index: Optional[int] = FACE_INDEX,
    sigma_center: float = SIGMA_CENTER,
    sigma_axis: float = SIGMA_AXIS,
    blend: BlendMode = typer.Option(BlendMode.delta, case_sensitive=False, help="delta: add the edit to the original; replace: paste the crop."),
    crf: int = typer.Option(EncodeConfig.crf, min=0, max=51, help="x264 quality (lower is better)."),
    preset: str = typer.Option(EncodeConfig.preset, help="x264 preset."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Edit the face in a video; same frames, timing, size and audio back."""
    config = _pipeline_config(detector, face_index, crop_size, sigma_center, sigma_axis, crf, preset, blend, quiet)
    editor = make_editor(attr, strength)
    result = edit_video(video, output, editor, config, overwrite=overwrite)
    _say(result.notes)
    print(
        f"{result.output}: {result.n_frames} frames ({result.n_face_frames} with the face) in {result.seconds:.1f} s"
    )


def register(app: typer.Typer) -> None:
    app.command()(friendly_errors(align))
    app.command()(friendly_errors(edit))
