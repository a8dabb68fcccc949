"""Expression edits as geometry: move the face's own landmarks the way the attribute moves them on
real faces, and warp the sharp original crop to follow (no generated pixels, so the edit is as
sharp as the video and keeps the person by construction).

The model (fitted on CelebA by ``pipelines/fit_geometry.py``, shipped in ``stitchtime/weights/geometry``)
works in the *face frame*: landmarks with the eye midpoint at the origin, the eyes on the x axis
and the inter-ocular distance 1 (:func:`normalise`). For an attribute (Smiling, Mouth_Slightly_Open) it holds

* a displacement ``d(u)`` of every landmark: a ridge regression of the landmark coordinates on
  the label, with the face's rigid shape ``u`` (eyes, brows, nose: PCA components) and the other
  expression label (for the smile mouth open, for mouth open the smile) held constant, plus label x
  shape terms, so ``d`` fits the face;
* a logistic regression ``p(shape)``: how much the attribute is already there, from geometry.

The editor (``Method.geometry``) moves frame ``t``'s landmarks by ``a_t d(u)`` with
``a_t = g s (1 - p_t)`` for strength ``s >= 0`` and ``g s p_t`` for ``s < 0`` (``g`` the attribute's
``geometry_gain``, ``p_t`` smoothed over
time; ``u`` is the video's median shape, so ``d`` is one displacement for the whole video), keeps
the mouth's opening as it is (the inner lips move together: no mouth interior to invent; for an
attribute that *is* the opening, :data:`EXPRESSIONS`, the lips part as the model says and the
inside of the mouth is taken from the video itself, :mod:`stitchtime.editors.interior`), holds
the eyes, brows, nose, the jaw line and the crop's border still, and moves the pixels with a
thin-plate spline through those points (as a ``motion`` field: the pipeline warps the frame itself,
resampling it once). ``|s| > 1`` extrapolates.

What no warp of the face's own pixels can show is added after the warp (:meth:`GeometryEditor.paint`):
the skin's shading of the attribute (:mod:`stitchtime.editors.shading`, fitted with the
displacement: the average smile's deeper folds and lit cheeks, luminance only) by ``a_t / g``, so
that strength 1 on a face without the attribute brings the average face's shading; for mouth open,
the inside of the mouth, taken from a frame of the same video (:mod:`stitchtime.editors.interior`);
and, with a mouth-interior model in the folder (:mod:`stitchtime.editors.teeth`; the shipped one
has none), the teeth between lips the smile parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from stitchtime.config import EditOptions, Method
from stitchtime.editors.attributes import Attribute
from stitchtime.editors.contract import CropBatch, CropEditor, CropSource
from stitchtime.editors.fitted import FittedModels, fitted_folder, load_fitted, save_fitted
from stitchtime.editors.interior import InteriorPainter
from stitchtime.editors.shading import ShadingPainter
from stitchtime.editors.shared import region_mask
from stitchtime.editors.teeth import MOUTH_DIR, MouthPainter, load_mouth_model
from stitchtime.errors import ModelError
from stitchtime.faces.align import invert_affine, transform_points
from stitchtime.faces.mouth import INNER_PAIRS, mouth_opening
from stitchtime.faces.shape import CORNERS, normalise, to_frame_vectors
from stitchtime.faces.warp import spline_on_grid, thin_plate_spline
from stitchtime.temporal.smooth import gaussian_smooth

RIGID = np.r_[17:48]  # brows, nose, eyes: who the person is; they stay where they are
MOVING = np.r_[48:68]  # the mouth: what the warp moves
# Held still by the warp: the rigid points and the jaw line (the mask's edge runs along the jaw, so
# a moved jaw would show twice there, where the warped and the original frame are blended).
FIXED = np.r_[0:17, 17:48]
MOUTH = np.r_[48:68]
# An opening mouth also drops the chin (CelebA: 0.080 inter-ocular distances for the 0.123 the lips
# part). Moving the jaw with it was measured and dropped: with the mask grown past the jaw and still
# points beyond it, d9's background PSNR fell from 46.6 to 42.3 dB (the bed's rails beside his neck
# bent), for a chin that reads the same at a glance (BENCHMARKS.md "Mouth open on the shared clips").
OPEN_MAX = 0.4  # an edit opens the inner lips no further apart than this (face frame)


@dataclass(frozen=True)
class Expression:
    """How the editor applies one attribute's displacement: ``opens``: the inner lips part (or
    close) as the model says, never past closed nor past :data:`OPEN_MAX`, and the inside of the
    mouth is painted from the video itself (:mod:`stitchtime.editors.interior`); otherwise the
    mouth's opening is kept."""

    opens: bool = False


