"""One video being edited: what the passes over it share, and the passes' frame and crop streams.

:meth:`VideoRun.analyse` probes the file, tracks the face (pass 1) and plans the crops; after that,
every pass decodes the video again (frames are streamed, never all held) through
:meth:`VideoRun.frames` or :meth:`VideoRun.crops`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from stitchtime.config import MaskConfig, PipelineConfig
from stitchtime.editors.contract import CropBatch
from stitchtime.errors import NoFaceError
from stitchtime.faces.align import crops_from_frames, plan_crops
from stitchtime.faces.reference import resolve_reference
from stitchtime.faces.video import track_video
from stitchtime.io.decode import VideoReader
from stitchtime.io.probe import probe
from stitchtime.parallel import prefetch
from stitchtime.progress import bar
from stitchtime.render.mask import face_masks
from stitchtime.span import span_weights
from stitchtime.types import CropPlan, FaceTrack, VideoMeta

FrameGroup = tuple[list[int], list[np.ndarray]]  # frame indices and their decoded frames


def editor_config(config: PipelineConfig, mask: MaskConfig | None) -> PipelineConfig:
    """``config`` with the editor's own mask (None: the config's), and the user's ``--mask-blur`` /
    ``--mask-padding`` on top of it."""
    mask = config.mask if mask is None else mask
    if config.mask_blur is not None:
        mask = replace(mask, blur=config.mask_blur)
    if config.mask_padding is not None:
        mask = replace(mask, padding=config.mask_padding)
    return config if mask == config.mask else replace(config, mask=mask)


@dataclass
class VideoRun:
    """The input video, its metadata, the pipeline's config, the tracked face and the crop plan."""

    path: Path
    meta: VideoMeta
    config: PipelineConfig
    track: FaceTrack
    plan: CropPlan
    weights: np.ndarray | None = None  # (T,) the edit's weight per frame (--start/--end); None: 1 everywhere

    @classmethod
    def analyse(cls, path: Path, config: PipelineConfig) -> "VideoRun":
        """Probe ``path``, track its face (pass 1) and plan the crops (smoothed FFHQ quads).
        Raises NoFaceError when no frame has a usable face (or none is the --reference-face's person)."""
        config = resolve_reference(config)  # a bad reference photo is refused before any video work
        meta = probe(path)
        weights = span_weights(config.span, meta)  # a bad --start/--end is refused before tracking
        track = track_video(path, meta, config)
        if not track.valid.any():
            index = next((n for n in track.notes if n.startswith(("--face-index", "--reference-face"))), None)
            if index:
                raise NoFaceError(f"{path.name}: {index}")
            tiny = next((n for n in track.notes if "smaller than" in n), None)
            if tiny:
                raise NoFaceError(f"{path.name}: no face large enough to edit ({tiny})")
            raise NoFaceError(f"{path.name}: no face found in any of its {meta.n_frames} frames")
        plan = plan_crops(track, float(meta.sar), config.align, config.mask)
        plan.notes[:0] = list(meta.notes)  # e.g. "damaged or truncated: decoded N frames, then ..."
        if weights is not None:
            inside = np.flatnonzero(weights > 0)
            plan.valid &= weights > 0  # frames outside the stretch are neither cropped nor edited
            plan.notes.append(f"edited frames {inside[0]} to {inside[-1]} of {meta.n_frames}; the rest untouched")
            if not plan.valid.any():
                raise NoFaceError(f"{path.name}: no face in the frames to edit ({inside[0]} to {inside[-1]})")
        return cls(path, meta, config, track, plan, weights)

    def weights_of(self, frame_indices: np.ndarray) -> np.ndarray | None:
        """The edit's weights of these frames (None: all 1)."""
        return None if self.weights is None else self.weights[frame_indices]

    def frames(self, desc: str) -> Iterator[FrameGroup]:
        """Decode the whole video, yielding ``(frame_indices, frames)`` in groups of ``config.batch_size``."""
        n = self.config.batch_size
        idx: list[int] = []
        frames: list[np.ndarray] = []
        with VideoReader(self.path, self.meta) as reader:
            for i, frame in enumerate(bar(reader, self.meta.n_frames, desc, self.config.progress)):
                idx.append(i)
                frames.append(frame)
                if len(frames) == n:
                    yield idx, frames
                    idx, frames = [], []
        if frames:
            yield idx, frames

    def crop_batch(self, idx: list[int], frames: list[np.ndarray]) -> tuple[list[int], CropBatch | None]:
        """Crops of the valid frames among ``idx`` (their positions in the group, and the batch;
        the crops are warped when first read)."""
        plan = self.plan
        pos = [k for k, i in enumerate(idx) if plan.valid[i]]
        if not pos:
            return pos, None
        fi = np.array([idx[k] for k in pos])
        sub = [frames[k] for k in pos]

        def crops() -> torch.Tensor:
            return crops_from_frames(sub, plan.matrices[fi], plan.crop_size)

        masks = face_masks(plan.crop_landmarks[fi], plan.crop_size, plan.mask)
        return pos, CropBatch(
            frame_indices=torch.from_numpy(fi),
            crops_source=crops,
            masks=masks,
            detected=torch.from_numpy(plan.detected[fi]),
            landmarks=torch.from_numpy(plan.crop_landmarks[fi].astype(np.float32)),
            frames=sub,
            matrices=plan.matrices[fi],
        )

    def crops(
        self, desc: str = "crops", on_frame: Callable[[int, np.ndarray], None] | None = None, warp: bool = True
    ) -> Iterator[CropBatch]:
        """Aligned crops of every valid frame, in frame order (a pass over the video; decoded and
        warped one batch ahead on a background thread, which also shows ``on_frame`` every frame;
        ``warp=False``: the crops are warped only if they are read, for a reader of the frames)."""

        def batches() -> Iterator[CropBatch]:
            for idx, frames in self.frames(desc):
                if on_frame is not None:
                    for i, frame in zip(idx, frames):
                        on_frame(i, frame)
                _, batch = self.crop_batch(idx, frames)
                if batch is not None:
                    if warp:
                        batch.crops  # noqa: B018 - warp on the prefetch thread
                    yield batch

        return prefetch(batches())
