"""Video commands: align, edit (and, as they land, evaluate, attrs, batch)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from commands._common import friendly_errors
from pipelines.align_video import align_video
from pipelines.edit_video import PipelineConfig, edit_video
from pipelines.editors import fast_preset, make_editor
from stitchtime.config import AlignConfig, DetectConfig, DetectorBackend, EditConfig, EncodeConfig, InvertConfig
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
    model: Optional[Path] = typer.Option(None, "--model", help="A cVAE or DDPM run folder (or its model.safetensors) from `stitchtime train` (default: the shipped models)."),
    method: str = typer.Option(EditConfig.method, "--method", help="auto (each attribute's measured best), cond (cVAE attribute input), direction (cVAE latent direction), diffusion (DDIM inversion with the DDPM)."),
    tune_steps: Optional[int] = typer.Option(
        None, "--tune-steps", min=0, help=f"Per-video decoder tuning steps of cVAE edits (0: off; default {InvertConfig.tune_steps}, 0 with --fast)."
    ),
    fast: bool = typer.Option(False, "--fast", help="Quickest edit: the cVAE's attribute input, no tuning (about 2x the default's speed; fainter edits)."),
    latent_sigma: float = typer.Option(EditConfig.latent_sigma, "--latent-sigma", min=0.0, help="Temporal smoothing of the latents (frames)."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, mps, cpu), cpu, cuda, mps."),
    preview: bool = typer.Option(False, "--preview", help="Also write OUTPUT.preview.mp4 (side by side) and OUTPUT.preview.png (sheet)."),
    blend: BlendMode = typer.Option(BlendMode.delta, case_sensitive=False, help="delta: add the edit to the original; replace: paste the crop."),
    identity_limit: float = typer.Option(
        PipelineConfig.identity_limit, "--identity-limit", min=0.0,
        help="Scale the whole edit down when it moves dlib's identity descriptor further than this from the original (0: off; not with --blend replace).",
    ),
    crf: int = typer.Option(EncodeConfig.crf, min=0, max=51, help="x264 quality (lower is better)."),
    preset: str = typer.Option(EncodeConfig.preset, help="x264 preset."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Edit the face in a video; same frames, timing, size and audio back."""
    config = _pipeline_config(detector, face_index, crop_size, sigma_center, sigma_axis, crf, preset, blend, quiet)
    config = replace(config, identity_limit=identity_limit)
    if fast:
        method, tune_steps = fast_preset(method, tune_steps)
    editor = make_editor(
        attr,
        strength,
        model=model,
        edit=None if attr.strip().lower() == "none" else EditConfig(attr=attr, strength=strength, latent_sigma=latent_sigma, method=method),
        invert=InvertConfig() if tune_steps is None else InvertConfig(tune_steps=tune_steps),
        device=device,
        progress=config.progress,
    )
    result = edit_video(video, output, editor, config, overwrite=overwrite, preview=preview)
    _say(result.notes)
    print(
        f"{result.output}: {result.n_frames} frames ({result.n_face_frames} with the face) in {result.seconds:.1f} s"
        + (f"; preview {result.preview}" if result.preview else "")
    )


def attrs(
    model: Optional[Path] = typer.Option(None, "--model", help="A cVAE or DDPM run folder (default: the shipped models)."),
) -> None:
    """The attributes the loaded model can edit (use them with `edit --attr`), and the edit method
    `--method auto` uses for each."""
    from pipelines.editors import attribute_methods

    print("none            no edit (round trip through the face pipeline)")
    for a, method in attribute_methods(model):
        print(f"{a.name:<15} {a.help} [CelebA {a.celeba}{'' if a.sign > 0 else ', inverted'}; {method}]")


def evaluate(
    original: Path = typer.Argument(..., help="The original video."),
    edited: Path = typer.Argument(..., help="The edited video."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON here."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Quality numbers: TL-ID, TG-ID, identity distance, background PSNR, flicker ratio, integrity."""
    import json

    from stitchtime.evaluate import evaluate as run_evaluate
    from stitchtime.io.paths import atomic_write_bytes, check_output_path

    if json_out is not None:
        check_output_path(json_out, overwrite=overwrite)
    metrics = run_evaluate(original, edited, progress=not quiet and sys.stderr.isatty())
    print(metrics.table())
    if json_out is not None:
        atomic_write_bytes(json_out, json.dumps(metrics.to_json(), indent=2).encode())


def batch(
    in_dir: Path = typer.Argument(..., help="Folder of videos (searched recursively)."),
    out_dir: Path = typer.Argument(..., help="Output folder (mirrors the input tree; report.json)."),
    attr: str = typer.Option(..., "--attr", help="Attribute to edit (see `stitchtime attrs`)."),
    strength: float = typer.Option(1.0, "--strength", help="Signed edit strength."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Files processed in parallel (threads are split between them)."),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="Glob for input files, e.g. '*.mp4' (default: common video suffixes)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A cVAE run folder (default: the shipped model)."),
    tune_steps: Optional[int] = typer.Option(None, "--tune-steps", min=0, help="Per-video decoder tuning steps of cVAE edits."),
    fast: bool = typer.Option(False, "--fast", help="Quickest edit: the cVAE's attribute input, no tuning (see `edit --fast`)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry files that failed in an earlier run."),
    evaluate_: bool = typer.Option(False, "--evaluate", help="Also measure each output (slower)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Edit every video in a folder tree; rerun to resume (finished files are skipped)."""
    from tqdm import tqdm

    from pipelines.batch import BatchJob, find_videos, run_batch

    method = "auto"
    if fast:
        method, tune_steps = fast_preset(method, tune_steps)
    job = BatchJob(attr=attr, strength=strength, model=str(model) if model else None, tune_steps=tune_steps, method=method, overwrite=overwrite, evaluate=evaluate_)
    total = len(find_videos(in_dir, pattern)) if in_dir.is_dir() else 0
    bar = tqdm(total=total, desc="files", unit="file", disable=quiet or not sys.stderr.isatty())
    results = run_batch(in_dir, out_dir, job, jobs=jobs, pattern=pattern, retry_failed=retry_failed, on_result=lambda r: bar.update())
    bar.close()
    width = max(len(str(Path(r.file).relative_to(in_dir))) for r in results)
    for r in results:
        name = str(Path(r.file).relative_to(in_dir))
        print(f"{name:<{width}}  {r.status:<7}  {r.frames:>6} frames  {r.seconds:7.1f} s  {r.error}")
    failed = sum(r.status == "failed" for r in results)
    print(f"{len(results) - failed} ok, {failed} failed; report: {out_dir / 'report.json'}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(friendly_errors(align))
    app.command()(friendly_errors(edit))
    app.command()(friendly_errors(attrs))
    app.command()(friendly_errors(evaluate))
    app.command()(friendly_errors(batch))
