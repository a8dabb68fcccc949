"""Colour edits of one part of the face: recolour the lips as lipstick does, keeping every pixel's
own detail (no generated pixels, so the edit is as sharp as the video and keeps the person).

The model (fitted on CelebA by ``pipelines/fit_colour.py``, shipped in ``stitchtime/weights/colour``)
describes the lips' colour *relative to the face's own skin* (CIELAB, lip median minus cheek
median: the light and the camera's white balance largely cancel). For an attribute
(Wearing_Lipstick) it holds

* ``shift``: the mean Lab change of the lips the label makes, women with the label against women
  without it (CelebA's lipstick wearers are women; across genders the difference would carry the
  difference between men's and women's lips);
* how far along ``shift`` lips go: its *level* (the relative colour projected on ``shift``, in
  units of it) of the boldest tenth of the women with the label (``ceiling``) and of the median
  woman without it (``floor``).

The editor (``Method.colour``) measures the lips' relative colour over the whole video (the median
of every :data:`SAMPLE_EVERY`-th face frame) and adds ``a * shift`` to the Lab colour of the lip
pixels, one amount ``a`` for the whole video. For strength ``s > 0``, ``a = g s`` (``g`` the
attribute's ``colour_gain``) but never past the ceiling (lips already that red stay as they are).
For ``s < 0`` the lipstick comes off: ``a`` takes ``|s|`` of the way from the lips' level down to
the floor, so ``-1`` leaves bare lips' colour and stronger negative strengths do no more (bare lips
have nothing to take away). The lip pixels lie
between the outer and the inner lip line of each crop's landmarks, feathered, with the teeth and
the mouth interior left out.
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
from stitchtime.editors.shared import region_mask
from stitchtime.errors import ModelError
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame

OUTER, INNER = np.r_[48:60], np.r_[60:68]  # dlib's outer and inner lip lines
CHEEKS = ((31, 48, 3), (35, 54, 13))  # skin triangles beside the mouth: nose wing, mouth corner, jaw
# The lip mask's soft edge (blur sigma) and how far the mouth's opening is grown (keeping the teeth
# out of the colour), in inter-ocular distances. 0.02 IOD is 2 px on a face whose eyes are 100 px apart.
FEATHER, TEETH_MARGIN = 0.02, 0.012
SAMPLE_EVERY = 4  # the fit measures the lips on every n-th observed face frame
# Every face's lips are measured at one scale: the face resized so its eyes are this far apart (px;
# twice CelebA's median, 38, in the 178x218 images the model was fitted on), so the measuring masks'
# fixed pixel margins mean the same on every face and a colour level does not depend on the face's
# size. At CelebA's own scale the margins cut much of a thin lip: skimage's astronaut, enlarged 1x to
# 4x, measured 0.90-1.43 there and 1.55-1.70 at 76.
MEASURE_IOD = 76.0
MIN_PIXELS = 20  # fewer lip or skin pixels than this (at MEASURE_IOD): the frame is not measured
MIN_IOD = 8.0  # px: a face smaller than this holds too few lip pixels to measure
# The editor says so when it makes less than this share of the asked change, or when the lips sit
# less than this many shifts above bare lips' colour (a negative strength has little to take away)
LITTLE = 0.25


def measure_regions(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Hard masks ``(h, w)`` bool of the lips (between the outer and inner lip lines, a pixel in
    from both) and of the cheek skin beside the mouth, for measuring colour."""
    lm = np.asarray(landmarks, np.float64)
    k = np.ones((3, 3), np.uint8)
    outer, inner = interior_mask(lm[OUTER], shape), interior_mask(lm[INNER], shape)
    lips = cv2.erode(outer, k).astype(bool) & ~cv2.dilate(inner, k).astype(bool)
    skin = np.logical_or.reduce([interior_mask(lm[list(tri)], shape) > 0 for tri in CHEEKS])
    skin &= ~cv2.dilate(outer, np.ones((5, 5), np.uint8)).astype(bool)
    return lips, skin


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or [0, 255] float RGB ``(h, w, 3)`` -> float32 CIELAB (L in [0, 100])."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def lip_colour(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """``(3,)`` the lips' Lab colour relative to the skin beside them (median minus median), the
    face seen at :data:`MEASURE_IOD`; None when either region is too small to measure."""
    lm = np.asarray(landmarks, np.float64)
    iod = float(face_frame(lm)[2])
    if not np.isfinite(lm).all() or iod < MIN_IOD:
        return None
    f = MEASURE_IOD / iod
    h, w = rgb.shape[:2]
    used = lm[np.r_[3, 13, 31, 35, 48:68]]  # what the regions reach: cheek triangles and lips
    lo = np.clip(np.floor(used.min(0) - 0.1 * iod), 0, [w, h]).astype(int)
    hi = np.clip(np.ceil(used.max(0) + 0.1 * iod) + 1, 0, [w, h]).astype(int)
    if (hi - lo < 2).any():
        return None
    part = np.ascontiguousarray(rgb[lo[1] : hi[1], lo[0] : hi[0]])
    size = (max(int(round((hi[0] - lo[0]) * f)), 1), max(int(round((hi[1] - lo[1]) * f)), 1))
    part = cv2.resize(part, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    points = (lm - lo + 0.5) * (np.array(size) / (hi - lo)) - 0.5  # pixel centres on both grids
    lips, skin = measure_regions(points, part.shape[:2])
    if lips.sum() < MIN_PIXELS or skin.sum() < MIN_PIXELS:
        return None
    lab = to_lab(part)
    return (np.median(lab[lips], 0) - np.median(lab[skin], 0)).astype(np.float64)


def lip_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 in [0, 1]: the lips to recolour, feathered by :data:`FEATHER` IOD, the
    mouth's opening (grown by :data:`TEETH_MARGIN`) left out."""
    lm = np.asarray(landmarks, np.float64)
    iod = float(face_frame(lm)[2])
    inner = interior_mask(lm[INNER], shape, grow=max(round(TEETH_MARGIN * iod), 0))
    m = interior_mask(lm[OUTER], shape) * (1 - inner)
    sigma = max(FEATHER * iod, 0.5)
    return cv2.GaussianBlur(m, (0, 0), sigma)


