"""Feathered face masks in crop space, from landmarks.

The mask is the convex hull of the jaw line and the brows, with the brows pushed
up towards the hairline (the 68-point scheme stops at the brows), filled and
then blurred so the paste-back has no hard edge. Values are in ``[0, 1]``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from stitchtime.config import MaskConfig, Region

_JAW = slice(0, 17)
_BROWS = slice(17, 27)
_NOSE_TOP, _NOSE_MID, _CHIN = 27, 29, 8
_MAX_COARSEN = 4
#: ``MaskConfig.blur`` 1 is a blur sigma of a quarter of the face's width (the default masks'
#: feather, 0.06 and 0.05 of the crop, are blur 0.45 and 0.37 on a face half the crop wide).
BLUR_UNIT = 0.25


def mask_polygon(landmarks: np.ndarray, config: MaskConfig = MaskConfig()) -> np.ndarray:
    """Hull points ``(N, 2)`` for one face region (``config.region``): face (and head, whose
    config raises and grows it further) = jaw + brows raised by ``forehead`` x (brow-to-chin)/2;
    lower = the jaw below landmark 29 (two-thirds down the nose); eyes = brows (raised likewise)
    down to landmark 29, jaw-wide."""
    lm = np.asarray(landmarks, dtype=np.float64)
    up = lm[_NOSE_TOP] - lm[_CHIN]
    length = np.linalg.norm(up)
    up = up / max(length, 1e-6)
    forehead = lm[_BROWS] + up * (config.forehead * length / 2)
    region = Region(config.region)
    if region in (Region.face, Region.head):
        pts = np.concatenate([lm[_JAW], lm[_BROWS], forehead], axis=0)
    else:
        mid = lm[_NOSE_MID]
        # the jaw points below (lower) / above (eyes) the line through landmark 29,
        # perpendicular to the face's up axis, and that line's ends at the jaw's width
        height = (lm[_JAW] - mid) @ up
        across = np.array([up[1], -up[0]])
        width = (lm[_JAW] - mid) @ across
        ends = mid + np.outer([width.min(), width.max()], across)
        if region is Region.lower:
            pts = np.concatenate([lm[_JAW][height < 0], ends], axis=0)
        else:
            pts = np.concatenate([lm[_JAW][height >= 0], ends, lm[_BROWS], forehead], axis=0)
    return cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)


def face_masks(crop_landmarks: np.ndarray, crop_size: int, config: MaskConfig = MaskConfig()) -> torch.Tensor:
    """``(B, 1, S, S)`` float masks for ``(B, 68, 2)`` landmarks given in crop pixels."""
    crop_landmarks = np.asarray(crop_landmarks)
    if crop_landmarks.ndim != 3 or crop_landmarks.shape[1:] != (68, 2):
        raise ValueError(f"crop_landmarks must be (B, 68, 2), got {crop_landmarks.shape}")
    out = np.zeros((len(crop_landmarks), 1, crop_size, crop_size), dtype=np.float32)
    shift = 4  # sub-pixel precision bits for cv2.fillConvexPoly
    for i, lm in enumerate(crop_landmarks):
        if not np.isfinite(lm).all():
            continue
        face = float(np.linalg.norm(lm[_JAW][-1] - lm[_JAW][0]))  # the face's width, crop pixels
        sigma = max((config.feather * crop_size if config.blur is None else config.blur * BLUR_UNIT * face), 0.5)
        # The edge is a wide blur: draw and blur it on a grid up to 4x coarser (sigma >= 2 px there),
        # then upsample: within 0.06 of the full-resolution mask (mean 0.01), ~10x cheaper at 256 px.
        factor = int(min(_MAX_COARSEN, max(1, sigma // 2)))
        small = -(-crop_size // factor)
        sigma_s = sigma / factor
        k = 2 * int(np.ceil(3 * sigma_s)) + 1
        shrink = config.erode * crop_size - config.padding * face
        hull = mask_polygon(lm, config)
        if shrink:
            centre = hull.mean(0)
            d = hull - centre
            n = np.linalg.norm(d, axis=1, keepdims=True)
            hull = centre + d * np.clip((n - shrink) / np.maximum(n, 1e-6), 0, None)
        hull = (hull + 0.5) / factor - 0.5  # pixel centres at integers on both grids
        m = np.zeros((small, small), dtype=np.float32)
        cv2.fillConvexPoly(m, np.round(hull * (1 << shift)).astype(np.int32), 1.0, lineType=cv2.LINE_AA, shift=shift)
        m = cv2.GaussianBlur(m, (k, k), sigma_s, borderType=cv2.BORDER_CONSTANT)
        if factor > 1:
            m = cv2.resize(m, (small * factor, small * factor), interpolation=cv2.INTER_LINEAR)[:crop_size, :crop_size]
        out[i, 0] = m
    return torch.from_numpy(out)
