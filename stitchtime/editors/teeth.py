"""Painting the mouth interior a smile opens: what no warp can bring into view (teeth).

The geometry smile parts closed lips (``GeometryEditor``: the upper lip rises, the lower one drops,
towards the opening of CelebA's smiling faces); the space between them would otherwise show
stretched lip. A pix2pix network trained on CelebA's smiling open mouths
(``pipelines/prepare_mouths.py``, then ``stitchtime train pix2pix``) paints that space in a 64-px
mouth crop of the *warped* frame (:mod:`stitchtime.faces.mouth`), and the painting is blended into
the frame inside the inner lips only, by how much of the opening the edit added (a mouth that was
already open keeps its own teeth).

It is a plug-in of the geometry model's folder: a run exported to ``<geometry folder>/mouth``
(``--model`` that folder) turns it on. The shipped folder has none: measured on the 14 shared
clips, the painted teeth moved the CelebA classifier but not the independent FER2013 judge, and
raised flicker (BENCHMARKS.md "Mouth interior for the smile").
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from stitchtime.faces.mouth import INNER, interior_mask, model_input, mouth_matrix, to_crop

MOUTH_DIR = "mouth"  # inside the geometry model's folder
SIZE = 64
HOLE_GROW = 1.0  # as in training (pipelines/prepare_mouths.py)
FEATHER = 1.0  # blur sigma of the painting's edge, mouth-crop pixels


def load_mouth_model(folder: Path, device: torch.device | None = None):
    """The mouth-interior network in ``folder`` (a pix2pix run), or None when there is none."""
    from generative.training.checkpoint import load_family

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    return load_family(folder, device or torch.device("cpu")).eval()


class MouthPainter:
    """Paints the mouth interior of frames whose lips a smile has parted."""

    def __init__(self, model) -> None:
        self.model = model
        self.device = next(model.generator.parameters()).device

    @torch.no_grad()
    def paint(self, frames: list[np.ndarray], moved: np.ndarray, amount: np.ndarray) -> list[np.ndarray]:
        """``frames`` (uint8, already warped) with the interior between the inner lips of the moved
        landmarks ``moved`` ``(B, 68, 2)`` (frame pixels) painted, blended by ``amount`` ``(B,)``
        in [0, 1] (0: the frame is returned untouched)."""
        todo = [i for i in range(len(frames)) if amount[i] > 1e-3]
        if not todo:
            return frames
        inputs, holes, mats = [], [], []
        for i in todo:
            m = mouth_matrix(moved[i], SIZE)
            scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
            src = frames[i]
            if scale < 0.7:  # shrinking: blur first so the crop is not aliased
                src = cv2.GaussianBlur(src, (0, 0), 0.5 / scale - 0.5 if scale < 0.5 else 0.5)
            crop = cv2.warpAffine(src, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            hole = interior_mask(to_crop(m, moved[i][INNER]), SIZE, HOLE_GROW)
            inputs.append(model_input(crop, hole))
            holes.append(hole)
            mats.append(m)
        x = torch.from_numpy(np.stack(inputs)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(self.device)
        y = self.model.translate(x).clamp(-1, 1).add(1.0).mul(127.5).permute(0, 2, 3, 1).cpu().numpy()
        out = list(frames)
        for k, i in enumerate(todo):
            alpha = cv2.GaussianBlur(holes[k], (0, 0), FEATHER) * float(amount[i])
            out[i] = _paste(frames[i], y[k], alpha, mats[k])
        return out


def _paste(frame: np.ndarray, painted: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Blend the mouth crop ``painted`` (float RGB) into ``frame`` with crop-space ``alpha``."""
    h, w = frame.shape[:2]
    inv = cv2.invertAffineTransform(matrix)
    ys, xs = np.nonzero(alpha > 1e-3)
    if len(xs) == 0:
        return frame
    corners = np.stack([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.min() - 1], [xs.min() - 1, ys.max() + 1]])
    corners = np.concatenate([corners, [[xs.max() + 1, ys.max() + 1]]]) @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return frame
    shift = np.array([[1, 0, -x0], [0, 1, -y0]], np.float64)
    m = shift @ np.vstack([inv, [0, 0, 1]])  # crop -> roi
    size = (x1 - x0, y1 - y0)
    paint = cv2.warpAffine(painted.astype(np.float32), m, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    f = frame.copy()
    roi = f[y0:y1, x0:x1].astype(np.float32)
    f[y0:y1, x0:x1] = np.clip(np.rint(roi + a * (paint - roi)), 0, 255).astype(np.uint8)
    return f
