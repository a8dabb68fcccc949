"""The Python API: what the CLI's `edit`, `batch` and `attrs` do, as functions (re-exported by the
``stitchtime`` package: ``from stitchtime import edit_file``). They raise the CLI's own exception
types (``stitchtime.errors``: InputError, VideoError, NoFaceError, ModelError, each with its
``exit_code``) and return typed results.

    >>> from stitchtime import edit_file
    >>> edit_file("in.mp4", "out.mp4", attr="smile")            # doctest: +SKIP
    FileResult(file='in.mp4', status='done', frames=125, seconds=4.8, ..., output='out.mp4')
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

from pipelines.batch import BatchJob, FileResult, run_batch
from pipelines.edit_video import edit_video
from stitchtime.config import (
    FAST_IDENTITY_SAMPLES,
    CVAEEditConfig,
    Device,
    EditOptions,
    EditRequest,
    InvertConfig,
    Method,
    PipelineConfig,
)
from stitchtime.editors.registry import attribute_methods, editor_for, fast_preset

PathLike = str | os.PathLike


def edit_request(
    attr: str,
    strength: float = 1.0,
    *,
    method: Method | str = Method.auto,
    fast: bool = False,
    experimental: bool = False,
    tune_steps: int | None = None,
    model: PathLike | None = None,
    device: Device | str = Device.auto,
    pipeline: PipelineConfig = PipelineConfig(progress=False),
    latent_sigma: float = CVAEEditConfig.latent_sigma,
) -> EditRequest:
    """The :class:`~stitchtime.config.EditRequest` for these options (the CLI's `edit` and `batch`
    build theirs here too; ``fast``: :func:`~stitchtime.editors.registry.fast_preset`)."""
    method, tune_steps = fast_preset(Method(method), tune_steps) if fast else (Method(method), tune_steps)
    invert = InvertConfig() if tune_steps is None else InvertConfig(tune_steps=tune_steps)
    cvae = CVAEEditConfig(invert=invert, latent_sigma=latent_sigma)
    options = EditOptions(method=method, fast=fast, experimental=experimental, cvae=cvae)
    if fast:  # and the identity guard measures fewer frames
        pipeline = replace(pipeline, identity_samples=min(pipeline.identity_samples, FAST_IDENTITY_SAMPLES))
    return EditRequest(attr, strength, options, None if model is None else Path(model), Device(device), pipeline)


def edit_file(
    input: PathLike,
    output: PathLike,
    attr: str = "smile",
    strength: float = 1.0,
    *,
    overwrite: bool = False,
    preview: bool = False,
    evaluate: bool = False,
    **options,
) -> FileResult:
    """`stitchtime edit INPUT -o OUTPUT --attr ATTR --strength S`: ``options`` are those of
    :func:`edit_request` (method, fast, experimental, tune_steps, model, device, pipeline).
    Returns the file's result (``status`` "done", frames, seconds, notes, ``metrics`` with
    ``evaluate``); raises a ``stitchtime.errors.StitchtimeError`` for bad input."""
    request = edit_request(attr, strength, **options)
    editor = editor_for(request, progress=request.pipeline.progress)
    result = edit_video(Path(input), Path(output), editor, request.pipeline, overwrite=overwrite, preview=preview)
    metrics = {}
    if evaluate:
        from stitchtime.evaluate import evaluate as measure

        metrics = measure(Path(input), Path(output)).to_json()
    return FileResult(
        str(input), "done", result.n_frames, result.seconds, metrics=metrics, notes=result.notes, output=str(output)
    )


def batch_folder(
    in_dir: PathLike,
    out_dir: PathLike,
    attr: str = "smile",
    strength: float = 1.0,
    *,
    jobs: int = 1,
    engine: str = "local",
    address: str | None = None,
    pattern: str | None = None,
    retry_failed: bool = False,
    overwrite: bool = False,
    preview: bool = False,
    evaluate: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
    **options,
) -> list[FileResult]:
    """`stitchtime batch IN_DIR OUT_DIR --attr ATTR`: every video of a folder tree, resumable, one
    result per file (a bad file is a "failed" result, not an exception)."""
    request = edit_request(attr, strength, **options)
    editor_for(request)  # options and model files checked before any file is touched
    job = BatchJob(request=request, overwrite=overwrite, evaluate=evaluate, preview=preview)
    return run_batch(
        Path(in_dir), Path(out_dir), job, jobs, pattern, retry_failed, on_result, engine=engine, address=address
    )


def list_attributes(model: PathLike | None = None, experimental: bool = False) -> list[dict]:
    """`stitchtime attrs --json`: the attributes ``--attr`` takes, each with its method."""
    from stitchtime.editors.attributes import experimental_reason

    rows = []
    for a, m in attribute_methods(None if model is None else Path(model)):
        why = None if model is not None else experimental_reason(a, m.value)
        if experimental or not why:
            rows.append({"name": a.name, "celeba": a.celeba, "help": a.help, "method": m.value, "experimental": why})
    return rows
