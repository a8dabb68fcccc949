"""Colour edits of parts of the face: recolour the lips as lipstick does, or the lips and the lash
lines as heavy makeup does, keeping every pixel's own detail (no generated pixels, so the edit is
as sharp as the video and keeps the person).

The model (fitted on CelebA by ``pipelines/fit_colour.py``, shipped in ``stitchtime/weights/colour``)
describes each part's colour *relative to the face's own skin* (CIELAB, the part's median minus
that of the lower cheeks beside the mouth: the light and the camera's white balance largely
cancel). For an attribute (Wearing_Lipstick: the lips; Heavy_Makeup: the lips and the eyeliner's
band above the upper lids, :data:`REGIONS`) it holds, per part,

* ``shift``: the mean Lab change of the part the label makes, women with the label against women
  without it (CelebA's lipstick and makeup wearers are women; across genders the difference would
  carry the difference between men's and women's faces);
* how far along ``shift`` the part goes: its *level* (the relative colour projected on ``shift``,
  in units of it) of the boldest tenth of the women with the label (``ceiling``) and of the median
  woman without it (``floor``).

The editor (``Method.colour``) measures each part's relative colour over the whole video (the
median of every :data:`SAMPLE_EVERY`-th face frame) and adds ``a * shift`` to the Lab colour of the
part's pixels, one amount ``a`` per part for the whole video. For strength ``s > 0``, ``a = g s`` (``g`` the
attribute's ``colour_gain``) but never past the ceiling (lips already that red stay as they are).
For ``s < 0`` the attribute comes off: ``a`` takes ``|s|`` of the way from the part's level down
to the floor, so ``-1`` leaves bare lips' colour and stronger negative strengths do no more (bare
lips have nothing to take away; the liner's removal is experimental, :data:`NEGATIVE_EXPERIMENTAL`).
The lip pixels lie
between the outer and the inner lip line of each crop's landmarks, feathered, with the teeth and
the mouth interior left out; the liner's in a thin band above each upper lid line, the eye itself
left out.
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
from stitchtime.errors import InputError, ModelError
from stitchtime.faces.hair import to_lab
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame

OUTER, INNER = np.r_[48:60], np.r_[60:68]  # dlib's outer and inner lip lines
CHEEKS = ((31, 48, 3), (35, 54, 13))  # skin triangles beside the mouth: nose wing, mouth corner, jaw
EYES = (np.r_[36:42], np.r_[42:48])  # each eye's six points, round the opening
UPPER_LIDS = (np.r_[36:40], np.r_[42:46])  # each eye's upper lid line, corner to corner
# The eyeliner (and mascara) band: from the upper lid line this far up, in IODs. On CelebA's women
# heavy makeup makes it 5.7 L darker against the skin (the fit's test AUC 0.665); the lid above it
# and the cheekbones barely change on average (eyeshadows and blushes come in every colour:
# BENCHMARKS.md "Makeup: which parts CelebA's label changes"), so the makeup edit is this band and
# the lips.
LINER = 0.04
REGIONS = ("lips", "liner")  # the parts a colour model may recolour
# The mask's soft edge (blur sigma) and how far the mouth's opening is grown (keeping the teeth
# out of the colour), in inter-ocular distances. 0.02 IOD is 2 px on a face whose eyes are 100 px apart.
FEATHER, TEETH_MARGIN = 0.02, 0.012
LINER_FEATHER = 0.008  # the liner's soft edge
SAMPLE_EVERY = 4  # the fit measures the parts on every n-th observed face frame
# Every face's lips are measured at one scale: the face resized so its eyes are this far apart (px;
# twice CelebA's median, 38, in the 178x218 images the model was fitted on), so the measuring masks'
# fixed pixel margins mean the same on every face and a colour level does not depend on the face's
# size. At CelebA's own scale the margins cut much of a thin lip: skimage's astronaut, enlarged 1x to
# 4x, measured 0.90-1.43 there and 1.55-1.70 at 76.
MEASURE_IOD = 76.0
MIN_PIXELS = 20  # fewer part or skin pixels than this (at MEASURE_IOD): the frame is not measured
MIN_IOD = 8.0  # px: a face smaller than this holds too few lip pixels to measure
# The editor says so when it makes less than this share of the asked change, or when the lips sit
# less than this many shifts above bare lips' colour (a negative strength has little to take away)
LITTLE = 0.25
NAMES = {"lips": "lips", "liner": "lash lines"}  # what notes call the parts
# Parts whose colour a negative strength cannot take off well: lightening a lash line greys the
# lashes (they are dark on every face), it does not take the eyeliner off
NEGATIVE_EXPERIMENTAL = {"liner": "lightening the lash lines greys the lashes rather than taking the eyeliner off"}


def _lid_curve(points: np.ndarray, samples: int = 16) -> np.ndarray:
    """``(samples, 2)`` a smooth curve through the lid line's points (a cubic spline on the chord
    length): dlib's four points drawn straight would put corners in the liner."""
    from scipy.interpolate import CubicSpline

    t = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if not (np.diff(t) > 1e-6).all():
        return points
    return CubicSpline(t, points, bc_type="natural")(np.linspace(0.0, t[-1], samples))


