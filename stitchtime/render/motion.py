"""Paste a *motion* edit: move the frame's own pixels, once, by a crop-space displacement field.

An editor that reshapes the face (``CropEditor.motion``) returns, per crop, a backward field
``m`` ``(B, 2, S, S)`` in crop pixels: the edited crop at ``q`` shows the original crop at
``q + m(q)``. Warping the crop and pasting the difference would resample the face twice (crop,
then paste) and blur what moved; here each frame pixel ``p`` inside the mask samples the original
frame directly at ``A^-1 (A p + m(A p))`` (``A``: frame -> crop), and is blended with the mask:
``frame + mask * (moved - frame)``. Convention as in :mod:`stitchtime.render.blend`.
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


def warp_frames(
    frames: list[np.ndarray], motion: torch.Tensor, masks: torch.Tensor, matrices: np.ndarray
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
        weight = torch.from_numpy(np.abs(m[i]).max(-1) * k[i])[None, None]
        box = support_box(weight * (MASK_EPS / _MIN_MOTION))  # where the masked motion moves a pixel
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
        su, sv = u + field[..., 0], v + field[..., 1]
        inv = inverse[i]
        sx = (inv[0, 0] * su + inv[0, 1] * sv + inv[0, 2]).astype(np.float32)
        sy = (inv[1, 0] * su + inv[1, 1] * sv + inv[1, 2]).astype(np.float32)
        moved = cv2.remap(frame, sx, sy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        f = frame.copy() if not frame.flags.writeable else frame
        roi = f[y0:y1, x0:x1]
        blended = roi.astype(np.float32) + mask[..., None] * (moved - roi)
        roi[...] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
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
    the identity guard both paste through here): its motion, when it moves pixels, else its
    delta; with ``BlendMode.replace`` its whole edited crops. ``weights`` ``(B,)`` scale each
    frame's change (the fades of ``--start``/``--end``): the motion itself, so a smile grows
    rather than cross-fades, else the masked blend."""
    w = None if weights is None else torch.from_numpy(np.asarray(weights, np.float32)).view(-1, 1, 1, 1)
    masks = batch.masks if w is None else batch.masks * w
    if blend is not BlendMode.delta:
        return paste_frames(frames, editor.edited(batch), masks, matrices, blend)
    motion = editor.motion(batch, scale)
    if motion is not None:
        return warp_frames(frames, motion if w is None else motion * w.to(motion.dtype), batch.masks, matrices)
    return paste_frames(frames, editor.delta(batch, scale), masks, matrices)