def recolour_change(rgb: np.ndarray, mask: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The change ``(h, w, 3)`` of ``rgb`` (float in [0, 255]) when ``mask * shift`` is added to its
    Lab colour: exactly 0 where ``mask`` is (the difference of two conversions back from Lab, so
    the round trip's own error, up to half a level, does not reach the pixels left alone)."""
    lab = to_lab(rgb)
    back = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    moved = cv2.cvtColor((lab + mask[..., None] * np.asarray(shift, np.float32)).astype(np.float32), cv2.COLOR_Lab2RGB)
    return (np.clip(moved * 255.0, 0.0, 255.0) - np.clip(back * 255.0, 0.0, 255.0)) * (mask[..., None] > 0)


@dataclass
class ColourModel:
    """One attribute's colour change of the lips and how far lips go along it (see the module doc)."""

    attribute: str
    shift: np.ndarray  # (3,) Lab change the label makes
    ceiling: float  # level of the boldest tenth with the attribute
    floor: float  # level of the median face without it

    def level(self, colour: np.ndarray) -> np.ndarray:
        """Relative lip colours ``(..., 3)`` projected on ``shift``, in units of it."""
        d = np.asarray(self.shift, np.float64)
        return np.asarray(colour, np.float64) @ d / float(d @ d)

    def amount(self, strength: float, colour: np.ndarray | None, gain: float = 1.0) -> float:
        """How many ``shift`` s a video whose lips have this relative ``colour`` gets at the signed
        ``strength`` (> 0 adds the attribute, ``gain`` shifts per unit, up to the ceiling; < 0
        takes ``|strength|``, at most all, of the way down to the floor). None (the lips could not
        be measured): taken as bare lips, at the floor."""
        level = self.floor if colour is None else float(self.level(colour))
        if strength >= 0:
            return float(min(gain * strength, max(self.ceiling - level, 0.0)))
        return float(max(strength, -1.0) * max(level - self.floor, 0.0))

    def tensors(self) -> dict[str, np.ndarray]:
        return {"shift": np.asarray(self.shift, np.float32), "range": np.array([self.floor, self.ceiling], np.float32)}

    @staticmethod
    def save_all(models: dict[str, "ColourModel"], folder: Path, record: dict) -> None:
        save_fitted(folder, "colour", {a: m.tensors() for a, m in models.items()}, record)

    @staticmethod
    def load_all(folder: Path) -> dict[str, "ColourModel"]:
        def build(a: str, t: dict[str, np.ndarray]) -> ColourModel:
            floor, ceiling = t["range"]  # (a range of another shape is refused here)
            return ColourModel(a, t["shift"], float(ceiling), float(floor))

        models = load_fitted(folder, "colour", build)
        for a, m in models.items():
            ok = m.shift.shape == (3,) and m.floor <= m.ceiling
            if not ok or not np.isfinite([*m.shift, m.ceiling, m.floor]).all() or not m.shift.any():
                raise ModelError(f"{folder}: not a colour model ({a}: its tensors are not a colour change)")
        return models


CEILING_QUANTILE = 0.9  # of the faces with the attribute: how far strength 1 (and more) may go
FLOOR_QUANTILE = 0.5  # of the faces without it: how far a negative strength may take it away


def fit_colour(colours: np.ndarray, label: np.ndarray, attribute: str) -> ColourModel:
    """:class:`ColourModel` from relative lip colours ``(N, 3)`` and their 0/1 ``label``."""
    on = np.asarray(label) > 0.5
    model = ColourModel(attribute, colours[on].mean(0) - colours[~on].mean(0), 0.0, 0.0)
    model.ceiling = float(np.quantile(model.level(colours[on]), CEILING_QUANTILE))
    model.floor = float(np.quantile(model.level(colours[~on]), FLOOR_QUANTILE))
    return model


ColourModels = FittedModels[ColourModel]  # the shipped (or given) colour models, one per attribute


def load_colour(path: Path, device: torch.device | None = None) -> ColourModels:
    """The colour models in ``path`` (a folder: config.json + model.safetensors); no torch device."""
    folder = fitted_folder(path)
    return ColourModels(folder, ColourModel.load_all(folder))


class ColourEditor(CropEditor):
    """Recolours the lips by the attribute's learned colour change (one amount per video)."""

    @classmethod
    def from_options(
        cls,
        models: ColourModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions,
        progress: bool,
    ) -> "ColourEditor":
        return cls(models.models[attribute.celeba], attribute, strength)

    def __init__(self, model: ColourModel, attribute: Attribute, strength: float = 1.0):
        self.model = model
        self.attribute = attribute
        self.strength = attribute.sign * strength
        self.mask = region_mask(attribute)
        self.amount = 0.0
        self.colour: np.ndarray | None = None  # the video's median relative lip colour
        self.notes: tuple[str, ...] = ()

    def fit(self, source: CropSource, n_frames: int) -> None:
        colours = []
        seen = 0  # observed face frames so far
        for batch in source():
            lm = batch.landmarks.numpy()
            detected = np.ones(len(lm), bool) if batch.detected is None else batch.detected.numpy()
            pick = []
            for i in np.nonzero(detected)[0]:
                if seen % SAMPLE_EVERY == 0:
                    pick.append(int(i))
                seen += 1
            if pick:
                images = batch.crops[pick].permute(0, 2, 3, 1).numpy()
                for image, points in zip(images, lm[pick]):
                    c = lip_colour(image, points) if np.isfinite(points).all() else None
                    if c is not None:
                        colours.append(c)
        self.colour = np.median(np.stack(colours), 0) if colours else None
        s, gain = self.strength, self.attribute.colour_gain
        self.amount = self.model.amount(s, self.colour, gain)
        name = self.attribute.name
        if self.colour is None:
            self.notes = (f"{name}: the lips could not be measured (face too small, or lips not seen): edited as bare",)
        elif s > 0 and self.amount < LITTLE * gain * s:
            share = self.amount / (gain * s)
            self.notes = (
                f"{name}: {share:.0%} of the asked change was made: the lips are already as red as the "
                "boldest tenth of CelebA's lipsticks",
            )
        elif s < 0 and self.model.level(self.colour) - self.model.floor < LITTLE:
            self.notes = (f"{name}: the lips are bare already: little or nothing to take away",)
        else:
            self.notes = ()

    def _masks(self, batch: CropBatch) -> list[np.ndarray | None]:
        # The mask follows the crop's landmarks as they are (the crop plan's own smoothing): smoothed
        # again over time, a talking mouth's lip lines lagged it by pixels (colour on the teeth)
        lm = batch.landmarks.numpy().astype(np.float64)
        size = batch.crop_shape[-1]
        return [lip_mask(p, (size, size)) if np.isfinite(p).all() else None for p in lm]

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        out = torch.zeros(batch.crop_shape)
        shift = self.amount * scale * self.model.shift
        if not np.any(shift):
            return out
        images = batch.crops.permute(0, 2, 3, 1).numpy()
        for i, mask in enumerate(self._masks(batch)):
            if mask is None:
                continue
            ys, xs = np.nonzero(mask > 1e-3)
            if not len(ys):
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1  # only the lips' box
            region = images[i, y0:y1, x0:x1].astype(np.float32)
            change = recolour_change(region, mask[y0:y1, x0:x1], shift)
            out[i, :, y0:y1, x0:x1] = torch.from_numpy(change).permute(2, 0, 1)
        return out

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return (batch.crops + self.delta(batch)).clamp(0, 255)