def _eye_outlines(lm: np.ndarray) -> list[np.ndarray]:
    """Each eye's opening: the smoothed upper lid line (the liner's lower edge) and dlib's lower lid
    points, so no sliver of the eye lies between the liner and the part left out."""
    return [np.concatenate([_lid_curve(lm[lid]), lm[eye[4:]]]) for lid, eye in zip(UPPER_LIDS, EYES)]


def _liner_polygons(lm: np.ndarray) -> list[np.ndarray]:
    """Each upper lid's liner band: the lid line (smoothed) and the same line :data:`LINER` IODs up."""
    _, axis, iod = face_frame(lm)
    up = np.array([axis[1], -axis[0]]) * LINER * iod  # the face's up, perpendicular to the eyes
    lines = [_lid_curve(lm[lid]) for lid in UPPER_LIDS]
    return [np.concatenate([line, (line + up)[::-1]]) for line in lines]


def measure_regions(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Hard masks ``(h, w)`` bool of the lips (between the outer and inner lip lines, a pixel in
    from both) and of the cheek skin beside the mouth, for measuring colour."""
    masks = measure_masks(landmarks, shape, ("lips",))
    return masks["lips"], masks["skin"]


def measure_masks(
    landmarks: np.ndarray, shape: tuple[int, int], regions: tuple[str, ...] = REGIONS
) -> dict[str, np.ndarray]:
    """Hard masks ``(h, w)`` bool for measuring colour: ``skin`` (the lower cheeks beside the
    mouth) and each of ``regions``: ``lips`` (between the outer and inner lip lines, a pixel in
    from both) and ``liner`` (the band above each upper lid line, off the eye)."""
    lm = np.asarray(landmarks, np.float64)
    k = np.ones((3, 3), np.uint8)
    outer = interior_mask(lm[OUTER], shape)
    skin = np.logical_or.reduce([interior_mask(lm[list(tri)], shape) > 0 for tri in CHEEKS])
    skin &= ~cv2.dilate(outer, np.ones((5, 5), np.uint8)).astype(bool)
    out = {"skin": skin}
    if "lips" in regions:
        inner = interior_mask(lm[INNER], shape)
        out["lips"] = cv2.erode(outer, k).astype(bool) & ~cv2.dilate(inner, k).astype(bool)
    if "liner" in regions:
        band = np.logical_or.reduce([interior_mask(p, shape) > 0 for p in _liner_polygons(lm)])
        out["liner"] = band & ~np.logical_or.reduce([interior_mask(e, shape) > 0 for e in _eye_outlines(lm)])
    return out


def region_colours(
    rgb: np.ndarray, landmarks: np.ndarray, regions: tuple[str, ...] = REGIONS
) -> dict[str, np.ndarray | None]:
    """Each region's ``(3,)`` Lab colour relative to the skin beside the mouth (median minus
    median), the face seen at :data:`MEASURE_IOD`; None for a region (or all) too small to measure."""
    lm = np.asarray(landmarks, np.float64)
    none: dict[str, np.ndarray | None] = dict.fromkeys(regions)
    iod = float(face_frame(lm)[2]) if np.isfinite(lm).all() else 0.0
    if iod < MIN_IOD:
        return none
    f = MEASURE_IOD / iod
    h, w = rgb.shape[:2]
    reach = [3, 13, 31, 35, *range(48, 68)]  # what the regions reach: cheek triangles and lips
    if "liner" in regions:
        reach += [*range(36, 48)]
    used = lm[reach]
    lo = np.clip(np.floor(used.min(0) - 0.1 * iod), 0, [w, h]).astype(int)
    hi = np.clip(np.ceil(used.max(0) + 0.1 * iod) + 1, 0, [w, h]).astype(int)
    if (hi - lo < 2).any():
        return none
    part = np.ascontiguousarray(rgb[lo[1] : hi[1], lo[0] : hi[0]])
    size = (max(int(round((hi[0] - lo[0]) * f)), 1), max(int(round((hi[1] - lo[1]) * f)), 1))
    part = cv2.resize(part, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    points = (lm - lo + 0.5) * (np.array(size) / (hi - lo)) - 0.5  # pixel centres on both grids
    masks = measure_masks(points, part.shape[:2], regions)
    if masks["skin"].sum() < MIN_PIXELS:
        return none
    lab = to_lab(part)
    skin = np.median(lab[masks["skin"]], 0)
    return {
        r: (np.median(lab[masks[r]], 0) - skin).astype(np.float64) if masks[r].sum() >= MIN_PIXELS else None
        for r in regions
    }


def lip_colour(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """``(3,)`` the lips' Lab colour relative to the skin beside them (median minus median), the
    face seen at :data:`MEASURE_IOD`; None when either region is too small to measure."""
    return region_colours(rgb, landmarks, ("lips",))["lips"]


def lip_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 in [0, 1]: the lips to recolour, feathered by :data:`FEATHER` IOD, the
    mouth's opening (grown by :data:`TEETH_MARGIN`) left out."""
    lm = np.asarray(landmarks, np.float64)
    iod = float(face_frame(lm)[2])
    inner = interior_mask(lm[INNER], shape, grow=max(round(TEETH_MARGIN * iod), 0))
    m = interior_mask(lm[OUTER], shape) * (1 - inner)
    sigma = max(FEATHER * iod, 0.5)
    return cv2.GaussianBlur(m, (0, 0), sigma)


