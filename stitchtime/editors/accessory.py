"""Accessories drawn in the face's place: eyeglasses, whose frame shape is fitted on CelebA.

No network can add glasses that hold up at the crop's full resolution here (the 64-px models' try
drew a grey smudge: BENCHMARKS.md, issue 15), but a pair of glasses is an object with a shape,
which can be drawn sharp and carried with the face, as virtual try-on tools do.

The model (``pipelines/fit_accessory.py``, shipped in ``stitchtime/weights/accessory``) holds, for
Eyeglasses, in the *face frame* (eye midpoint at the origin, eyes on the x axis, inter-ocular
distance (IOD) 1; :mod:`stitchtime.faces.shape`):

* the lens outline, a superellipse ``|x - cx|^p / a^p + |y - cy|^p / b^p = 1`` (the image-right
  lens; the other is its mirror image), fitted to the rim that CelebA's clear glasses leave in the
  average face: the training faces with the label, sunglasses left out, each warped to the mean
  shape, minus those without it (:func:`fit_lens`);
* the rim's width and colour (over those faces, the median of each one's own rim width across the
  outline, and of the darkest pixels on it);
* a detector of glasses already worn (a logistic regression on the lines a frame leaves across
  the nose and below the eyes, against the cheeks': :func:`glasses_features`), so a face that
  wears glasses does not get a second pair.

The editor (``Method.accessory``) checks the video once (every :data:`SAMPLE_EVERY`-th observed
face frame) for glasses worn, then draws them on every frame with the face, at the frame's own
resolution (laid out on the aligned crop, whose pixels are square, and carried into the frame):
each lens placed on its own eye (the eye's corners, which do not move when the eye blinks; the lens
narrowed as the eye is when the head turns), the bridge, and the temples out to the face's edge
(``--mask-blur``/``--mask-padding`` and ``--blend`` do not apply: nothing is blended), anti-aliased, blurred
along their motion as the camera blurs the face (:data:`SHUTTER`), with a soft shadow on the
skin below the rim and the lens's slight darkening of what is behind it. Glasses sit still on a
head: from frame to frame they are carried by the motion of the skin of the forehead and the nose
(:func:`skin_motion`), drawn a little towards where the landmarks put them (:func:`carried`). Strength
``s`` in ``(0, 1]`` is the frame's opacity (faint to solid); up to 2 it thickens the rim. Glasses
cannot be taken off (nothing here paints the eyes behind them): a negative strength is refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from stitchtime.config import EditOptions, Method
from stitchtime.editors.attributes import Attribute
from stitchtime.editors.contract import CropBatch, CropEditor, CropSource
from stitchtime.editors.fitted import FittedModels, fitted_folder, load_fitted, save_fitted
from stitchtime.editors.shading import SIZE, X_RANGE, Y_RANGE, to_canvas, warp_to_canvas
from stitchtime.editors.shared import region_mask
from stitchtime.errors import InputError, ModelError
from stitchtime.faces.align import invert_affine, transform_points
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame

# Each lens is placed on its eye's corners (outer, inner), not the eyelids' points, which move
# when the eye blinks; the temples run to the face's edge at landmarks 0 and 16.
EYE_CORNERS = {-1: (36, 39), 1: (45, 42)}
TEMPLE_END = {-1: 0, 1: 16}
SAMPLE_EVERY = 4  # the fit checks every n-th observed face frame for glasses worn
# Glasses move with the skull: from frame to frame the editor carries them by the motion of the
# skin on the forehead and the nose (corners tracked by optical flow in the crops), and pulls them
# this share of the way towards where the frame's landmarks put them (so they do not drift: over
# d6's 34 s they stayed within 0.053 IOD of them on 95% of the frames). The
# landmarks alone, smoothed, slid the glasses on fast-moving faces (d11: 0.023 IOD a frame).
CARRY = 0.1
TRACK_CORNERS = 80  # corners tracked on the forehead and the nose
MIN_CORNERS, MIN_AGREE = 6, 0.5  # corners that must follow, and the share that must agree on one motion
MAX_DEVIATION = 0.1  # IOD: a skin motion that puts the eyes further from the landmarks' is not believed
FOREHEAD = (0.1, 0.6)  # IOD above the brows: the forehead band tracked
SUPERSAMPLE = 4  # the frame is drawn this much finer, then averaged down (anti-aliasing)
# The frame is blurred along its own motion as the camera blurs the face: by this share of the
# frame-to-frame motion (a 180-degree shutter, the usual one), from about a pixel of it
SHUTTER, MIN_BLUR = 0.5, 1.0
MAX_BLUR = 0.25  # IOD: the longest blur
MAX_STEP = 0.5  # IOD: a frame-to-frame move of the eyes longer than this is a cut or a lost track: no blur
SHADOW_DROP, SHADOW_BLUR, SHADOW_DEPTH = 0.03, 0.025, 0.3  # the rim's shadow: IOD down, blur (IOD), darkening
LENS_TRANSMISSION = 0.97  # what a clear lens lets through
HIGHLIGHT = 40.0  # how much lighter the rim's upper edge is (0-255): light from above
MAX_THICKEN = 2.0  # strength beyond 1 thickens the rim up to this many times
LENS_EXPONENTS = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)  # the superellipses tried: an ellipse to a rounded square


def outline(lens: np.ndarray, side: int = 1, n: int = 96) -> np.ndarray:
    """``(n, 2)`` face-frame points round the lens (``side`` 1: the image-right one, -1: its mirror)."""
    cx, cy, a, b, p = (float(v) for v in lens)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = cx + a * np.sign(c) * np.abs(c) ** (2 / p)
    return np.stack([side * x, cy + b * np.sign(s) * np.abs(s) ** (2 / p)], 1)


def _sample(canvas: np.ndarray, points: np.ndarray) -> np.ndarray:
    q = to_canvas(points).astype(np.float32)
    return cv2.remap(canvas.astype(np.float32), q[:, :1], q[:, 1:2], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[
        :, 0
    ]


def canvas_grid() -> tuple[np.ndarray, np.ndarray]:
    """Face-frame ``x`` and ``y`` (IOD) of every canvas pixel, ``(SIZE, SIZE)`` each."""
    xs = np.linspace(*X_RANGE, SIZE)
    ys = np.linspace(*Y_RANGE, SIZE)
    return np.meshgrid(xs, ys)


# Where glasses leave lines no bare face has (face frame, IOD): the bridge across the nose between
# the eyes, and the lower rims across the cheeks below them; each against the same measure on the
# cheeks below any lens (CHEEK_ZONE), so the skin's own texture, the picture's sharpness and its
# noise cancel. The strongest horizontal line per column (the vertical second derivative of L).
BRIDGE_ZONE = ((-0.1, 0.1), (-0.3, 0.15))  # x, y ranges
UNDER_ZONE = ((0.3, 0.7), (0.2, 0.5))  # |x|, y ranges
CHEEK_ZONE = ((0.25, 0.75), (0.75, 0.95))  # |x|, y ranges
CELEBA_IOD = 38.0  # px: faces are looked at this size (CelebA's) before the canvas


def glasses_features(canvas_l: np.ndarray) -> np.ndarray:
    """``(2,)`` for a face's Lab L on the canvas (:func:`canvas_lightness`): the log of the mean over
    columns of the strongest horizontal line in the bridge zone, and in the zones below the eyes,
    over the same on the cheeks."""
    x, y = canvas_grid()
    g = cv2.GaussianBlur(np.asarray(canvas_l, np.float32), (0, 0), 1.0)
    lines = np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3))
    (bx, by), (ux, uy), (cx, cy) = BRIDGE_ZONE, UNDER_ZONE, CHEEK_ZONE
    bridge = (x > bx[0]) & (x < bx[1]) & (y > by[0]) & (y < by[1])
    under = (np.abs(x) > ux[0]) & (np.abs(x) < ux[1]) & (y > uy[0]) & (y < uy[1])
    cheek = (np.abs(x) > cx[0]) & (np.abs(x) < cx[1]) & (y > cy[0]) & (y < cy[1])
    strength = [float(np.where(z, lines, 0).max(0)[z.any(0)].mean()) + 0.1 for z in (bridge, under, cheek)]
    return np.log(np.array(strength[:2]) / strength[2])


def canvas_lightness(image: np.ndarray, landmarks: np.ndarray, mean_shape: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Lab L (0-100) of ``image`` (uint8 RGB, or BGR) warped onto the canvas of ``mean_shape``, the
    face first resized to :data:`CELEBA_IOD`."""
    lm = np.asarray(landmarks, np.float64)
    f = CELEBA_IOD / max(float(face_frame(lm)[2]), 1e-6)
    if f < 1:
        h, w = image.shape[:2]
        size = (max(int(round(w * f)), 1), max(int(round(h * f)), 1))
        image = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
        lm = (lm + 0.5) * (np.array(size) / (w, h)) - 0.5
    canvas = warp_to_canvas(np.ascontiguousarray(image), lm, mean_shape)
    code = cv2.COLOR_BGR2Lab if bgr else cv2.COLOR_RGB2Lab
    return cv2.cvtColor(canvas.astype(np.float32) / 255.0, code)[..., 0]


