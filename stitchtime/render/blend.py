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

import cv2
import numpy as np
import torch

from stitchtime.config import BlendMode
from stitchtime.faces.align import invert_affine
from stitchtime.faces.warp import warp_affine

# Mask values (replace mode) or masked deltas (delta mode, in grey levels) below this are
# treated as nothing to paste when bounding the region: they cannot change a rounded pixel.
MASK_EPS = 1.0 / 512


def support_box(weights: torch.Tensor) -> tuple[float, float, float, float] | None:
    """Crop-space box ``(u0, v0, u1, v1)`` holding every pixel of ``weights`` ``(B, C, S, S)``
    (masks, or masked deltas) whose magnitude is above ``MASK_EPS`` in some image/channel."""
    m = (weights.abs() > MASK_EPS).flatten(0, 1).any(dim=0)
    rows = torch.nonzero(m.any(dim=1)).flatten()
    cols = torch.nonzero(m.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return float(cols[0]) - 1, float(rows[0]) - 1, float(cols[-1]) + 1, float(rows[-1]) + 1


def covered_rect(
    matrices: np.ndarray, box: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int] | None:
    inv = invert_affine(matrices)
    u0, v0, u1, v1 = box
    corners = np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]])
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
            f"frames, content, masks must be 4-D, "
            f"got {tuple(frames.shape)}, {tuple(content.shape)}, {tuple(masks.shape)}"
        )
    b, _, h, w = frames.shape
    if content.shape[0] != b or masks.shape[0] != b or np.shape(matrices) != (b, 2, 3):
        raise ValueError("frames, content, masks and matrices must share the batch size")
    delta_mode = BlendMode(mode) is BlendMode.delta
    weighted = content * masks
    box = support_box(weighted if delta_mode else masks)
    rect = None if box is None else covered_rect(np.asarray(matrices), box, w, h)
    if rect is None:
        return frames
    x0, y0, x1, y1 = rect
    shift = np.array([[1.0, 0.0, float(x0)], [0.0, 1.0, float(y0)], [0.0, 0.0, 1.0]])
    # crop -> roi: inverse(frame -> crop) followed by a shift to the rectangle's origin
    full = np.concatenate([np.asarray(matrices, np.float64), np.tile([[[0.0, 0.0, 1.0]]], (b, 1, 1))], axis=1)
    crop_to_roi = np.linalg.inv(full @ shift)[:, :2]
    stacked = weighted if delta_mode else torch.cat([weighted, masks], dim=1)
    warped = warp_affine(stacked, crop_to_roi, (y1 - y0, x1 - x0), border="zeros")
    roi = frames[:, :, y0:y1, x0:x1]
    if delta_mode:
        roi += warped
    else:
        roi.mul_(1 - warped[:, 3:]).add_(warped[:, :3])
    return frames


def paste_frames(
    frames: list[np.ndarray],
    content: torch.Tensor,
    masks: torch.Tensor,
    matrices: np.ndarray,
    mode: BlendMode = BlendMode.delta,
) -> list[np.ndarray]:
    """:func:`paste` for uint8 ``(H, W, 3)`` frames: only the rectangle the masks cover is
    converted to float, blended, rounded and written back (the rest stays bit-identical).
    In delta mode that rectangle bounds where the masked delta is non-zero (for a smile,
    mostly the mouth), not the whole mask; an all-zero delta leaves the frames untouched."""
    h, w = frames[0].shape[:2]
    delta_mode = BlendMode(mode) is BlendMode.delta
    weighted = content * masks if delta_mode else None
    box = support_box(weighted if delta_mode else masks)
    rect = None if box is None else covered_rect(np.asarray(matrices), box, w, h)
    if rect is None:
        return frames
    x0, y0, x1, y1 = rect
    shifted = np.array(matrices, dtype=np.float64, copy=True)
    shifted[:, :, 2] += shifted[:, :, 0] * x0 + shifted[:, :, 1] * y0  # roi -> crop
    if delta_mode and content.device.type == "cpu":
        return _add_delta_cpu(frames, weighted, shifted, rect)
    roi = torch.from_numpy(np.stack([f[y0:y1, x0:x1] for f in frames])).permute(0, 3, 1, 2).float()
    paste(roi, content, masks, shifted, mode)
    out = roi.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    result = []
    for f, r in zip(frames, out):
        f = f.copy() if not f.flags.writeable else f
        f[y0:y1, x0:x1] = r
        result.append(f)
    return result


def _add_delta_cpu(
    frames: list[np.ndarray], weighted: torch.Tensor, crop_from_roi: np.ndarray, rect: tuple[int, int, int, int]
) -> list[np.ndarray]:
    """The CPU fast path of ``frame + mask * delta`` (OpenCV per frame, same convention as
    :func:`paste`): warp the masked delta ``weighted`` into the rectangle and add it with
    saturating rounding."""
    x0, y0, x1, y1 = rect
    masked = weighted.permute(0, 2, 3, 1).contiguous().numpy()
    roi_to_crop_inv = invert_affine(crop_from_roi)  # crop -> roi
    result = []
    for f, d, m in zip(frames, masked, roi_to_crop_inv):
        warped = cv2.warpAffine(d, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        f = f.copy() if not f.flags.writeable else f
        roi = f[y0:y1, x0:x1]
        roi[...] = cv2.add(roi, warped, dtype=cv2.CV_8U)
        result.append(f)
    return result
