"""The inside of a mouth an edit opens, taken from the same video: what no warp can bring into view.

When the geometry editor parts closed lips (``--attr mouth_open``), the space between them would
show stretched lip. A generative model painting teeth there was measured for the smile and not
shipped (BENCHMARKS.md "Mouth interior for the smile"): its teeth were not the person's. Most
videos show the person's own mouth open somewhere (talking, laughing), so this painter takes the
inside of the mouth from one such frame of the same video and carries it into every frame the
edit opens, bent to that frame's lips:

* :meth:`InteriorPainter.observe` sees every crop while the editor fits and keeps one *reference*:
  the most frontal face whose lips are open nearest :data:`REFERENCE_OPENING` apart (a little more
  than the edit opens them; face frame, inter-ocular distances; at least :data:`MIN_REFERENCE`),
  whose inside is in shadow and, at the least, partly darker or brighter than the lips (a cavity
  or teeth, :data:`DISTINCT`);
* :meth:`InteriorPainter.paint` maps each edited frame's mouth onto the reference's by a
  thin-plate spline through the 20 lip landmarks (so the teeth and tongue follow the lips, and one
  reference for the whole video does not flicker), scales its brightness by the lips' own
  (light changes over a clip), and blends it inside the frame's inner lips, anti-aliased, by how
  much of the opening the edit added (a mouth that was already open keeps its own inside).

A video in which the mouth never opens has nothing to take: the opening is then painted as a
shadow, the lips' own colour darkened towards the middle (the editor says so).
"""

from __future__ import annotations

import cv2
import numpy as np

from stitchtime.faces.mouth import INNER, interior_mask, mouth_opening
from stitchtime.faces.shape import normalise
from stitchtime.faces.warp import spline_on_grid, thin_plate_spline

MOUTH = np.r_[48:68]
OUTER = np.r_[48:60]
MIN_REFERENCE = 0.08  # the reference's inner lips at least this far apart (face frame)
REFERENCE_OPENING = 0.16  # preferred opening of the reference (a little more than the edit's: shrinking keeps detail)
FEATHER = 0.6  # blur sigma of the painting's edge (frame pixels)
GRID_STEP = 4  # the spline is evaluated every this many pixels, bicubic between (as the warp's)
SHADOW = (0.45, 0.18)  # the shadow's brightness, as a share of the lips', at the opening's edge and middle
GAIN_RANGE = (0.7, 1.4)  # how far the lips' brightness may rescale the reference
# The reference also prefers a mouth whose inside is in shadow (darker than the lips, as a slightly
# open mouth's is) to one showing the tongue or the teeth lit (as bright as the lips): the score
# adds DARK_WEIGHT x the inside's brightness over the lips' (no less than DARK_FLOOR).
DARK_WEIGHT, DARK_FLOOR = 0.2, 0.2
# A mouth whose inside is mostly (less than DISTINCT_SHARE of it) within DISTINCT x the lips'
# brightness shows no inside: dlib put a small face's closed lips apart (s13: 0.08 of it, against
# 0.32-0.54 on d0's teeth and the gaps between them), or the tongue fills it. Not taken.
DISTINCT, DISTINCT_SHARE = 1.25, 0.3