EXPRESSIONS = {"Mouth_Slightly_Open": Expression(opens=True)}  # others: Expression()
# The learned smile also parts the lips (the upper inner lip rises ~0.03 inter-ocular distances more
# than the lower). The editor keeps the opening instead: on closed lips parting would stretch their
# contact line into a band of lip (no mouth interior to show), and parting open mouths as learned was
# measured and dropped (on the 14 shared clips it raised flicker by 0.005-0.015, d6 to 1.106).
# How much more open smiling mouths are than the others on CelebA (inner lips 0.148 apart against
# 0.051; the regression above holds "mouth slightly open" constant and sees 0.027 of it).
SMILE_OPENING = 0.097
# With a mouth-interior model in the geometry folder (stitchtime.editors.teeth; the shipped one has
# none), a smile also opens the mouth: by ``a / 2 * SMILE_OPENING`` for amount ``a`` (strength 1 on
# a face that is not smiling: ``a`` = the gain, 2), never past SMILE_GAP (CelebA's smiling faces'
# median opening, 0.158). The upper lip does TEETH_UPPER of it (a smile bares the upper teeth), and
# the model paints what opens, fully once the added opening reaches ADDED_FULL (smoothly from 0).
SMILE_GAP, TEETH_UPPER, ADDED_FULL = 0.158, 0.6, 0.03
UPPER_LIP, LOWER_LIP = np.r_[49:54, 61:64], np.r_[55:60, 65:68]
SHAPE_COMPONENTS = 8  # PCA components of the rigid shape in the regression
INTERACTIONS = 4  # of them, also multiplied by the label (the displacement depends on the face)
RIDGE = 1.0
P_SIGMA = 6.0  # temporal smoothing of the attribute estimate (frames)
# Temporal smoothing of the landmarks the warp and the shading follow (frames). On the shared clips
# with the shading: s13's flicker 1.055 -> 1.029 and TL-ID 0.9950 -> 0.9988 when the warp follows
# them too; without the shading, d6's flicker 1.095 -> 1.090.
STEADY_SIGMA = 2.0
# The warp is computed on a grid this much coarser than the crop, then upsampled bicubically. Against
# the spline evaluated at every pixel (retalking_face_3, 14 frames' fields): 8 px errs by 0.41 px
# median, 0.62 max (the spline curves most at the lip points themselves); 4 px by 0.16 / 0.23 at
# 3x the cost; the 4 px bilinear grid used before, shifted by cv2.resize, by 0.55 / 0.79.
GRID_STEP = 8
BORDER_ANCHORS = 8  # fixed points per crop side


