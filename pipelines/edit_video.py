"""Edit the face in a video, as a few passes over it (frames are streamed; only landmarks,
matrices and whatever the editor keeps live across passes):

1. analyse: decode -> track the face -> landmarks per frame -> the crop plan (smoothed FFHQ quads)
2. fit (editors that need it): decode -> crops -> ``editor.fit``; the identity guard sizes the edit
3. render: decode -> crops -> ``editor.delta`` -> paste -> encode (+ original audio, + the preview)

The stages live in ``stitchtime``: :class:`~stitchtime.video_run.VideoRun` (what the passes share,
and their frame and crop streams), :mod:`stitchtime.editors` (the edits),
:mod:`stitchtime.render.identity_guard` and :mod:`stitchtime.render.preview`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np

from generative.device import torch_threads
from stitchtime.config import BlendMode, EncodeConfig, PipelineConfig
from stitchtime.editors.contract import CropBatch, CropEditor
from stitchtime.editors.none import IdentityEditor
from stitchtime.errors import InputError
from stitchtime.io.encode import VideoWriter, check_video_output
from stitchtime.io.paths import check_output_path, same_file
from stitchtime.parallel import prefetch
from stitchtime.render.identity_guard import IdentitySamples, guard_note, identity_scale
from stitchtime.render.motion import apply_edit
from stitchtime.render.preview import PreviewWriter, preview_paths
from stitchtime.types import EditResult
from stitchtime.video_run import VideoRun, editor_config


def edit_video(
    path: Path,
    output: Path,
    editor: CropEditor | None = None,
    config: PipelineConfig = PipelineConfig(),
    overwrite: bool = False,
    preview: bool = False,
) -> EditResult:
    """Edit the tracked face of ``path`` and write ``output`` (same frames, timing, size, audio).

    With ``preview`` also writes a side-by-side video (original | edited) and a PNG sheet of
    face crops (top: original, bottom: edited) next to ``output``."""
    start = time.perf_counter()
    path, output = Path(path), Path(output)
    _check_outputs(path, output, overwrite, preview, config)
    editor = editor or IdentityEditor()
    config = editor_config(config, editor.mask)
    run = VideoRun.analyse(path, config)
    with torch_threads(config.stream_threads):
        scale = fit(run, editor)
        render(run, editor, scale, output, overwrite, preview)
    return EditResult(
        output=output,
        n_frames=run.meta.n_frames,
        n_face_frames=int(run.plan.valid.sum()),
        seconds=time.perf_counter() - start,
        notes=run.plan.notes,
        preview=preview_paths(output)[0] if preview else None,
    )


def _check_outputs(path: Path, output: Path, overwrite: bool, preview: bool, config: PipelineConfig) -> None:
    """Every file the edit writes (the output, and the preview's video and sheet) must be new (or
    ``overwrite``) and none may be the input (symlinks and hard links included); the output's
    container must hold the ``--codec``, which must code the input's frame size."""
    if same_file(output, path):
        raise InputError(f"{output}: output would overwrite the input; choose another path")
    check_video_output(output, config.encode, source=path)
    for p in (output, *(preview_paths(output) if preview else ())):
        check_output_path(p, overwrite=overwrite, inputs=[path])


def fit(run: VideoRun, editor: CropEditor) -> float:
    """Pass 2: the editor sees the video; then the identity guard. Returns the edit's scale."""
    if not editor.needs_fit:
        return 1.0
    n = run.meta.n_frames
    if run.config.blend is not BlendMode.delta or run.config.identity_limit <= 0 or not editor.identity_guarded:
        editor.fit(lambda: run.crops("invert", warp=editor.fit_reads_crops), n)
        run.plan.notes.extend(editor.notes)
        return 1.0
    samples = IdentitySamples(run)
    editor.fit(lambda: run.crops("invert", on_frame=samples.see), n)
    run.plan.notes.extend(editor.notes)
    scale, full = identity_scale(run, editor, samples)
    if scale < 1.0:
        run.plan.notes.append(guard_note(scale, full, run.config.identity_limit))
    return scale


def render(run: VideoRun, editor: CropEditor, scale: float, output: Path, overwrite: bool, preview: bool) -> None:
    """Pass 3: decode -> crops -> the editor's change -> paste -> encode (+ the preview)."""
    config, meta = run.config, run.meta
    with contextlib.ExitStack() as stack:
        # audio_from: every audio and subtitle stream of the input the container can hold
        writer = stack.enter_context(VideoWriter(output, meta, config.encode, overwrite=overwrite, audio_from=run.path))
        run.plan.notes.extend(writer.notes)  # streams dropped or re-encoded
        # the preview is always H.264 in MP4 (what plays everywhere), whatever --codec is
        h264 = replace(config.encode, codec=EncodeConfig.codec)
        side = stack.enter_context(PreviewWriter(output, meta, run.plan, h264, overwrite)) if preview else None
        for idx, frames, originals, pos, batch in prefetch(_render_groups(run, editor, keep=preview)):
            if batch is not None:
                fi = batch.frame_indices.numpy()
                out = apply_edit(
                    editor,
                    batch,
                    [frames[k] for k in pos],
                    run.plan.matrices[fi],
                    scale,
                    config.blend,
                    run.weights_of(fi),
                )
                for j, k in enumerate(pos):
                    frames[k] = out[j]
            for frame in frames:
                writer.write(frame)
            if side is not None:
                side.write(idx, originals, frames)


RenderGroup = tuple[list[int], list[np.ndarray], list[np.ndarray], list[int], "CropBatch | None"]


def _render_groups(run: VideoRun, editor: CropEditor, keep: bool) -> Iterator[RenderGroup]:
    """What the render pass needs of each group of frames (made on the prefetch thread): indices,
    frames, copies of the originals (``keep``: for the preview), positions of the face frames and
    their crop batch."""
    warp = not editor.draws_on_frames and (editor.reads_crops or run.config.blend is not BlendMode.delta)
    for idx, frames in run.frames("render"):
        originals = [f.copy() for f in frames] if keep else []
        pos, batch = run.crop_batch(idx, frames)
        if batch is not None and warp:
            batch.crops  # noqa: B018 - warp here, on the prefetch thread
        yield idx, frames, originals, pos, batch