def fit_lens(difference: np.ndarray, centre=(0.5, 0.09)) -> tuple[np.ndarray, float]:
    """The lens superellipse ``(cx, cy, a, b, p)`` whose outline follows the darkest ring of a
    glasses-minus-no-glasses ``difference`` canvas (made left-right symmetric first): along rays from
    ``centre`` the darkest point, then the superellipse through those points (least median
    residual, which the bridge's darkness on the rays by the nose does not sway). Also returns the
    median relative residual."""
    sym = (difference + difference[:, ::-1]) / 2
    c0 = np.asarray(centre, np.float64)
    rim = []
    for t in np.linspace(0, 2 * np.pi, 48, endpoint=False):
        r = np.linspace(0.12, 0.6, 97)
        pts = c0 + r[:, None] * np.array([np.cos(t), np.sin(t)])
        rim.append(pts[int(np.argmin(_sample(sym, pts)))])
    rim = np.array(rim)
    best = (np.inf, None)
    a_grid, b_grid = np.arange(0.25, 0.50, 0.01), np.arange(0.18, 0.42, 0.01)
    for cx, cy, p in itertools.product(np.arange(0.40, 0.60, 0.01), np.arange(-0.05, 0.20, 0.01), LENS_EXPONENTS):
        d = np.abs(rim - (cx, cy))  # (R, 2)
        # (A, B, R): how far each ray's darkest point lies off the superellipse, relatively
        f = ((d[:, 0] / a_grid[:, None, None]) ** p + (d[:, 1] / b_grid[None, :, None]) ** p) ** (1 / p)
        res = np.median(np.abs(f - 1), axis=-1)
        i, j = np.unravel_index(int(np.argmin(res)), res.shape)
        if res[i, j] < best[0]:
            best = (float(res[i, j]), np.array([cx, cy, a_grid[i], b_grid[j], p]))
    return best[1], best[0]


