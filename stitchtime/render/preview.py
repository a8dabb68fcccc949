"""``--preview``: a side-by-side video (original | edited) and a PNG sheet of face crops (top row:
original, bottom row: edited), written next to the output as the render pass goes."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from stitchtime.config import EncodeConfig
from stitchtime.faces.align import crops_from_frames
from stitchtime.io.encode import VideoWriter
from stitchtime.render.sheet import grid, label, write_png
from stitchtime.types import CropPlan, VideoMeta

PREVIEW_HEIGHT = 360  # side-by-side preview video height (px)
PREVIEW_TILES = 4  # frames on the preview sheet
PREVIEW_CROP = 256  # face crop size on the preview sheet (the aligned crop at its own size)


def preview_paths(output: Path) -> tuple[Path, Path]:
    """Side-by-side video and PNG sheet written next to ``output`` by ``--preview``."""
    return output.with_name(output.stem + ".preview.mp4"), output.with_name(output.stem + ".preview.png")


def side_by_side_meta(meta: VideoMeta, path: Path) -> VideoMeta:
    h = min(meta.height, PREVIEW_HEIGHT) // 2 * 2
    w = round(meta.width * float(meta.sar) * h / meta.height) // 2 * 2
    return replace(meta, path=path, width=2 * w, height=h, sar=Fraction(1, 1), has_audio=False, audio_codec=None)


def side_by_side(original: np.ndarray, edited: np.ndarray, meta: VideoMeta) -> np.ndarray:
    w, h = meta.width // 2, meta.height
    a = cv2.resize(original, (w, h), interpolation=cv2.INTER_AREA)
    b = cv2.resize(edited, (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([a, b], axis=1)


def preview_sheet(pairs: dict[int, tuple[np.ndarray, np.ndarray]], plan: CropPlan) -> np.ndarray:
    """Face crops of a few frames: originals on the top row, edits below."""
    order = sorted(pairs)
    mats = plan.matrices[order] * (PREVIEW_CROP / plan.crop_size)  # the whole aligned crop, at preview size
    top = crops_from_frames([pairs[i][0] for i in order], mats, PREVIEW_CROP)
    bottom = crops_from_frames([pairs[i][1] for i in order], mats, PREVIEW_CROP)
    tiles = [t.round().clamp(0, 255).byte().permute(1, 2, 0).numpy() for t in torch.cat([top, bottom])]
    tiles = [label(t, f"frame {i}") for t, i in zip(tiles[: len(order)], order)] + [
        label(t, "edited") for t in tiles[len(order) :]
    ]
    return grid(tiles, cols=len(order))


class PreviewWriter:
    """Writes the preview of ``output`` from each group of (original, edited) frames; the sheet
    is written when the writer closes without an error."""

    def __init__(self, output: Path, meta: VideoMeta, plan: CropPlan, encode: EncodeConfig, overwrite: bool):
        self.video_path, self.sheet_path = preview_paths(output)
        self.meta = side_by_side_meta(meta, self.video_path)
        self.plan = plan
        face_frames = np.flatnonzero(plan.valid)
        picks = np.linspace(0, len(face_frames) - 1, min(PREVIEW_TILES, len(face_frames))).round().astype(int)
        self.sheet_at = set(face_frames[picks].tolist())
        self.sheet: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.writer = VideoWriter(self.video_path, self.meta, encode, overwrite=overwrite)

    def __enter__(self) -> "PreviewWriter":
        self.writer.__enter__()
        return self

    def write(self, idx: list[int], originals: list[np.ndarray], edited: list[np.ndarray]) -> None:
        for i, a, b in zip(idx, originals, edited):
            self.writer.write(side_by_side(a, b, self.meta))
            if i in self.sheet_at:
                self.sheet[i] = (a, b)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:  # the sheet first: if it fails, the preview video is discarded too
                write_png(self.sheet_path, preview_sheet(self.sheet, self.plan))
            except BaseException as err:
                self.writer.__exit__(type(err), err, err.__traceback__)
                raise
        self.writer.__exit__(exc_type, exc, tb)