@dataclass
class GeometryModel:
    """One attribute's landmark displacement and geometric estimate (see the module doc)."""

    attribute: str
    shape_mean: np.ndarray  # (62,) rigid shape mean (face frame)
    shape_basis: np.ndarray  # (K, 62) PCA components of the rigid shape
    label_coef: np.ndarray  # (68, 2) displacement the label makes at the mean shape
    interaction_coef: np.ndarray  # (I, 68, 2) its change per rigid-shape component
    prob_coef: np.ndarray  # (40,) logistic weights on the mouth's face-frame coordinates
    prob_intercept: float
    # The skin's shading the attribute brings (stitchtime.editors.shading), on the canvas of the
    # mean face-frame shape (68, 2); None in a model fitted without it
    shading: np.ndarray | None = None
    mean_shape: np.ndarray | None = None

    def components(self, shapes: np.ndarray) -> np.ndarray:
        rigid = shapes[..., RIGID, :].reshape(*shapes.shape[:-2], -1)
        return (rigid - self.shape_mean) @ self.shape_basis.T

    def displacement(self, shapes: np.ndarray) -> np.ndarray:
        """``(..., 68, 2)`` face-frame displacement the attribute makes on faces of these shapes."""
        u = self.components(shapes)[..., : len(self.interaction_coef)]
        return self.label_coef + np.einsum("...i,ijk->...jk", u, self.interaction_coef)

    def probability(self, shapes: np.ndarray) -> np.ndarray:
        """How present the attribute is, from the mouth's geometry alone (``(...)`` in [0, 1])."""
        logit = shapes[..., MOUTH, :].reshape(*shapes.shape[:-2], -1) @ self.prob_coef + self.prob_intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def corner_change(self, shapes: np.ndarray) -> tuple[float, float]:
        """Mean lift of the mouth corners and change of the mouth's width (inter-ocular units)
        when faces of these shapes are edited at strength 1."""
        d = edited_displacement(self, shapes, np.ones(len(shapes)))
        lift = -(d[:, CORNERS[0], 1] + d[:, CORNERS[1], 1]).mean() / 2  # y points down in the face frame
        width = (d[:, CORNERS[1], 0] - d[:, CORNERS[0], 0]).mean()
        return float(lift), float(width)

    def opening_change(self, shapes: np.ndarray) -> float:
        """Mean change of the inner lips' gap (inter-ocular units) when faces of these shapes are
        edited at strength 1 with the mouth free to open (:class:`Expression`)."""
        d = edited_displacement(self, shapes, np.ones(len(shapes)), mouth_opening(shapes), opens=True)
        return float(mouth_opening(d).mean())

    def tensors(self) -> dict[str, np.ndarray]:
        return {
            "shape_mean": self.shape_mean,
            "shape_basis": self.shape_basis,
            "label_coef": self.label_coef,
            "interaction_coef": self.interaction_coef,
            "prob_coef": self.prob_coef,
            "prob_intercept": np.array([self.prob_intercept]),
            **({} if self.shading is None else {"shading": self.shading, "mean_shape": self.mean_shape}),
        }

    @staticmethod
    def save_all(models: dict[str, "GeometryModel"], folder: Path, record: dict) -> None:
        save_fitted(folder, "geometry", {a: m.tensors() for a, m in models.items()}, record)

    @staticmethod
    def load_all(folder: Path) -> dict[str, "GeometryModel"]:
        def build(a: str, t: dict[str, np.ndarray]) -> GeometryModel:
            return GeometryModel(
                a,
                **{k: t[k] for k in ("shape_mean", "shape_basis", "label_coef", "interaction_coef")},
                prob_coef=t["prob_coef"],
                prob_intercept=float(t["prob_intercept"][0]),
                shading=t.get("shading"),
                mean_shape=t.get("mean_shape"),
            )

        return load_fitted(folder, "geometry", build)


