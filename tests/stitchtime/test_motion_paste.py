"""Pasting a motion edit: the mask scales the motion (one sample per pixel, no double edges), the
resampling keeps the detail it moves, and pixels the motion does not reach stay bit-identical."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from skimage import data

from stitchtime.render.motion import MOTION_FROM, MOTION_FULL, warp_frames


def _frame() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:256, 128:384])


def _laplacian_variance(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())


def test_the_mask_scales_the_motion_instead_of_cross_fading():
    """A 4 px shift under a mask of 0.5 moves the pixels 2 px: a bar's edge stays one edge (a
    cross-fade would show two half-contrast edges 4 px apart)."""
    frame = np.full((64, 64, 3), 40, np.uint8)
    frame[:, 30:] = 220  # a vertical edge at x = 30
    motion = torch.zeros(1, 2, 64, 64)
    motion[:, 0] = 4.0  # backward field: the crop at q shows the frame at q + 4 px
    mask = torch.full((1, 1, 64, 64), float(MOTION_FROM + MOTION_FULL) / 2)  # a weight of 0.5
    out = warp_frames([frame.copy()], motion, mask, np.array([[[1.0, 0, 0], [0, 1.0, 0]]]))[0]
    row = out[32, :, 0].astype(int)
    levels = np.unique(row[5:-5])
    assert len(levels) <= 4, row  # one edge, at most a ringing pixel or two beside it
    assert row[28] > 200 and row[27] < 60, row  # moved by 2 px: the edge is now at x = 28
    mid = np.flatnonzero((row > 60) & (row < 200))
    assert mid.size <= 2, row


def test_moved_detail_keeps_its_sharpness_and_still_pixels_stay_exact():
    frame = _frame()
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    motion = torch.from_numpy(np.stack([1.7 * np.sin(x / 23) * np.cos(y / 31), 1.3 * np.cos(x / 19)]))[None]
    mask = torch.zeros(1, 1, 256, 256)
    mask[:, :, 64:192, 64:192] = 1.0
    out = warp_frames([frame.copy()], motion, mask, np.array([[[1.0, 0, 0], [0, 1.0, 0]]]))[0]
    inner = (slice(72, 184), slice(72, 184))
    ratio = _laplacian_variance(out[inner]) / _laplacian_variance(frame[inner])
    assert 0.93 < ratio < 1.08, ratio  # plain cubic resampling kept about 0.8 of it
    outside = np.ones((256, 256), bool)
    outside[64:192, 64:192] = False
    assert np.array_equal(out[outside], frame[outside])
    assert not np.array_equal(out[inner], frame[inner])


def test_fast_resamples_plainly_and_the_default_sharply():
    from stitchtime.config import EditOptions
    from stitchtime.editors.attributes import ATTRIBUTES
    from stitchtime.editors.geometry import GeometryEditor, load_geometry
    from stitchtime.editors.models import WEIGHTS_DIR

    models = load_geometry(WEIGHTS_DIR / "geometry")
    smile = ATTRIBUTES["smile"]
    assert GeometryEditor.from_options(models, smile, 1.0, None, EditOptions(), False).sharp_resample
    assert not GeometryEditor.from_options(models, smile, 1.0, None, EditOptions(fast=True), False).sharp_resample
    frame = _frame()
    motion = torch.full((1, 2, 256, 256), 0.5)
    mask = torch.ones(1, 1, 256, 256)
    eye = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    sharp = warp_frames([frame.copy()], motion, mask, eye)[0]
    plain = warp_frames([frame.copy()], motion, mask, eye, sharp=False)[0]
    inner = (slice(16, 240), slice(16, 240))
    assert _laplacian_variance(plain[inner]) < 0.9 * _laplacian_variance(sharp[inner])
