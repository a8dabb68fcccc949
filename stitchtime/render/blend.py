"""Paste crops (or crop-space edits) back into frames.

Convention: ``frames`` is a float tensor ``(B, 3, H, W)`` in ``[0, 255]``; crop-space
tensors are ``(B, C, S, S)``; ``matrices`` are frame->crop ``(B, 2, 3)`` affine maps
(see :mod:`stitchtime.faces.align`). Only the rectangle of the frame the crops
cover is warped into (cheap on large frames).

Two modes:

* ``delta`` (default for edits): ``frame + mask * delta`` where ``delta`` is the
  edit expressed as a change of the crop. An empty edit leaves the frame
  bit-identical; the original detail outside what the edit changes survives.
* ``replace``: ``frame * (1 - mask) + crop * mask`` (classic paste of a whole crop).
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import torch
from kornia.geometry.transform import warp_affine

from stitchtime.faces.align import invert_affine


class BlendMode(str, Enum):
    delta = "delta"
    replace = "replace"


def _covered_rect(matrices: np.ndarray, crop_size: int, width: int, height: int) -> tuple[int, int, int, int] | None:
    inv = invert_affine(matrices)
    s = crop_size - 0.5
    corners = np.array([[-0.5, -0.5], [s, -0.5], [-0.5, s], [s, s]])
    pts = np.einsum("bij,nj->bni", inv[..., :2], corners) + inv[:, None, :, 2]
    x0 = int(np.floor(max(0, pts[..., 0].min() - 1)))
    y0 = int(np.floor(max(0, pts[..., 1].min() - 1)))
    x1 = int(np.ceil(min(width, pts[..., 0].max() + 2)))
    y1 = int(np.ceil(min(height, pts[..., 1].max() + 2)))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste(
    frames: torch.Tensor,
    content: torch.Tensor,
    masks: torch.Tensor,
    matrices: np.ndarray,
    mode: BlendMode = BlendMode.delta,
) -> torch.Tensor:
    """Blend crop-space ``content`` (delta or crop, ``(B, 3, S, S)``) into ``frames`` in place
    using crop-space ``masks`` ``(B, 1, S, S)``; returns ``frames``."""
    if frames.ndim != 4 or content.ndim != 4 or masks.ndim != 4:
        raise ValueError(
            f"frames, content, masks must be 4-D, got {tuple(frames.shape)}, {tuple(content.shape)}, {tuple(masks.shape)}"
        )
    b, _, h, w = frames.shape
    s = content.shape[-1]
    if content.shape[0] != b or masks.shape[0] != b or np.shape(matrices) != (b, 2, 3):
        raise ValueError("frames, content, masks and matrices must share the batch size")
    rect = _covered_rect(np.asarray(matrices), s, w, h)
    if rect is None:
        return frames
    x0, y0, x1, y1 = rect
    shift = np.array([[1.0, 0.0, float(x0)], [0.0, 1.0, float(y0)], [0.0, 0.0, 1.0]])
    # crop -> roi: inverse(frame -> crop) followed by a shift to the rectangle's origin
    full = np.concatenate([np.asarray(matrices, np.float64), np.tile([[[0.0, 0.0, 1.0]]], (b, 1, 1))], axis=1)
    crop_to_roi = np.linalg.inv(full @ shift)[:, :2]
    stacked = torch.cat([content * masks, masks], dim=1)
    warped = warp_affine(
        stacked,
        torch.as_tensor(crop_to_roi, dtype=stacked.dtype),
        dsize=(y1 - y0, x1 - x0),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    roi = frames[:, :, y0:y1, x0:x1]
    if BlendMode(mode) is BlendMode.delta:
        roi += warped[:, :3]
    else:
        roi.mul_(1 - warped[:, 3:]).add_(warped[:, :3])
    return frames
