"""The shading an expression brings to the skin, as a prototype difference (the "shape and colour
prototypes" of Rowland & Perrett, 1995): what no warp of the face's own pixels can show, e.g. the
nasolabial folds that deepen and the cheeks that catch the light in a smile.

Fit (``pipelines/fit_geometry.py``): every CelebA training face is warped to the mean shape (a
thin-plate spline through its 68 landmarks onto a :data:`SIZE`-px *canvas* of the face frame), its
log-luminance (Lab L) taken relative to its own face's mean (so exposure cancels), and the faces
with the attribute and without it averaged apart, among faces whose mouth is closed (the warp
keeps the mouth's opening; the teeth of open smiles are not the skin's), for women and men apart
(the difference is the mean of the two: CelebA's smiles are mostly women's). Their difference, blurred
against the few hundred faces' noise, is kept where the attribute owns the skin: below the eyes,
inside the jaw, off the lips and the nose (:func:`skin_weight`), with its mean there removed (a
smile moves light around the face, it does not light it).

Edit (:class:`ShadingPainter`): the canvas is carried onto each frame's *moved* landmarks by
another thin-plate spline and the frame's pixels are scaled by ``exp(a * shading)``: luminance
only, so no colour cast (short of clipping at white); ``a`` follows the geometry edit (1 is about
the average smile's shading: the fit measured log Lab L, the gain scales the video's gamma-encoded
values, which differ from it by a factor near 1 on mid-tone skin).
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame
from stitchtime.faces.warp import spline_on_grid, thin_plate_spline

SIZE = 128  # canvas side, px
# The face frame's window the canvas spans (inter-ocular distances; eyes at y 0, the chin near 1.86)
X_RANGE, Y_RANGE = (-1.3, 1.3), (-0.5, 2.1)
BLUR = 1.5  # canvas px: against the averaged faces' noise (2 px is about 0.04 IOD)
FEATHER = 3.0  # canvas px: the skin weight's soft edge
BELOW_EYES = 0.12  # IOD below the lower lids where the weight starts (ramping over another 0.12)
LIP_MARGIN = 0.03  # IOD around the outer lip line kept off (a smile's paler stretched lips are the warp's)
GRID_STEP = 8  # pixels of the map being made between the spline's evaluations (bicubic between)
# The points the canvas's splines go through: all but the inner lips. A closed mouth's facing inner
# lip points coincide (dlib's integer landmarks; the warp moves each pair together), and a spline
# cannot send one point to two places; the outer lip line bounds the lips (the shading's hole) alone.
SPLINE_POINTS = np.r_[0:60]
MARGIN = 0.35  # IOD around the landmarks' box that the painting may touch


def to_canvas(points: np.ndarray) -> np.ndarray:
    """Face-frame points ``(..., 2)`` -> canvas pixels."""
    p = np.asarray(points, np.float64)
    return np.stack(
        [
            (p[..., 0] - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (SIZE - 1),
            (p[..., 1] - Y_RANGE[0]) / (Y_RANGE[1] - Y_RANGE[0]) * (SIZE - 1),
        ],
        -1,
    )


def _spline_map(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], origin=(0.0, 0.0), step: int = 1):
    """Backward maps of an output of ``shape`` (h, w) whose pixel (0, 0) sits at ``origin`` in
    ``dst``'s coordinates and whose pixels are ``step`` of them apart (centred as cv2.resize puts
    the pixels of an image ``step`` times smaller): a thin-plate spline through ``dst -> src``
    (affine beyond the points), evaluated every :data:`GRID_STEP` output pixels, bicubic between."""
    fine = spline_on_grid(thin_plate_spline(dst, src), shape, origin, step, GRID_STEP)
    return np.ascontiguousarray(fine[..., 0]), np.ascontiguousarray(fine[..., 1])


def skin_weight(mean_shape: np.ndarray) -> np.ndarray:
    """``(SIZE, SIZE)`` in [0, 1]: the skin an expression of the lower face owns, on the canvas of
    the face-frame ``mean_shape`` ``(68, 2)``: inside the jaw, below the eyes, off lips and nose."""
    c = to_canvas(mean_shape)
    px = (SIZE - 1) / (X_RANGE[1] - X_RANGE[0])  # canvas px per IOD
    jaw = cv2.convexHull(c[np.r_[0:17, 27]].astype(np.float32))[:, 0]
    inside = cv2.erode(interior_mask(jaw, SIZE), np.ones((3, 3), np.uint8), iterations=int(FEATHER))
    lids = c[[40, 41, 46, 47], 1].mean()
    y = np.arange(SIZE, dtype=np.float64)[:, None]
    start, ramp = lids + BELOW_EYES * px, BELOW_EYES * px
    below = np.clip((y - start) / ramp, 0, 1) * np.ones((1, SIZE))
    # the holes grow by the feather so that the blur's soft edge falls outside them
    lips = interior_mask(c[48:60], SIZE, LIP_MARGIN * px + FEATHER)
    nose = interior_mask(cv2.convexHull(c[np.r_[27, 31:36]].astype(np.float32))[:, 0], SIZE, FEATHER)
    w = inside * below * (1 - lips) * (1 - nose)
    return np.clip(cv2.GaussianBlur(w.astype(np.float32), (0, 0), FEATHER), 0, 1)


def warp_to_canvas(image: np.ndarray, landmarks: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """``image`` (uint8 BGR as OpenCV reads it) warped so its ``landmarks`` (pixels) land on the
    canvas's ``mean_shape`` (face frame)."""
    mx, my = _spline_map(np.asarray(landmarks)[SPLINE_POINTS], to_canvas(mean_shape)[SPLINE_POINTS], (SIZE, SIZE))
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def log_luminance(canvas_bgr: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Log Lab L of a canvas image, relative to its mean over the ``face`` (bool) region."""
    lab = cv2.cvtColor(canvas_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    ll = np.log(lab[..., 0] + 5.0)
    return ll - ll[face].mean()


def fit_shading(
    faces: Iterable[tuple[np.ndarray, np.ndarray]],
    label: np.ndarray,
    mean_shape: np.ndarray,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """The attribute's shading on the canvas (``(SIZE, SIZE)`` float32, log-luminance units, already
    weighted by :func:`skin_weight` and mean-free there) from ``faces``, an iterable of ``(image BGR,
    landmarks)`` in the order of ``label`` (bool), and a record of what it saw.

    ``strata`` (ints, one per face): the difference is taken within each stratum and averaged with
    equal weights, so that a trait the attribute's faces have more often (of CelebA's closed-mouth
    training faces, 79% of the smiling ones are women's, 59% of the others) does not pass for the attribute."""
    c = to_canvas(mean_shape)
    face = interior_mask(cv2.convexHull(c[np.r_[0:27]].astype(np.float32))[:, 0], SIZE) > 0.5
    label = np.asarray(label, bool)
    strata = np.zeros(len(label), int) if strata is None else np.asarray(strata, int)
    keys = sorted(set(strata.tolist()))
    sums = {(k, has): np.zeros((SIZE, SIZE)) for k in keys for has in (False, True)}
    counts = dict.fromkeys(sums, 0)
    for (image, landmarks), has, k in zip(faces, label, strata):
        sums[(k, bool(has))] += log_luminance(warp_to_canvas(image, landmarks, mean_shape), face)
        counts[(k, bool(has))] += 1
    if min(counts.values()) == 0:
        raise ValueError("shading needs faces with and without the attribute in every stratum")
    diff = np.mean([sums[(k, True)] / counts[(k, True)] - sums[(k, False)] / counts[(k, False)] for k in keys], 0)
    diff = cv2.GaussianBlur(diff.astype(np.float32), (0, 0), BLUR)
    w = skin_weight(mean_shape)
    diff -= float((diff * w).sum() / w.sum())
    record = {
        "with": [counts[(k, True)] for k in keys],
        "without": [counts[(k, False)] for k in keys],
        "max_abs": round(float(np.abs(diff * w).max()), 4),
    }
    return (diff * w).astype(np.float32), record