def fit_geometry(shapes: np.ndarray, label: np.ndarray, held: np.ndarray, attribute: str) -> GeometryModel:
    """Fit :class:`GeometryModel` on face-frame shapes ``(N, 68, 2)``, their 0/1 ``label`` and the
    labels ``held`` ``(N, H)`` that are held constant."""
    from sklearn.linear_model import LogisticRegression

    rigid = shapes[:, RIGID].reshape(len(shapes), -1)
    mean = rigid.mean(0)
    _, _, vt = np.linalg.svd(rigid - mean, full_matrices=False)
    basis = vt[:SHAPE_COMPONENTS]
    u = (rigid - mean) @ basis.T
    y = label[:, None] - label.mean()
    x = np.concatenate([np.ones((len(shapes), 1)), u, y, held - held.mean(0), y * u[:, :INTERACTIONS]], 1)
    target = shapes.reshape(len(shapes), -1)
    reg = RIDGE * np.eye(x.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(x.T @ x + reg, x.T @ target)  # (F, 136)
    k = 1 + SHAPE_COMPONENTS
    label_coef = coef[k].reshape(68, 2)
    interaction = coef[k + 1 + held.shape[1] :].reshape(INTERACTIONS, 68, 2)
    label_coef[RIGID] = 0.0
    interaction[:, RIGID] = 0.0
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(shapes[:, MOUTH].reshape(len(shapes), -1), label > 0.5)
    return GeometryModel(attribute, mean, basis, label_coef, interaction, clf.coef_[0], float(clf.intercept_[0]))


def added_opening(amount: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """How much a toothy smile of ``amount`` ``(N,)`` opens mouths this open (face frame)."""
    return np.clip(np.minimum(amount / 2 * SMILE_OPENING, SMILE_GAP - opening), 0.0, None)


def edited_displacement(
    model: GeometryModel,
    shapes: np.ndarray,
    amount: np.ndarray,
    opening: np.ndarray | None = None,
    teeth: bool = False,
    opens: bool = False,
) -> np.ndarray:
    """Face-frame displacement of each face ``(N, 68, 2)`` scaled by ``amount`` ``(N,)``.

    ``opening`` ``(N,)`` is each face's own gap between the lips (:func:`mouth_opening`; None: a
    closed mouth). The opening is kept: each pair of facing inner-lip points moves by their mean
    (closing the lips over a smile's teeth when taking it away, and parting open lips when adding it,
    were both measured worse: BENCHMARKS.md "Geometry smile on the shared clips"). With ``teeth``, a
    positive amount opens the mouth (:func:`added_opening`) for the mouth-interior model to paint.
    With ``opens`` (an attribute that is the opening: :class:`Expression`), the inner lips part or
    close as the displacement says, the closing no further than the lips' own ``opening`` and the
    opening to at most :data:`OPEN_MAX` (the mean gap's limits, shared by the three facing pairs)."""
    d = model.displacement(shapes) * amount[:, None, None]
    gap = np.zeros(len(d)) if opening is None else np.asarray(opening, np.float64)
    change = mouth_opening(d)  # how much the displacement parts the inner lips (< 0: closes them)
    # ``opens``: that much, but never closed past touching nor opened past OPEN_MAX. On the mean gap:
    # limiting each facing pair by its own gap (dlib's inner-lip points jitter from frame to frame)
    # raised d9's flicker at -1 from 1.053 to 1.167 (BENCHMARKS.md "Mouth open on the shared clips").
    room = np.where(change < 0, np.maximum(gap, 0.0), np.maximum(OPEN_MAX - gap, 0.0))
    keep = np.clip(room / np.maximum(np.abs(change), 1e-9), 0.0, 1.0) if opens else np.zeros(len(d))
    for a, b in INNER_PAIRS:
        mean, half = (d[:, a] + d[:, b]) / 2, (d[:, b] - d[:, a]) / 2
        d[:, a], d[:, b] = mean - keep[:, None] * half, mean + keep[:, None] * half
    if teeth:
        add = np.where(amount > 0, added_opening(amount, gap), 0.0)
        d[:, UPPER_LIP, 1] -= TEETH_UPPER * add[:, None]  # y points down in the face frame
        d[:, LOWER_LIP, 1] += (1 - TEETH_UPPER) * add[:, None]
    return d


def warp_field(src: np.ndarray, dst: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps ``(map_x, map_y)`` ``(size, size)`` float32 for :func:`cv2.remap`: a thin-plate
    spline that takes the moved points ``dst`` ``(P, 2)`` back to ``src`` (crop pixels) and is the
    identity at the crop's border."""
    edge = np.linspace(0, size - 1, BORDER_ANCHORS)
    border = np.concatenate(
        [np.stack([edge, np.zeros_like(edge)], 1), np.stack([edge, np.full_like(edge, size - 1)], 1)]
        + [np.stack([np.zeros_like(edge), edge], 1), np.stack([np.full_like(edge, size - 1), edge], 1)]
    )
    border = np.unique(border, axis=0)  # (the corners once)
    points = np.concatenate([dst, border])
    shift = np.concatenate([src - dst, np.zeros_like(border)])
    fine = spline_on_grid(thin_plate_spline(points, shift), (size, size), grid_step=GRID_STEP)
    base = np.arange(size, dtype=np.float32)
    return base[None, :] + fine[..., 0], base[:, None] + fine[..., 1]


@dataclass
class GeometryModels(FittedModels[GeometryModel]):
    """The shipped (or given) geometry models, one per attribute."""

    mouth: object | None = None  # the mouth-interior network (stitchtime.editors.teeth), if the folder has one


def load_geometry(path: Path, device: torch.device | None = None) -> GeometryModels:
    """The geometry models in ``path`` (a folder: config.json + model.safetensors); no torch device."""
    folder = fitted_folder(path)
    models = GeometryModel.load_all(folder)
    try:
        mouth = load_mouth_model(folder / MOUTH_DIR, device)
    except Exception as err:  # noqa: BLE001 - a damaged model file is the same user error
        raise ModelError(f"{folder / MOUTH_DIR}: not a mouth-interior model ({type(err).__name__}: {err})") from None
    return GeometryModels(folder, models, mouth)


class GeometryEditor(CropEditor):
    """Moves the mouth's landmarks by the attribute's learned displacement and warps the crop."""

    @classmethod
    def from_options(
        cls,
        models: GeometryModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions,
        progress: bool,
    ) -> "GeometryEditor":
        editor = cls(models.models[attribute.celeba], attribute, strength, models.mouth)
        editor.sharp_resample = not (options is not None and options.fast)  # --fast: plain cubic
        return editor

    def __init__(self, model: GeometryModel, attribute: Attribute, strength: float = 1.0, mouth=None):
        self.model = model
        self.attribute = attribute
        self.strength = attribute.sign * strength * attribute.geometry_gain
        self.expression = EXPRESSIONS.get(attribute.celeba, Expression())
        self.mask = region_mask(attribute)
        self._amount = np.zeros(0, np.float32)
        self._shape: np.ndarray | None = None
        self._steady = np.zeros((0, 68, 2), np.float32)
        # an opening mouth shows the video's own mouth interior; the smile bares teeth when the
        # mouth-interior model is there to paint them
        self.teeth = mouth is not None and attribute.celeba == "Smiling"
        self.painter = InteriorPainter() if self.expression.opens else MouthPainter(mouth) if self.teeth else None
        self.shader = None if model.shading is None else ShadingPainter(model.shading, model.mean_shape)
        self.gain = attribute.geometry_gain

    def fit(self, source: CropSource, n_frames: int) -> None:
        shapes = np.full((n_frames, 68, 2), np.nan, np.float32)
        crop = np.full((n_frames, 68, 2), np.nan, np.float32)
        self.notes = ()
        if isinstance(self.painter, InteriorPainter):
            self.painter = InteriorPainter()  # (a new video: a new reference)
        interior = self.painter if isinstance(self.painter, InteriorPainter) and self.strength > 0 else None
        for batch in source():
            shapes[batch.frame_indices.numpy()] = normalise(batch.landmarks.numpy())
            crop[batch.frame_indices.numpy()] = batch.landmarks.numpy()
            if interior is not None:
                detected = None if batch.detected is None else batch.detected.numpy()
                interior.observe(
                    lambda b=batch: b.crops, batch.landmarks.numpy(), detected, batch.frame_indices.numpy()
                )
        valid = np.isfinite(shapes).all(axis=(1, 2))
        p = np.full(n_frames, np.nan)
        p[valid] = self.model.probability(shapes[valid])
        p = np.nan_to_num(gaussian_smooth(p, valid, P_SIGMA), nan=0.5)
        s = self.strength
        self._amount = (s * (1.0 - p) if s >= 0 else s * p).astype(np.float32)
        self._shape = np.median(shapes[valid], axis=0) if valid.any() else None
        # the warp and the shading follow the face's landmarks smoothed over time (what jitter
        # the crop's own smoothing of the landmarks leaves would move them from frame to frame)
        self._steady = gaussian_smooth(crop, valid, STEADY_SIGMA).astype(np.float32)
        if interior is not None and valid.any():
            self.notes = (
                (
                    f"{self.attribute.name}: the inside of the mouth is taken from frame {interior.frame} "
                    "(counted from 0)",
                )
                if interior.has_reference
                else (
                    f"{self.attribute.name}: no frame of this video shows the inside of the mouth, so the "
                    "opening is painted as a shadow",
                )
            )

    def _moved(self, batch: CropBatch, scale: float, weights: np.ndarray | None = None, steady: bool = False):
        """The crops' landmarks ``(B, 68, 2)`` (``steady``: smoothed over time, where the video
        has them), where the edit moves them, the opening it adds, the mouths' own opening (face
        frame) and the edit's amount (``(B,)`` each); None when nothing moves."""
        if self._shape is None or scale == 0 or self.strength == 0:
            return None
        lm = batch.landmarks.numpy().astype(np.float64)
        idx = batch.frame_indices.numpy()
        if steady and len(idx) and idx.max() < len(self._steady):  # (fitted on this video)
            smooth = self._steady[idx].astype(np.float64)
            lm = np.where(np.isfinite(smooth), smooth, lm)
        amount = self._amount[idx] * scale
        if weights is not None:
            amount = amount * np.asarray(weights, np.float64)
        opening = mouth_opening(normalise(lm))
        shapes = np.repeat(self._shape[None], len(lm), 0)
        d = edited_displacement(self.model, shapes, amount, opening, self.teeth, self.expression.opens)
        if self.expression.opens:
            added = np.maximum(mouth_opening(d), 0.0)
        else:
            added = np.where(amount > 0, added_opening(amount, opening), 0.0) if self.teeth else np.zeros(len(lm))
        return lm, lm + to_frame_vectors(d, lm), added, opening, amount

    def _fields(self, batch: CropBatch, scale: float) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Each crop's backward maps (:func:`warp_field`), or None when nothing moves."""
        got = self._moved(batch, scale, steady=True)
        if got is None:
            return None
        lm, moved = got[:2]
        size = batch.crop_shape[-1]
        return [
            warp_field(
                np.concatenate([lm[i, MOVING], lm[i, FIXED]]), np.concatenate([moved[i, MOVING], lm[i, FIXED]]), size
            )
            for i in range(len(lm))
        ]

    def paint(
        self,
        frames: list[np.ndarray],
        batch: CropBatch,
        matrices: np.ndarray,
        scale: float = 1.0,
        weights: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """After the warp: the inside of the mouth the edit opened (mouth open: the video's own,
        :mod:`stitchtime.editors.interior`; a smile with the teeth plug-in: :mod:`stitchtime.editors.teeth`),
        shown by the share of the opening the edit added (a mouth already open keeps its own); then
        the attribute's skin shading (:mod:`stitchtime.editors.shading`) on the moved face, by the
        edit's amount without the geometry gain (strength 1, no attribute yet: the average shading)."""
        inverse = invert_affine(np.asarray(matrices, np.float64))  # crop -> frame
        # The teeth go where the lips are after the warp: the frame's own landmarks moved by the
        # edit (the warp's field, smooth, moves them by about that much wherever its control points are)
        got = None if self.painter is None else self._moved(batch, scale, weights)
        if got is not None and (got[2] > 0).any():
            _, moved, added, opening, _ = got
            share = added / np.maximum(added + np.maximum(opening, 0.0), 1e-6)
            t = np.clip(added / ADDED_FULL, 0.0, 1.0)
            frames = self.painter.paint(frames, transform_points(inverse, moved), share * t * t * (3 - 2 * t))
        got = None if self.shader is None else self._moved(batch, scale, weights, steady=True)
        if got is not None:
            frames = self.shader.paint(frames, transform_points(inverse, got[1]), got[4] / self.gain)
        return frames

    def motion(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor | None:
        fields = self._fields(batch, scale)
        if fields is None:
            return torch.zeros(batch.crop_shape[0], 2, *batch.crop_shape[2:])
        base = np.arange(batch.crop_shape[-1], dtype=np.float32)
        m = np.stack([np.stack([mx - base[None, :], my - base[:, None]]) for mx, my in fields])
        return torch.from_numpy(m)

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """The warp as a change of the crop (what the identity guard and tools that paste deltas
        use; the pipeline itself warps the frames with :meth:`motion`)."""
        fields = self._fields(batch, scale)
        if fields is None:
            return torch.zeros(batch.crop_shape)
        images = batch.crops.permute(0, 2, 3, 1).contiguous().numpy()
        out = np.zeros_like(images)
        for i, (mx, my) in enumerate(fields):
            warped = cv2.remap(images[i], mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
            out[i] = warped - images[i]
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return (batch.crops + self.delta(batch)).clamp(0, 255)