@dataclass
class GlassesModel:
    """The frame's shape, width and colour and the detector of glasses worn (see the module doc)."""

    attribute: str
    lens: np.ndarray  # (5,) cx, cy, a, b, p: the image-right lens in the face frame
    rim: np.ndarray  # (4,) the rim's width (IOD) and its colour (RGB 0-255)
    # (4,) logistic weights on glasses_features, the intercept, and the probability above which a
    # face wears glasses: the fit's, at which it finds 95% of CelebA's glasses on single images
    # (the editor compares the mean over the video's sampled frames with it)
    detector: np.ndarray
    mean_shape: np.ndarray  # (68, 2) the canvas's shape (face frame)

    def worn(self, features: np.ndarray) -> np.ndarray:
        """Probability that faces with these :func:`glasses_features` ``(..., 2)`` wear glasses."""
        logit = np.asarray(features, np.float64) @ self.detector[:2] + self.detector[2]
        return 1.0 / (1.0 + np.exp(-logit))

    @property
    def threshold(self) -> float:
        return float(self.detector[3])

    def tensors(self) -> dict[str, np.ndarray]:
        return {"lens": self.lens, "rim": self.rim, "detector": self.detector, "mean_shape": self.mean_shape}

    @staticmethod
    def save_all(models: dict[str, "GlassesModel"], folder: Path, record: dict) -> None:
        save_fitted(folder, "accessory", {a: m.tensors() for a, m in models.items()}, record)

    @staticmethod
    def load_all(folder: Path) -> dict[str, "GlassesModel"]:
        def build(a: str, t: dict[str, np.ndarray]) -> GlassesModel:
            return GlassesModel(a, t["lens"], t["rim"], t["detector"], t["mean_shape"])

        models = load_fitted(folder, "accessory", build)
        for a, m in models.items():
            shapes = (m.lens.shape, m.rim.shape, m.detector.shape, m.mean_shape.shape)
            ok = shapes == ((5,), (4,), (4,), (68, 2)) and all(np.isfinite(v).all() for v in m.tensors().values())
            if not ok or min(m.lens[2:]) <= 0 or not 0 < m.rim[0] < 0.2:
                raise ModelError(f"{folder}: not an accessory model ({a}: its tensors are not a glasses frame)")
        return models