class ShadingPainter:
    """Scales the skin's luminance by the attribute's shading, carried onto moved landmarks."""

    def __init__(self, shading: np.ndarray, mean_shape: np.ndarray) -> None:
        self.shading = np.asarray(shading, np.float32)
        self.canvas_points = to_canvas(mean_shape)[SPLINE_POINTS]

    def paint(self, frames: list[np.ndarray], moved: np.ndarray, amount: np.ndarray) -> list[np.ndarray]:
        """``frames`` (uint8 RGB) with the shading of the faces at ``moved`` ``(B, 68, 2)`` (frame
        pixels) applied by ``amount`` ``(B,)`` (0: the frame is returned untouched)."""
        out = list(frames)
        for i, frame in enumerate(frames):
            if abs(float(amount[i])) < 1e-3:
                continue
            lm = np.asarray(moved[i], np.float64)
            _, _, iod = face_frame(lm)
            h, w = frame.shape[:2]
            lo = np.maximum(np.floor(lm.min(0) - MARGIN * iod).astype(int), 0)
            hi = np.minimum(np.ceil(lm.max(0) + MARGIN * iod).astype(int) + 1, [w, h])
            if (hi <= lo).any():
                continue
            # The shading is smooth on the canvas's scale: it is computed on a grid about as fine
            # as the canvas's pixels are on this face (at most 4 frame pixels apart), then resized
            step = int(np.clip(iod * (X_RANGE[1] - X_RANGE[0]) / (SIZE - 1), 1, 4))
            size = (hi[0] - lo[0], hi[1] - lo[1])  # (w, h)
            small = (-(-size[1] // step), -(-size[0] // step))
            mx, my = _spline_map(self.canvas_points, lm[SPLINE_POINTS], small, origin=lo, step=step)
            shade = cv2.remap(self.shading, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            gain = np.exp(float(amount[i]) * shade).astype(np.float32)
            if step > 1:
                gain = cv2.resize(gain, (small[1] * step, small[0] * step), interpolation=cv2.INTER_LINEAR)
            gain = cv2.merge([gain[: size[1], : size[0]]] * 3)
            f = frame.copy()
            roi = f[lo[1] : hi[1], lo[0] : hi[0]]
            f[lo[1] : hi[1], lo[0] : hi[0]] = cv2.convertScaleAbs(cv2.multiply(roi.astype(np.float32), gain))
            out[i] = f
        return out