def _lips_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The lips themselves: the outer contour's polygon without the inner one's."""
    return np.clip(interior_mask(points[OUTER - 48], shape) - interior_mask(points[INNER - 48], shape), 0.0, 1.0)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


class InteriorPainter:
    """The video's own mouth interior, painted where an edit opens the lips (see the module doc)."""

    def __init__(self) -> None:
        self.crop: np.ndarray | None = None  # the reference crop (uint8 RGB)
        self.points: np.ndarray | None = None  # its lip landmarks (20, 2), crop pixels
        self.lips_luma = 0.0
        self.frame: int | None = None  # the reference's frame number
        self._score = np.inf

    @property
    def has_reference(self) -> bool:
        return self.crop is not None

    def observe(
        self, crops, landmarks: np.ndarray, detected: np.ndarray | None = None, frames: np.ndarray | None = None
    ) -> None:
        """Consider one batch of crops as the reference. ``crops``: a zero-argument function giving
        ``(B, 3, S, S)`` float crops (called only when one of them could be the best so far),
        ``landmarks`` ``(B, 68, 2)`` crop pixels, ``detected`` ``(B,)`` (bridged frames are not
        taken), ``frames`` ``(B,)`` their frame numbers."""
        lm = np.asarray(landmarks, np.float64)
        ok = np.isfinite(lm).all(axis=(1, 2))
        if detected is not None:
            ok &= np.asarray(detected, bool)
        if not ok.any():
            return
        shapes = normalise(lm[ok])
        opening = mouth_opening(shapes)
        turn = np.abs(shapes[:, 30, 0])  # the nose tip's offset from the eyes' midpoint: 0 when frontal
        score = np.where(opening >= MIN_REFERENCE, np.abs(opening - REFERENCE_OPENING) + turn, np.inf)
        if not (score + DARK_WEIGHT * DARK_FLOOR < self._score).any():  # none can beat the best so far
            return
        images = crops()
        for k in np.nonzero(np.isfinite(score))[0]:
            index = np.nonzero(ok)[0][k]
            crop = np.clip(np.rint(images[index].permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)
            points = lm[index, MOUTH].astype(np.float32)
            lips, inside, distinct = self._levels(crop, points)
            if distinct < DISTINCT_SHARE:  # lips apart in the landmarks only
                continue
            total = score[k] + DARK_WEIGHT * max(inside / max(lips, 1.0), DARK_FLOOR)
            if total < self._score:
                self._score, self.crop, self.points, self.lips_luma = float(total), crop, points, lips
                self.frame = None if frames is None else int(frames[index])

    @staticmethod
    def _levels(crop: np.ndarray, points: np.ndarray) -> tuple[float, float, float]:
        """Mean brightness of the lips and of what lies between them, and the share of what lies
        between them that is not lip: more than :data:`DISTINCT` darker or brighter than the lips."""
        luma = _luma(crop)
        lips = _lips_mask(points, crop.shape[:2]) > 0.5
        inside = interior_mask(points[INNER - 48], crop.shape[:2]) > 0.5
        if not lips.any() or not inside.any():
            return 0.0, 0.0, 0.0
        level = float(luma[lips].mean())
        ratio = luma[inside] / max(level, 1.0)
        distinct = float(((ratio < 1 / DISTINCT) | (ratio > DISTINCT)).mean())
        return level, float(luma[inside].mean()), distinct

    def paint(self, frames: list[np.ndarray], moved: np.ndarray, amount: np.ndarray) -> list[np.ndarray]:
        """``frames`` (uint8 RGB, already warped) with the inside of the mouth painted between the
        inner lips of the moved landmarks ``moved`` ``(B, 68, 2)`` (frame pixels), blended by
        ``amount`` ``(B,)`` in [0, 1] (0: the frame is returned untouched)."""
        out = list(frames)
        for i, frame in enumerate(frames):
            if amount[i] > 1e-3 and np.isfinite(moved[i]).all():
                out[i] = self._paint_one(frame, moved[i, MOUTH].astype(np.float64), float(amount[i]))
        return out

    def _paint_one(self, frame: np.ndarray, points: np.ndarray, amount: float) -> np.ndarray:
        h, w = frame.shape[:2]
        pad = 3
        x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(points.max(0)).astype(int) + pad + 1, [w, h])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        local = points - [x0, y0]
        shape = (y1 - y0, x1 - x0)
        alpha = cv2.GaussianBlur(interior_mask(local[INNER - 48], shape), (0, 0), FEATHER) * amount
        if alpha.max() < 1e-3:
            return frame
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        lips = _lips_mask(local, shape) > 0.5
        lips_luma = float(_luma(roi)[lips].mean()) if lips.any() else 0.0
        if self.crop is not None:
            # each pixel of the frame's mouth -> where it lies on the reference's mouth
            spline = thin_plate_spline(local, self.points.astype(np.float64))
            src = spline_on_grid(spline, shape, grid_step=GRID_STEP)
            inside = cv2.remap(
                self.crop, src[..., 0], src[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
            ).astype(np.float32)
            if self.lips_luma > 0 and lips_luma > 0:
                inside *= float(np.clip(lips_luma / self.lips_luma, *GAIN_RANGE))
        else:
            inside = _shadow(roi, local, lips, shape)
        f = frame.copy()
        f[y0:y1, x0:x1] = np.clip(np.rint(roi + alpha[..., None] * (inside - roi)), 0, 255).astype(np.uint8)
        return f


def _shadow(roi: np.ndarray, local: np.ndarray, lips: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mouth's shadow for a video that never shows the inside: the lips' colour, darker towards
    the middle of the opening."""
    colour = roi[lips].mean(0) if lips.any() else roi.reshape(-1, 3).mean(0)
    hole = interior_mask(local[INNER - 48], shape)
    depth = cv2.distanceTransform((hole > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    depth = depth / max(float(depth.max()), 1.0)
    level = SHADOW[0] + (SHADOW[1] - SHADOW[0]) * depth
    return colour[None, None, :] * level[..., None]