AccessoryModels = FittedModels[GlassesModel]


def load_accessory(path: Path, device: torch.device | None = None) -> AccessoryModels:
    """The accessory models in ``path`` (a folder: config.json + model.safetensors); no torch device."""
    folder = fitted_folder(path)
    return AccessoryModels(folder, GlassesModel.load_all(folder))


def _to_pixels(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, iod: float) -> np.ndarray:
    perp = np.array([-axis[1], axis[0]])
    return centre + iod * (points[:, :1] * axis + points[:, 1:2] * perp)


def frame_geometry(model: GlassesModel, landmarks: np.ndarray, to_frame: np.ndarray | None = None) -> dict[str, object]:
    """Where the glasses go on a face at ``landmarks`` (pixels of an image with square pixels, e.g.
    an aligned crop): each lens's outline, the bridge and the temples (pixel polylines), and the
    face frame's inter-ocular distance. ``to_frame`` ``(2, 3)``: an affine map the polylines are
    then carried by (crop -> frame; a frame with non-square pixels stretches them as it stretches
    the face), the distance scaled by its mean scale."""
    lm = np.asarray(landmarks, np.float64)
    centre, axis, iod = face_frame(lm)
    ms = model.mean_shape
    perp = np.array([-axis[1], axis[0]])
    to_ff = lambda p: np.array([(p - centre) @ axis, (p - centre) @ perp]) / iod
    lenses, inner_tops, outer_tops = {}, {}, {}
    for side, (outer, inner) in EYE_CORNERS.items():
        mean_eye = (ms[outer] + ms[inner]) / 2
        eye = to_ff((lm[outer] + lm[inner]) / 2)
        # the lens narrows as its eye does when the head turns (clipped: a blink of a corner's landmark)
        width = abs(to_ff(lm[outer])[0] - to_ff(lm[inner])[0])
        squeeze = float(np.clip(width / abs(ms[outer, 0] - ms[inner, 0]), 0.5, 1.3))
        pts = outline(model.lens, side)
        pts = eye + np.stack([(pts[:, 0] - mean_eye[0]) * squeeze, pts[:, 1] - mean_eye[1]], 1)
        lenses[side] = _to_pixels(pts, centre, axis, iod)
        cx, cy, a, b, _ = model.lens
        top = cy - 0.55 * b - mean_eye[1] + eye[1]
        inner_x = eye[0] + (side * (cx - a) - mean_eye[0]) * squeeze  # the lens's nose side
        outer_x = eye[0] + (side * (cx + a) - mean_eye[0]) * squeeze
        inner_tops[side] = np.array([inner_x, top])
        outer_tops[side] = np.array([outer_x, top])
    u = np.linspace(0.0, 1.0, 9)[:, None]  # the bridge: an arc 0.03 IOD high between the lenses' tops
    arc = (1 - u) * inner_tops[-1] + u * inner_tops[1] - np.array([0.0, 0.12]) * u * (1 - u)
    bridge = _to_pixels(arc, centre, axis, iod)
    temples = []
    for side, end in TEMPLE_END.items():
        edge = to_ff(lm[end])
        if side * (edge[0] - outer_tops[side][0]) > 0.02:  # the face's edge lies beyond the lens
            tip = np.array([edge[0], outer_tops[side][1] + 0.02])
            temples.append(_to_pixels(np.stack([outer_tops[side], tip]), centre, axis, iod))
    g = {"lenses": lenses, "bridge": bridge, "temples": temples, "iod": float(iod)}
    if to_frame is not None:
        m = np.asarray(to_frame, np.float64)
        move = lambda pts: pts @ m[:, :2].T + m[:, 2]
        g = {
            "lenses": {k: move(v) for k, v in lenses.items()},
            "bridge": move(bridge),
            "temples": [move(t) for t in temples],
            "iod": float(iod) * float(np.sqrt(abs(np.linalg.det(m[:, :2])))),
        }
    return g


