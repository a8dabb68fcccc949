"""Video commands: align, edit, attrs, evaluate, batch."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer

from commands._common import friendly_errors
from commands.options import EDIT_OPTIONS, FACE_OPTIONS, edit_request, pipeline_config, progress_on, shared_options
from stitchtime.errors import InputError


class Engine(str, Enum):
    """Where batch runs its files."""

    local = "local"
    ray = "ray"


JSON = typer.Option(
    False, "--json", help='Print the result as JSON on stdout (an error as {"error", "exit_code"}); see the README.'
)
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def _say(lines: list[str]) -> None:
    for line in lines:
        print(f"stitchtime: {line}", file=sys.stderr)


@shared_options(FACE_OPTIONS)
def align(
    video: Path = typer.Argument(..., help="Input video."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output directory for crops/, landmarks.json, contact_sheet.png."
    ),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
    opts: SimpleNamespace = SimpleNamespace(),
) -> None:
    """Aligned face crops of a video (FFHQ-style, smoothed over time), landmarks and a contact sheet."""
    from pipelines.align_video import align_video

    result = align_video(video, output, pipeline_config(opts, quiet), overwrite=overwrite)
    _say(result.notes)
    print(f"{result.n_face_frames}/{result.n_frames} frames with a face -> {result.out_dir} (sheet: {result.sheet})")


@shared_options(EDIT_OPTIONS, FACE_OPTIONS)
def edit(
    video: Path = typer.Argument(..., help="Input video."),
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
    json_: bool = JSON,
    opts: SimpleNamespace = SimpleNamespace(),
) -> None:
    """Edit the face in a video; same frames, timing, size and audio back."""
    from pipelines.edit_video import edit_video
    from stitchtime.editors.registry import editor_for

    request = edit_request(opts, quiet)
    editor = editor_for(request, progress=request.pipeline.progress)
    result = edit_video(video, output, editor, request.pipeline, overwrite=overwrite, preview=opts.preview)
    _say(result.notes)
    if json_:
        print(json.dumps(result.to_json()))
        return
    print(
        f"{result.output}: {result.n_frames} frames ({result.n_face_frames} with the face) in {result.seconds:.1f} s"
        + (f"; preview {result.preview}" if result.preview else "")
    )


def attrs(
    model: Optional[Path] = typer.Option(
        None, "--model", help="A cVAE or DDPM run folder (default: the shipped models)."
    ),
    experimental: bool = typer.Option(
        False, "--experimental", help="Also list the experimental edits, each with what is wrong with it."
    ),
    json_: bool = JSON,
) -> None:
    """The attributes the loaded model can edit (use with `edit --attr`) and the method auto uses for each."""
    from stitchtime.editors.attributes import experimental_reason
    from stitchtime.editors.registry import attribute_methods

    if json_:
        from pipelines.api import list_attributes

        rows = [{"name": "none", "celeba": None, "help": "no edit", "method": None, "experimental": None}]
        print(json.dumps(rows + list_attributes(model, experimental)))
        return
    print("none            no edit (round trip through the face pipeline)")
    hidden = []
    for a, method in attribute_methods(model):
        reason = None if model is not None else experimental_reason(a, method.value)
        if reason and not experimental:
            hidden.append(a.name)
            continue
        line = f"{a.name:<15} {a.help} [CelebA {a.celeba}{'' if a.sign > 0 else ', inverted'}; {method.value}]"
        print(line + (f" experimental: {reason}" if reason else ""))
    if hidden:
        print(
            f"({len(hidden)} more, experimental in this release: {', '.join(hidden)}; stitchtime attrs --experimental)"
        )


def evaluate(
    original: Path = typer.Argument(..., help="The original video."),
    edited: Path = typer.Argument(..., help="The edited video."),
    json_out: Optional[str] = typer.Option(
        None, "--output", "-o", "--json", help="Also write the metrics as JSON to this file ('-': stdout, no table)."
    ),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Quality numbers: TL-ID, TG-ID, identity distance, background PSNR, flicker ratio, integrity."""
    import json

    from stitchtime.evaluate import evaluate as run_evaluate
    from stitchtime.io.paths import atomic_write_bytes, check_output_path

    to_stdout = json_out == "-"
    if json_out is not None and not to_stdout:
        check_output_path(Path(json_out), overwrite=overwrite, inputs=[original, edited])
    metrics = run_evaluate(original, edited, progress=progress_on(quiet))
    if to_stdout:
        print(json.dumps(metrics.to_json()))
        return
    print(metrics.table())
    if json_out is not None:
        atomic_write_bytes(Path(json_out), json.dumps(metrics.to_json(), indent=2).encode())


@shared_options(EDIT_OPTIONS, FACE_OPTIONS)
def batch(
    in_dir: Path = typer.Argument(..., help="Folder of videos (searched recursively)."),
    out_dir: Path = typer.Argument(..., help="Output folder (mirrors the input tree; report.json)."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Files processed in parallel (threads are split between them)."),
    pattern: Optional[str] = typer.Option(
        None, "--pattern", help="Glob for input files, e.g. '*.mp4' (default: common video suffixes)."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry files that failed in an earlier run."),
    evaluate_: bool = typer.Option(False, "--evaluate", help="Also measure each output (slower)."),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        case_sensitive=False,
        help="local: --jobs processes on this machine; ray: one Ray task per file (pip install 'stitchtime[ray]').",
    ),
    address: Optional[str] = typer.Option(
        None, "--address", help="With --engine ray: join this Ray cluster ('auto', HOST:PORT); default: a local Ray."
    ),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
    json_: bool = JSON,
    opts: SimpleNamespace = SimpleNamespace(),
) -> None:
    """Edit every video in a folder tree; rerun to resume (finished files are skipped)."""
    from tqdm import tqdm

    from pipelines.batch import BatchJob, find_videos, run_batch
    from stitchtime.editors.registry import editor_for

    request = edit_request(opts, quiet=True)  # per-file progress bars would fight the files bar
    editor_for(request)  # options and model files are checked before any file is touched
    job = BatchJob(request=request, overwrite=overwrite, evaluate=evaluate_, preview=opts.preview)
    total = len(find_videos(in_dir, pattern)) if in_dir.is_dir() else 0
    bar = tqdm(total=total, desc="files", unit="file", disable=not progress_on(quiet))
    if address and engine is not Engine.ray:
        raise InputError("--address is for --engine ray")
    results = run_batch(
        in_dir,
        out_dir,
        job,
        jobs=jobs,
        pattern=pattern,
        retry_failed=retry_failed,
        on_result=lambda r: (
            bar.update() if not json_ else print(json.dumps({"event": "file", **asdict(r)}), flush=True)
        ),
        engine=engine.value,
        address=address,
    )
    bar.close()
    failed = sum(r.status == "failed" for r in results)
    if json_:
        counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
        print(json.dumps({"event": "summary", **counts, "report": str(out_dir / "report.json")}))
    else:
        width = max(len(str(Path(r.file).relative_to(in_dir))) for r in results)
        for r in results:
            name = str(Path(r.file).relative_to(in_dir))
            print(f"{name:<{width}}  {r.status:<7}  {r.frames:>6} frames  {r.seconds:7.1f} s  {r.error}")
        print(f"{len(results) - failed} ok, {failed} failed; report: {out_dir / 'report.json'}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (align, edit, attrs, evaluate, batch):
        app.command()(friendly_errors(command))
