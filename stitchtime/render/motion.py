"""Paste a *motion* edit: move the frame's own pixels, once, by a crop-space displacement field.

An editor that reshapes the face (``CropEditor.motion``) returns, per crop, a backward field
``m`` ``(B, 2, S, S)`` in crop pixels: the edited crop at ``q`` shows the original crop at
``q + m(q)``. Warping the crop and pasting the difference would resample the face twice (crop,
then paste) and blur what moved; here each frame pixel ``p`` inside the mask samples the original
frame directly at ``A^-1 (A p + k(A p) m(A p))`` (``A``: frame -> crop, ``k`` the mask): the mask
scales the motion itself rather than cross-fading a moved and an unmoved frame, so every pixel is
one sample of the original and the mask's soft edge shows no double edges. With the resampling
below, the default smile's sharpness ratio on d9 went 0.854 -> 0.957 and its background PSNR
42.7 -> 44.7 dB (first 100 frames; BENCHMARKS.md "Geometry smile on the shared clips").
Convention as in :mod:`stitchtime.render.blend`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from stitchtime.config import BlendMode
from stitchtime.editors.contract import CropBatch, CropEditor
from stitchtime.faces.align import invert_affine
from stitchtime.render.blend import MASK_EPS, covered_rect, paste_frames, support_box

_MIN_MOTION = 1.0 / 64  # crop pixels: smaller motions cannot move a rounded pixel
# Resampling at fractional positions softens what it moves. On skimage's astronaut under smooth
# fields of 0.5-5 px, the Laplacian variance kept was 0.80-0.82 with cubic, 0.89-0.90 with
# Lanczos-4 (and 0.51-0.54 bilinear); Lanczos-4 plus an unsharp mask of RESHARPEN (sigma
# RESHARPEN_SIGMA) on the moved pixels keeps 0.99-1.02. The sharpening fades in with the motion
# (full from RESHARPEN_FULL px), so pixels that do not move are not touched.
# How much of the motion a pixel gets from its mask value: none in the mask's long, faint tail (there
# a sub-pixel resample of the background only adds noise: moving it cost d9 3 dB of background PSNR),
# all of it from MOTION_FULL inward, smoothly in between (no seam).
MOTION_FROM, MOTION_FULL = 0.15, 0.5
# ``--fast`` (CropEditor.sharp_resample False) resamples with plain cubic: about a quarter faster on
# the default smile (BENCHMARKS.md "Edit speed of the default smile"), softer where pixels move.
RESAMPLE = cv2.INTER_LANCZOS4
RESHARPEN, RESHARPEN_SIGMA, RESHARPEN_FULL = 0.1, 0.8, 0.5


def motion_weight(mask: np.ndarray) -> np.ndarray:
    """The share of the motion a pixel with this mask value gets (smoothstep, 0 at MOTION_FROM)."""
    t = np.clip((mask - MOTION_FROM) / (MOTION_FULL - MOTION_FROM), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def warp_frames(
    frames: list[np.ndarray], motion: torch.Tensor, masks: torch.Tensor, matrices: np.ndarray, sharp: bool = True
) -> list[np.ndarray]:
    """``frames`` (uint8 ``(H, W, 3)``) with their pixels moved by the crop-space ``motion``
    ``(B, 2, S, S)`` inside the crop-space ``masks`` ``(B, 1, S, S)``; ``matrices`` frame -> crop
    ``(B, 2, 3)``. Pixels the masked motion does not reach stay bit-identical."""
    h, w = frames[0].shape[:2]
    m = motion.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)
    k = masks[:, 0].numpy().astype(np.float32)
    inverse = invert_affine(np.asarray(matrices, np.float64))
    out = []
    for i, frame in enumerate(frames):
        # (the larger component's size; np.maximum of the two, 20x faster than a max over a last axis of 2)
        weight = torch.from_numpy(np.maximum(np.abs(m[i, ..., 0]), np.abs(m[i, ..., 1])) * motion_weight(k[i]))
        weight = weight[None, None]
        box = support_box(weight * (MASK_EPS / _MIN_MOTION))  # where the weighted motion moves a pixel
        rect = None if box is None else covered_rect(np.asarray(matrices[i : i + 1]), box, w, h)
        if rect is None:
            out.append(frame)
            continue
        x0, y0, x1, y1 = rect
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        a = np.asarray(matrices[i], np.float64)
        u = (a[0, 0] * xs + a[0, 1] * ys + a[0, 2]).astype(np.float32)
        v = (a[1, 0] * xs + a[1, 1] * ys + a[1, 2]).astype(np.float32)
        field = cv2.remap(m[i], u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask = cv2.remap(k[i], u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        field *= motion_weight(mask)[..., None]
        su, sv = u + field[..., 0], v + field[..., 1]
        inv = inverse[i]
        sx = (inv[0, 0] * su + inv[0, 1] * sv + inv[0, 2]).astype(np.float32)
        sy = (inv[1, 0] * su + inv[1, 1] * sv + inv[1, 2]).astype(np.float32)
        flags = RESAMPLE if sharp else cv2.INTER_CUBIC
        moved = cv2.remap(frame, sx, sy, flags, borderMode=cv2.BORDER_REFLECT_101)
        if sharp:
            moved = moved.astype(np.float32)
            amount = RESHARPEN * np.clip(np.hypot(field[..., 0], field[..., 1]) / RESHARPEN_FULL, 0.0, 1.0)
            moved += amount[..., None] * (moved - cv2.GaussianBlur(moved, (0, 0), RESHARPEN_SIGMA))
            # rounded half to even and saturated, as np.clip(np.rint(.), 0, 255) would, in one pass
            moved = cv2.convertScaleAbs(np.maximum(moved, 0, out=moved))
        f = frame.copy() if not frame.flags.writeable else frame
        roi = f[y0:y1, x0:x1]
        inside = mask > MOTION_FROM  # (outside, the field is 0: the sample would be the pixel itself)
        np.copyto(roi, moved, where=inside[..., None])
        out.append(f)
    return out


def apply_edit(
    editor: CropEditor,
    batch: CropBatch,
    frames: list[np.ndarray],
    matrices: np.ndarray,
    scale: float,
    blend: BlendMode,
    weights: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The editor's change of ``batch``'s crops pasted into their ``frames`` (the render pass and
    the identity guard both paste through here): its own drawing on the frames, for an editor
    that draws (in any blend mode); with ``BlendMode.replace`` its whole edited crops, then its
    :meth:`~CropEditor.paint`; its motion, when it moves pixels, then its paint; else its delta.
    ``weights`` ``(B,)`` scale each frame's change (the fades of ``--start``/``--end``): the
    drawing's opacity, the motion itself (so a smile grows rather than cross-fades), else the
    masked blend."""
    if editor.draws_on_frames:  # an object drawn on the frame: nothing to blend, whatever the mode
        return editor.paint(list(frames), batch, matrices, scale, weights)
    w = None if weights is None else torch.from_numpy(np.asarray(weights, np.float32)).view(-1, 1, 1, 1)
    masks = batch.masks if w is None else batch.masks * w
    if blend is not BlendMode.delta:  # then what the motion cannot show (the inside of an opened mouth)
        return editor.paint(
            paste_frames(frames, editor.edited(batch), masks, matrices, blend), batch, matrices, scale, weights
        )
    motion = editor.motion(batch, scale)
    if motion is not None:
        motion = motion if w is None else motion * w.to(motion.dtype)
        moved = warp_frames(frames, motion, batch.masks, matrices, sharp=editor.sharp_resample)
        return editor.paint(moved, batch, matrices, scale, weights)
    return paste_frames(frames, editor.delta(batch, scale), masks, matrices)