def motion_kernel(motion: np.ndarray) -> np.ndarray | None:
    """A line kernel along ``motion`` (px, ``(2,)``) of its length, summing to 1; None under
    :data:`MIN_BLUR` px."""
    length = float(np.hypot(*motion))
    if not np.isfinite(length) or length < MIN_BLUR:
        return None
    half = int(np.ceil(length / 2))
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    ends = [(half - motion[0] / 2, half - motion[1] / 2), (half + motion[0] / 2, half + motion[1] / 2)]
    pts = np.round(np.array(ends) * 16).astype(np.int32)
    cv2.line(k, tuple(pts[0]), tuple(pts[1]), 1.0, 1, cv2.LINE_AA, 4)
    return k / k.sum()


def _draw(
    rgb: np.ndarray, g: dict, model: GlassesModel, strength: float, fade: float = 1.0, motion: np.ndarray | None = None
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The glasses of :func:`frame_geometry` ``g`` drawn on ``rgb``: the box ``(y0, y1, x0, x1)`` they
    change and the change there (float32), or None when nothing changes (see :func:`draw_glasses`)."""
    h, w = rgb.shape[:2]
    iod = g["iod"]
    opacity = float(np.clip(strength, 0.0, 1.0)) * float(np.clip(fade, 0.0, 1.0))
    width = float(model.rim[0]) * iod * float(np.clip(strength, 1.0, MAX_THICKEN))
    lines = [*g["lenses"].values()]
    everything = np.concatenate([*lines, g["bridge"], *g["temples"]])
    if motion is not None:  # no longer than a quarter of the eyes' distance (a cut, a bad track)
        motion = np.asarray(motion, np.float64)
        length = float(np.hypot(*motion))
        motion = motion * min(1.0, MAX_BLUR * iod / length) if length > 0 else None
    kernel = None if motion is None else motion_kernel(motion)
    margin = width + (SHADOW_DROP + 3 * SHADOW_BLUR) * iod + 2 + (0 if kernel is None else len(kernel))
    x0, y0 = np.floor(np.maximum(everything.min(0) - margin, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(everything.max(0) + margin, [w, h])).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2 or opacity <= 0:
        return None
    k = SUPERSAMPLE
    big = ((y1 - y0) * k, (x1 - x0) * k)

    def coverage(polys, thickness, closed, offset=(0.0, 0.0)) -> np.ndarray:
        m = np.zeros(big, np.uint8)
        line = max(int(round(thickness * k)), 1)
        for poly in polys:
            pts = ((poly - (x0, y0) + offset + 0.5) * k - 0.5) * 16  # 4 fractional bits
            cv2.polylines(m, [np.round(pts).astype(np.int32)], closed, 255, line, cv2.LINE_AA, 4)
        return cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    rim = np.maximum(coverage(lines, width, True), coverage([g["bridge"]], width * 0.8, False))
    rim = np.maximum(rim, coverage(g["temples"], width * 0.7, False))
    # light from above: the upper half of each rim (the outline's second half, in order) is lighter
    tops = [np.concatenate([poly[len(poly) // 2 :], poly[:1]]) for poly in lines]
    light = coverage(tops, width * 0.35, False, offset=(0.0, -width * 0.3)) * rim
    lens = np.zeros((y1 - y0, x1 - x0), np.float32)
    for poly in lines:
        lens = np.maximum(lens, interior_mask(poly - (x0, y0), (y1 - y0, x1 - x0)))
    blurred = cv2.GaussianBlur(rim, (0, 0), max(SHADOW_BLUR * iod, 0.5))
    drop = min(max(int(round(SHADOW_DROP * iod)), 0), len(blurred))
    shadow = np.zeros_like(blurred)  # the rim's shadow falls below it (nothing wraps round the box)
    shadow[drop:] = blurred[: len(blurred) - drop]
    if kernel is not None:  # what the camera's shutter does to an object that moves
        rim, light, lens, shadow = (
            cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_CONSTANT) for x in (rim, light, lens, shadow)
        )
    base = rgb[y0:y1, x0:x1].astype(np.float32)
    behind = base * (1 - (1 - LENS_TRANSMISSION) * lens[..., None]) * (1 - SHADOW_DEPTH * shadow[..., None])
    colour = np.clip(np.asarray(model.rim[1:], np.float32) + HIGHLIGHT * light[..., None], 0, 255)
    drawn = behind * (1 - rim[..., None]) + colour * rim[..., None]
    return (y0, y1, x0, x1), opacity * (drawn - base)


def draw_glasses(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    model: GlassesModel,
    strength: float,
    motion: np.ndarray | None = None,
    fade: float = 1.0,
    to_frame: np.ndarray | None = None,
) -> np.ndarray:
    """The change ``(h, w, 3)`` float32 that draws the glasses on ``rgb`` (``(h, w, 3)`` in [0, 255])
    for a face at ``landmarks`` (``to_frame``: see :func:`frame_geometry`) at ``strength`` > 0
    (opacity up to 1, then a wider rim up to :data:`MAX_THICKEN`), the opacity times ``fade``,
    blurred along ``motion`` (px: the blur's length and direction, at most :data:`MAX_BLUR` IOD)."""
    out = np.zeros((*rgb.shape[:2], 3), np.float32)
    got = _draw(rgb, frame_geometry(model, landmarks, to_frame), model, strength, fade, motion)
    if got is not None:
        (y0, y1, x0, x1), change = got
        out[y0:y1, x0:x1] = change
    return out


def skin_motion(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The similarity transform ``(2, 3)`` that carries the forehead's and the nose's skin from the
    grey image ``before`` (whose face is at ``landmarks``) to ``after``: Lucas-Kanade on corners
    there, RANSAC. None when too few corners follow or agree (:data:`MIN_CORNERS`, :data:`MIN_AGREE`)."""
    lm = np.asarray(landmarks, np.float64)
    iod = float(face_frame(lm)[2])
    mask = np.zeros(before.shape, np.uint8)
    top = lm[17:27, 1].min()
    x0, x1 = int(lm[19, 0]), int(lm[24, 0])
    cv2.rectangle(mask, (x0, int(top - FOREHEAD[1] * iod)), (x1, int(top - FOREHEAD[0] * iod)), 255, -1)
    cv2.fillConvexPoly(mask, cv2.convexHull(lm[27:36].astype(np.int32)), 255)
    p0 = cv2.goodFeaturesToTrack(before, TRACK_CORNERS, 0.01, 3, mask=mask)
    if p0 is None or len(p0) < MIN_CORNERS:
        return None
    p1, ok, _ = cv2.calcOpticalFlowPyrLK(before, after, p0, None, winSize=(21, 21), maxLevel=3)
    ok = ok[:, 0] == 1
    if ok.sum() < MIN_CORNERS:
        return None
    m, inliers = cv2.estimateAffinePartial2D(p0[ok], p1[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if m is None or inliers is None or inliers.sum() < max(MIN_CORNERS, MIN_AGREE * len(inliers)):
        return None
    return m


def carried(landmarks: np.ndarray, motion: dict[int, np.ndarray], pull: float = CARRY) -> tuple[np.ndarray, set]:
    """Where the glasses' landmarks go on each frame ``(T, 68, 2)``, and the frames carried by the
    skin. Frame t's own ``landmarks`` give the shape (how each lens narrows as the head turns, where
    the temples end); where they sit comes from frame t-1's placement moved by the skin's
    ``motion[t]``, then ``pull`` of the way towards the landmarks' (the eyes' corners). Where the
    skin's motion is missing, or would put the eyes more than :data:`MAX_DEVIATION` IOD from the
    landmarks' (a hand on the forehead, a cut), frame t-1's placement moves as the landmarks do;
    after a gap, a frame takes its own landmarks."""
    own = np.asarray(landmarks, np.float64)
    out = own.copy()
    skin = set()
    eyes = [36, 39, 42, 45]
    for t in range(1, len(out)):
        if not (np.isfinite(own[t]).all() and np.isfinite(out[t - 1]).all()):
            continue
        offset = (out[t - 1] - own[t - 1])[eyes].mean(0)  # where the placement sat off the landmarks
        if t in motion:
            m = motion[t]
            by_skin = out[t - 1][eyes] @ m[:, :2].T + m[:, 2]
            off = (by_skin - own[t][eyes]).mean(0)
            if np.hypot(*off) <= MAX_DEVIATION * float(face_frame(own[t])[2]):
                offset = off
                skin.add(t)
        out[t] = own[t] + (1 - pull) * offset
    return out, skin


class AccessoryEditor(CropEditor):
    """Draws eyeglasses on the face (see the module doc)."""

    # The render pass draws on the frames (paint) and reads no crop; the fit reads them itself
    reads_crops = False
    # Glasses change no pixel of the face but those under the frame; dlib's identity descriptor moves
    # because it sees glasses (as it does when a person puts real ones on), and the guard's remedy, a
    # fainter frame, would be ghost glasses. BENCHMARKS.md "Glasses on the shared clips" reports it.
    identity_guarded = False
    draws_on_frames = True  # drawn at the frame's own resolution, not resampled from the crop

    @classmethod
    def from_options(
        cls,
        models: AccessoryModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions,
        progress: bool,
    ) -> "AccessoryEditor":
        return cls(models.models[attribute.celeba], attribute, strength)

    def __init__(self, model: GlassesModel, attribute: Attribute, strength: float = 1.0):
        signed = attribute.sign * strength
        if signed < 0:
            raise InputError(
                f"{attribute.name}: a negative strength would take glasses off, which this release cannot do "
                "(it draws glasses; nothing paints the eyes behind them): use a strength above 0"
            )
        self.model, self.attribute, self.strength = model, attribute, signed
        self.mask = region_mask(attribute)
        self.worn = 0.0  # the detector's mean probability over the video's sampled frames
        self.notes: tuple[str, ...] = ()
        self._steady = np.zeros((0, 68, 2), np.float32)

    def fit(self, source: CropSource, n_frames: int) -> None:
        crop = np.full((n_frames, 68, 2), np.nan, np.float32)
        motion: dict[int, np.ndarray] = {}  # frame t -> the skin's similarity transform from crop t-1
        probs, seen, last = [], 0, None
        for batch in source():
            lm = batch.landmarks.numpy()
            idx = batch.frame_indices.numpy()
            crop[idx] = lm
            detected = np.ones(len(lm), bool) if batch.detected is None else batch.detected.numpy()
            images = batch.crops.permute(0, 2, 3, 1).numpy().clip(0, 255).astype(np.uint8)
            for i, t in enumerate(idx):
                if not np.isfinite(lm[i]).all():
                    last = None
                    continue
                if detected[i]:
                    if seen % SAMPLE_EVERY == 0:
                        canvas = canvas_lightness(images[i], lm[i], self.model.mean_shape)
                        probs.append(float(self.model.worn(glasses_features(canvas))))
                    seen += 1
                grey = cv2.cvtColor(images[i], cv2.COLOR_RGB2GRAY)
                if last is not None and last[0] == t - 1:
                    m = skin_motion(last[1], grey, last[2])
                    if m is not None:
                        motion[int(t)] = m
                last = (int(t), grey, lm[i])
        placed, _ = carried(crop, motion)
        self._steady = placed.astype(np.float32)
        self.worn = float(np.mean(probs)) if probs else 0.0
        if self.worn > self.model.threshold:
            self.notes = (f"{self.attribute.name}: the face wears glasses already (p {self.worn:.2f}): nothing drawn",)
        elif self.strength > MAX_THICKEN:
            self.notes = (f"{self.attribute.name}: strength {self.strength:g} draws the same frame as {MAX_THICKEN:g}",)
        else:
            self.notes = ()

    def _steady_landmarks(self, batch: CropBatch) -> np.ndarray:
        lm = batch.landmarks.numpy().astype(np.float64)
        idx = batch.frame_indices.numpy()
        if len(idx) and idx.max() < len(self._steady):  # (fitted on this video)
            steady = self._steady[idx].astype(np.float64)
            lm = np.where(np.isfinite(steady), steady, lm)
        return lm

    def paint(
        self,
        frames: list[np.ndarray],
        batch: CropBatch,
        matrices: np.ndarray,
        scale: float = 1.0,
        weights: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Draws the glasses on the frames themselves (``matrices`` frame -> crop: the glasses are laid
        out on the crop, whose pixels are square, and carried into the frame), each blurred by
        :data:`SHUTTER` of its motion from and to the frames beside it in the batch (none across a
        cut); ``weights`` fade their opacity."""
        strength = self.strength * scale
        if strength <= 0 or self.worn > self.model.threshold or not len(frames):
            return frames
        to_frame = invert_affine(np.asarray(matrices, np.float64))
        lm = self._steady_landmarks(batch)
        idx = batch.frame_indices.numpy()
        eyes = transform_points(to_frame, lm[:, [36, 39, 42, 45]]).mean(1)  # (B, 2) frame px: what the blur follows
        fade = np.ones(len(frames)) if weights is None else np.asarray(weights, np.float64)
        out = list(frames)
        for i in range(len(frames)):
            if not np.isfinite(lm[i]).all() or fade[i] <= 0:
                continue
            g = frame_geometry(self.model, lm[i], to_frame[i])
            steps = []  # the eyes' moves from the frame before and to the frame after (not across a cut)
            for j, k in ((i - 1, i), (i, i + 1)):
                if 0 <= j and k < len(frames) and idx[k] - idx[j] == 1 and np.isfinite(eyes[[j, k]]).all():
                    step = eyes[k] - eyes[j]
                    if np.hypot(*step) <= MAX_STEP * g["iod"]:
                        steps.append(step)
            motion = SHUTTER * np.mean(steps, 0) if steps else None
            got = _draw(frames[i], g, self.model, strength, fade[i], motion)
            if got is not None:
                (y0, y1, x0, x1), change = got
                frame = frames[i].copy()
                box = frame[y0:y1, x0:x1]
                box[...] = np.clip(box + change, 0, 255).round().astype(np.uint8)
                out[i] = frame
        return out

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """The glasses drawn on the crops (for tools that paste deltas; the pipeline draws them on the
        frames themselves in every blend mode: :meth:`paint`)."""
        out = torch.zeros(batch.crop_shape)
        strength = self.strength * scale
        if strength <= 0 or self.worn > self.model.threshold:
            return out
        lm = self._steady_landmarks(batch)
        images = batch.crops.permute(0, 2, 3, 1).numpy()
        for i, points in enumerate(lm):
            if np.isfinite(points).all():
                out[i] = torch.from_numpy(draw_glasses(images[i], points, self.model, strength)).permute(2, 0, 1)
        return out

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return (batch.crops + self.delta(batch)).clamp(0, 255)
