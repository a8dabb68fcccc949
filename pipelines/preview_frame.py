"""A one-frame preview of an edit, in seconds: what the web UI shows before the full run.

A few frames around the middle of the stretch to edit (the whole clip, or ``--start``/``--end``)
are copied, losslessly, into a short temporary clip; the real pipeline (track, plan, editor fit,
identity guard, paste) runs on it, and the middle frame comes back before and after, as the
aligned face crop and as the whole frame. The full run sees the whole video (its temporal
smoothing and per-video fits), so its frame can differ slightly from the preview's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipelines.edit_video import fit
from stitchtime.config import EditRequest, EditSpan, EncodeConfig, Preset
from stitchtime.editors.registry import editor_for
from stitchtime.errors import NoFaceError
from stitchtime.faces.align import crops_from_frames
from stitchtime.io.decode import VideoReader
from stitchtime.io.encode import VideoWriter
from stitchtime.io.probe import probe
from stitchtime.render.motion import apply_edit
from stitchtime.span import span_weights
from stitchtime.video_run import VideoRun, editor_config

PREVIEW_FRAMES = 9  # frames of the temporary clip (the tracker and the editors' smoothing need a few)
LOSSLESS = EncodeConfig(crf=0, preset=Preset.ultrafast, pix_fmt="yuv444p")


@dataclass
class FramePreview:
    """The preview of one frame: uint8 RGB images, before and after."""

    frame_index: int
    crop_before: np.ndarray  # (S, S, 3) the aligned face crop
    crop_after: np.ndarray
    frame_before: np.ndarray  # (H, W, 3) the whole frame
    frame_after: np.ndarray
    notes: list[str]


def _window(weights: np.ndarray | None, n: int) -> tuple[int, int, int]:
    """The frame to preview (the middle of what is edited) and the window of frames around it."""
    inside = np.arange(n) if weights is None else np.flatnonzero(weights > 0)
    middle = int(inside[len(inside) // 2])
    start = max(0, min(middle - PREVIEW_FRAMES // 2, n - PREVIEW_FRAMES))
    return middle, start, min(n, start + PREVIEW_FRAMES)


def preview_frame(path: Path, request: EditRequest) -> FramePreview:
    """The middle frame of what ``request`` edits in ``path``, before and after (see the module
    docstring). Raises the pipeline's errors (InputError, VideoError, NoFaceError, ModelError)."""
    path = Path(path)
    meta = probe(path)
    config = replace(request.pipeline, progress=False, track_workers=1)
    weights = span_weights(config.span, meta)
    middle, start, stop = _window(weights, meta.n_frames)
    editor = editor_for(request, progress=False)  # options and model files checked before decoding
    config = editor_config(replace(config, span=EditSpan()), editor.mask)
    with tempfile.TemporaryDirectory(prefix="stitchtime-preview-") as tmp:
        clip = Path(tmp) / "window.mkv"
        times = meta.timestamps[start:stop] if len(meta.timestamps) >= stop else ()
        sub = replace(
            meta,
            n_frames=stop - start,
            timestamps=tuple(t - times[0] for t in times) if times else (),
            duration=(stop - start) / meta.fps,
            start_time=0.0,
            has_audio=False,
            notes=(),
        )
        with VideoReader(path, meta, start, stop) as reader, VideoWriter(clip, sub, LOSSLESS) as writer:
            for frame in reader:
                writer.write(frame)
        run = VideoRun.analyse(clip, config)
        k = middle - start
        if not run.plan.valid[k]:
            raise NoFaceError(f"{path.name}: no face tracked at frame {middle}, the frame the preview shows")
        scale = fit(run, editor)
        for idx, frames in run.frames("preview"):
            if k not in idx:
                continue
            originals = [f.copy() for f in frames]
            pos, batch = run.crop_batch(idx, frames)
            fi = batch.frame_indices.numpy()
            after = apply_edit(editor, batch, [frames[p] for p in pos], run.plan.matrices[fi], scale, config.blend)
            j = pos.index(idx.index(k))
            before_frame, after_frame = originals[idx.index(k)], after[j]
            mat = run.plan.matrices[k : k + 1]
            crops = crops_from_frames([before_frame, after_frame], np.repeat(mat, 2, 0), run.plan.crop_size)
            crop_before, crop_after = (c.permute(1, 2, 0).round().clamp(0, 255).byte().numpy() for c in crops)
            notes = [n for n in run.plan.notes if not n.startswith("edited frames")]
            return FramePreview(middle, crop_before, crop_after, before_frame, after_frame, notes)
    raise NoFaceError(f"{path.name}: frame {middle} was not decoded")  # not reached: the window holds k