def liner_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 in [0, 1]: the lash lines to darken (the band :data:`LINER` IODs above
    each upper lid line), feathered by :data:`LINER_FEATHER` IOD, the eyes' openings left out."""
    lm = np.asarray(landmarks, np.float64)
    iod = float(face_frame(lm)[2])
    m = np.maximum.reduce([interior_mask(p, shape) for p in _liner_polygons(lm)])
    m = cv2.GaussianBlur(m, (0, 0), max(LINER_FEATHER * iod, 0.5))
    eyes = np.maximum.reduce([interior_mask(e, shape) for e in _eye_outlines(lm)])
    return m * (1 - eyes)


EDIT_MASKS = {"lips": lip_mask, "liner": liner_mask}


def recolour_change(rgb: np.ndarray, mask: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The change ``(h, w, 3)`` of ``rgb`` (float in [0, 255]) when ``mask * shift`` is added to its
    Lab colour (``shift`` ``(3,)``, or ``(h, w, 3)`` per pixel): exactly 0 where ``mask`` is (the
    difference of two conversions back from Lab, so the round trip's own error, up to half a level,
    does not reach the pixels left alone)."""
    lab = to_lab(rgb)
    back = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    moved = cv2.cvtColor((lab + mask[..., None] * np.asarray(shift, np.float32)).astype(np.float32), cv2.COLOR_Lab2RGB)
    return (np.clip(moved * 255.0, 0.0, 255.0) - np.clip(back * 255.0, 0.0, 255.0)) * (mask[..., None] > 0)


@dataclass
class ColourModel:
    """One attribute's colour change of one part (``region``) and how far it goes along it (see
    the module doc)."""

    attribute: str
    shift: np.ndarray  # (3,) Lab change the label makes
    ceiling: float  # level of the boldest tenth with the attribute
    floor: float  # level of the median face without it
    region: str = "lips"

    def level(self, colour: np.ndarray) -> np.ndarray:
        """Relative colours ``(..., 3)`` projected on ``shift``, in units of it."""
        d = np.asarray(self.shift, np.float64)
        return np.asarray(colour, np.float64) @ d / float(d @ d)

    def amount(self, strength: float, colour: np.ndarray | None, gain: float = 1.0) -> float:
        """How many ``shift`` s a video whose part has this relative ``colour`` gets at the signed
        ``strength`` (> 0 adds the attribute, ``gain`` shifts per unit, up to the ceiling; < 0
        takes ``|strength|``, at most all, of the way down to the floor). None (the part could not
        be measured): taken as bare, at the floor."""
        level = self.floor if colour is None else float(self.level(colour))
        if strength >= 0:
            return float(min(gain * strength, max(self.ceiling - level, 0.0)))
        return float(max(strength, -1.0) * max(level - self.floor, 0.0))

    def tensors(self) -> dict[str, np.ndarray]:
        return {
            f"{self.region}.shift": np.asarray(self.shift, np.float32),
            f"{self.region}.range": np.array([self.floor, self.ceiling], np.float32),
        }

    @staticmethod
    def save_all(models: dict[str, dict[str, "ColourModel"]], folder: Path, record: dict) -> None:
        """Write ``{attribute: {region: model}}``."""
        tensors = {a: {k: v for m in parts.values() for k, v in m.tensors().items()} for a, parts in models.items()}
        save_fitted(folder, "colour", tensors, record)

    @staticmethod
    def load_all(folder: Path) -> dict[str, dict[str, "ColourModel"]]:
        """``{attribute: {region: model}}`` (a model saved before regions existed is the lips')."""

        def build(a: str, t: dict[str, np.ndarray]) -> dict[str, ColourModel]:
            if "shift" in t:  # one part, named before regions existed: the lips
                t = {f"lips.{k}": v for k, v in t.items()}
            parts = {}
            for region in dict.fromkeys(k.split(".")[0] for k in t):
                if region not in REGIONS:
                    raise ValueError(f"unknown region {region!r}")
                floor, ceiling = t[f"{region}.range"]  # (a range of another shape is refused here)
                parts[region] = ColourModel(a, t[f"{region}.shift"], float(ceiling), float(floor), region)
            return parts

        models = load_fitted(folder, "colour", build)
        for a, parts in models.items():
            for m in parts.values():
                ok = m.shift.shape == (3,) and m.floor <= m.ceiling
                if not ok or not np.isfinite([*m.shift, m.ceiling, m.floor]).all() or not m.shift.any():
                    raise ModelError(f"{folder}: not a colour model ({a}: its tensors are not a colour change)")
            if not parts:
                raise ModelError(f"{folder}: not a colour model ({a}: no part to recolour)")
        return models


CEILING_QUANTILE = 0.9  # of the faces with the attribute: how far strength 1 (and more) may go
FLOOR_QUANTILE = 0.5  # of the faces without it: how far a negative strength may take it away


def fit_colour(colours: np.ndarray, label: np.ndarray, attribute: str, region: str = "lips") -> ColourModel:
    """:class:`ColourModel` from relative colours ``(N, 3)`` of one part and their 0/1 ``label``."""
    on = np.asarray(label) > 0.5
    model = ColourModel(attribute, colours[on].mean(0) - colours[~on].mean(0), 0.0, 0.0, region)
    model.ceiling = float(np.quantile(model.level(colours[on]), CEILING_QUANTILE))
    model.floor = float(np.quantile(model.level(colours[~on]), FLOOR_QUANTILE))
    return model


ColourModels = FittedModels[dict[str, ColourModel]]  # the shipped (or given) colour models, per attribute and part


def load_colour(path: Path, device: torch.device | None = None) -> ColourModels:
    """The colour models in ``path`` (a folder: config.json + model.safetensors); no torch device."""
    folder = fitted_folder(path)
    return ColourModels(folder, ColourModel.load_all(folder))


class ColourEditor(CropEditor):
    """Recolours the parts the attribute's colour model names (one amount per part and video)."""

    @classmethod
    def from_options(
        cls,
        models: ColourModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions | None,
        progress: bool,
    ) -> "ColourEditor":
        parts = models.models[attribute.celeba]
        taken_off = [r for r in parts if r in NEGATIVE_EXPERIMENTAL]
        if attribute.sign * strength < 0 and taken_off and not (options is not None and options.experimental):
            raise InputError(
                f"{attribute.name} at a negative strength: {NEGATIVE_EXPERIMENTAL[taken_off[0]]}; experimental "
                "in this release, pass --experimental to edit it anyway (--attr lipstick --strength -1 takes "
                "a lipstick off)"
            )
        return cls(parts, attribute, strength)

    def __init__(self, models: dict[str, ColourModel], attribute: Attribute, strength: float = 1.0):
        self.models = {r: models[r] for r in REGIONS if r in models}
        self.attribute = attribute
        self.strength = attribute.sign * strength
        self.mask = region_mask(attribute)
        self.amounts = dict.fromkeys(self.models, 0.0)
        self.colours: dict[str, np.ndarray | None] = dict.fromkeys(self.models)  # the video's median relative colours
        self.notes: tuple[str, ...] = ()

    @property
    def amount(self) -> float:
        """The lips' amount (the part lipstick edits; 0 for a model without lips)."""
        return self.amounts.get("lips", 0.0)

    @property
    def colour(self) -> np.ndarray | None:
        """The video's median relative lip colour."""
        return self.colours.get("lips")

    def fit(self, source: CropSource, n_frames: int) -> None:
        regions = tuple(self.models)
        measured: dict[str, list[np.ndarray]] = {r: [] for r in regions}
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
                    for r, c in region_colours(image, points, regions).items():
                        if c is not None:
                            measured[r].append(c)
        s, gain = self.strength, self.attribute.colour_gain
        notes = []
        for r, model in self.models.items():
            colour = np.median(np.stack(measured[r]), 0) if measured[r] else None
            self.colours[r] = colour
            self.amounts[r] = amount = model.amount(s, colour, gain)
            what = f"{self.attribute.name}: the {NAMES[r]}"
            if colour is None:
                notes.append(f"{what}: could not be measured (face too small, or not seen): edited as bare")
            elif s > 0 and amount < LITTLE * gain * s:
                notes.append(
                    f"{what}: {amount / (gain * s):.0%} of the asked change was made: already as far as the "
                    "boldest tenth of CelebA's faces with it"
                )
            elif s < 0 and model.level(colour) - model.floor < LITTLE:
                notes.append(f"{what}: bare already: little or nothing to take away")
        self.notes = tuple(notes)

    def _masks(self, batch: CropBatch) -> list[np.ndarray | None]:
        """Each crop's per-pixel Lab shift ``(h, w, 3)`` at amount 1 per part's shift (None: no face)."""
        # The masks follow the crop's landmarks as they are (the crop plan's own smoothing): smoothed
        # again over time, a talking mouth's lip lines lagged it by pixels (colour on the teeth)
        lm = batch.landmarks.numpy().astype(np.float64)
        size = batch.crop_shape[-1]
        parts = [(r, m) for r, m in self.models.items() if self.amounts[r]]
        out: list[np.ndarray | None] = []
        for p in lm:
            if not np.isfinite(p).all() or not parts:
                out.append(None)
                continue
            field = np.zeros((size, size, 3), np.float32)
            for r, m in parts:
                field += EDIT_MASKS[r](p, (size, size))[..., None] * (self.amounts[r] * m.shift).astype(np.float32)
            out.append(field)
        return out

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        out = torch.zeros(batch.crop_shape)
        images = batch.crops.permute(0, 2, 3, 1).numpy()
        for i, field in enumerate(self._masks(batch)):
            if field is None:
                continue
            moved = np.abs(field).max(-1) > 1e-3 * max(float(np.abs(field).max()), 1e-6)
            ys, xs = np.nonzero(moved)
            if not len(ys):
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1  # only the parts' box
            region = images[i, y0:y1, x0:x1].astype(np.float32)
            inside = moved[y0:y1, x0:x1].astype(np.float32)
            change = recolour_change(region, inside, scale * field[y0:y1, x0:x1])
            out[i, :, y0:y1, x0:x1] = torch.from_numpy(change).permute(2, 0, 1)
        return out

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return (batch.crops + self.delta(batch)).clamp(0, 255)
