"""Hair colour: recolour the person's hair as CelebA's blond, grey, black or brown hair is coloured,
keeping every strand's own detail (no generated pixels).

The model (fitted on CelebA by ``pipelines/fit_hair.py``, shipped in ``stitchtime/weights/hair``
with the person segmenter it uses, :mod:`stitchtime.faces.hair`) holds, per attribute, the hair's
colour *relative to the face's skin* (CIELAB median of the hair minus that of the cheeks and nose,
so the light and the camera's white balance largely cancel) and its lightness spread: the median
of the faces with the label (``target``) and of those without it (``without``).

The editor (``Method.hair``) fits one colour model of the video's skin, hair and clothes on
sampled crops (:class:`~stitchtime.faces.hair.HairColours`) and measures the video's own hair
colour with it. Every frame then gets a soft hair mask (the person segmenter on a head crop, the
colour model inside it, averaged with the neighbouring frames' where the picture holds still:
:func:`~stitchtime.faces.hair.steady_masks`) and each hair pixel's colour is carried to the target: lightness
``L' = skin_L + target_L + (L - hair_L) * k`` (``k`` the spreads' ratio, within
:data:`SPREAD_RANGE`, so the strands' light and shade stay) and chroma ``a', b'`` the target's plus
:data:`CHROMA_KEEP` of the pixel's own deviation, blended by ``min(|s|, 1)`` times the mask.
Past ``s = 1`` the target's lightness goes on further from the video's own (:meth:`HairEditor.target`).
A negative strength takes the colour to the faces without the attribute, and only on hair that
has it (nearer its colour than the others'), or there is nothing to take away.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
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
from stitchtime.faces.align import invert_affine, transform_points
from stitchtime.faces.hair import (
    SEGMENTER_FILE,
    SIZE,
    HairColours,
    HeadView,
    PersonSegmenter,
    frame_mask,
    hair_stats,
    head_crop,
    head_view,
    head_view_of,
    matte,
    steady_masks,
    to_lab,
)
from stitchtime.parallel import cv2_threads

SEGMENTER_PATH = Path(__file__).resolve().parents[1] / "weights" / "hair" / SEGMENTER_FILE
SPREAD_RANGE = (0.6, 2.0)  # how far the lightness's spread may be stretched or squeezed
CHROMA_KEEP = 0.5  # of each pixel's own chroma deviation from the hair's median
RELATIVE_CHROMA = 0.5
MAX_VIEWS = 24  # the fit samples MAX_VIEWS to 2 x MAX_VIEWS frames, spread over the video
MIN_MASK = 0.02  # mask values below this are left alone
STRETCH_SIGMA = 1.5  # frame pixels: detail finer than this keeps its lightness contrast (0: all stretched)
ROLL_OFF = 4.0  # L units past the hair's own 10-90% lightness that a pixel's lightness may keep
# Frames painted at once, on threads (OpenCV and numpy release the GIL: 22 -> 14-16 ms a frame on
# d10's frames on 2 cores, the same pixels), each with its own segmenter (neither a LiteRT
# interpreter nor a cv2.dnn net is thread-safe), and OpenCV's own threads off meanwhile
# (stitchtime.parallel.cv2_threads).
PAINT_WORKERS = max(1, min(2, os.cpu_count() or 1))
# --fast: the person segmenter (3.5 ms a frame by LiteRT, 6-7 by cv2.dnn) runs on every
# FAST_MASK_STEP-th frame of a group (and its last); the frames between take their two neighbours'
# person, in head-crop pixels (so it moves with the head), and find the hair in it by their own colours
FAST_MASK_STEP = 2
# past strength 1 the target's lightness (relative to the skin) moves on by its move from the
# video's own hair per unit of strength, by no more than this (L units) per unit
MAX_LIGHTNESS_STEP = 15.0


@dataclass
class HairModel:
    """One attribute's hair colour (see the module doc), ``(6,)``: Lab relative to the skin, the
    lightness spread, and the chroma (a, b) as it is (not relative)."""

    attribute: str
    target: np.ndarray
    without: np.ndarray

    def tensors(self) -> dict[str, np.ndarray]:
        return {"target": np.asarray(self.target, np.float32), "without": np.asarray(self.without, np.float32)}

    @staticmethod
    def save_all(models: dict[str, "HairModel"], folder: Path, record: dict) -> None:
        save_fitted(folder, "hair", {a: m.tensors() for a, m in models.items()}, record)

    @staticmethod
    def load_all(folder: Path) -> dict[str, "HairModel"]:
        models = load_fitted(folder, "hair", lambda a, t: HairModel(a, t["target"], t["without"]))
        for a, m in models.items():
            ok = m.target.shape == (6,) and m.without.shape == (6,)
            if not ok or not np.isfinite([*m.target, *m.without]).all() or min(m.target[3], m.without[3]) <= 0:
                raise ModelError(f"{folder}: not a hair model ({a}: its tensors are not hair colours)")
        return models


@dataclass
class HairModels(FittedModels[HairModel]):
    segmenter_path: Path | None = None


def load_hair(path: Path, device: torch.device | None = None) -> HairModels:
    """The hair models in ``path`` (config.json + model.safetensors + the segmenter's file)."""
    folder = fitted_folder(path)
    models = HairModel.load_all(folder)
    seg = folder / SEGMENTER_FILE
    if not seg.is_file():
        raise ModelError(f"{folder}: not a hair model (no {SEGMENTER_FILE})")
    try:
        out = PersonSegmenter(seg)(np.full((SIZE, SIZE, 3), 128, np.uint8))  # one run: its output's shape and values
    except (cv2.error, ValueError, RuntimeError) as err:  # (RuntimeError: LiteRT, on ops it lacks)
        raise ModelError(f"{seg}: not a segmentation network ({type(err).__name__}: {err})") from None
    if not np.isfinite(out).all():
        raise ModelError(f"{seg}: not a segmentation network (its output is not finite)")
    return HairModels(folder, models, seg)


def recolour(rgb: np.ndarray, mask: np.ndarray, video: np.ndarray, target: np.ndarray, amount: float) -> np.ndarray:
    """``rgb`` (uint8) with its ``mask``ed pixels carried from the video's hair colour ``video``
    ``(9,)`` (:func:`~stitchtime.faces.hair.hair_stats`) to ``target`` ``(6,)``, by ``amount``.
    Only the pixels the mask takes are converted (every step is per pixel); the others are copied."""
    share = (amount * np.asarray(mask, np.float32)).ravel()
    where = np.flatnonzero(share > MIN_MASK)
    out = np.array(rgb, np.uint8)
    if len(where):
        # (the Lab round trip itself moves some colours by a level: the pixels left alone are copied)
        pixels = out.reshape(-1, 3)
        lab, smooth = _lab_and_smooth_lightness(out, where)
        pixels[where] = _recoloured(lab, share.take(where), video, target, smooth)
    return out


def _lab_and_smooth_lightness(rgb: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The CIELAB colour ``(n, 3)`` of ``rgb``'s pixels at the flat indices ``where``, and their
    lightness blurred by :data:`STRETCH_SIGMA` (None when the stretch is applied to every scale).
    Only their bounding box (and the blur's reach round it) is converted, once for both."""
    if STRETCH_SIGMA <= 0:
        return to_lab(rgb.reshape(-1, 3).take(where, 0)[None])[0], None
    w = rgb.shape[1]
    rows, cols = np.divmod(where, w)
    pad = int(np.ceil(3 * STRETCH_SIGMA))
    y0, y1 = max(int(rows[0]) - pad, 0), min(int(rows[-1]) + pad + 1, rgb.shape[0])
    x0, x1 = max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, w)
    at = (rows - y0) * (x1 - x0) + (cols - x0)
    # the whole box at once: converting its pixels beyond the blur's reach costs less than picking
    # out the ones within it (each pixel's colour is its own; the values are the same)
    lab = to_lab(rgb[y0:y1, x0:x1])
    lightness = np.ascontiguousarray(lab[..., 0])
    return lab.reshape(-1, 3).take(at, 0), cv2.GaussianBlur(lightness, (0, 0), STRETCH_SIGMA).ravel().take(at)


def _recoloured(
    lab: np.ndarray, share: np.ndarray, video: np.ndarray, target: np.ndarray, smooth: np.ndarray | None = None
) -> np.ndarray:
    """``(n, 3)`` pixels, CIELAB, recoloured by ``share`` ``(n,)`` (see :func:`recolour`) and back in
    uint8 RGB; ``smooth`` ``(n,)``: their blurred lightness, the part of the strands' light and shade
    that is stretched."""
    skin = video[4:7]
    hair = video[:3] + skin
    k = float(np.clip(target[3] / max(float(video[3]), 1e-3), *SPREAD_RANGE))
    new = np.empty_like(lab)
    # a pixel lighter or darker than most of the hair (a highlight, or skin or background blended
    # into the mask's soft edge) is rolled off within ROLL_OFF of the hair's 10-90% lightness: its
    # detail kept, but not stretched into a pale rim at the hairline
    lightness = _roll_off(lab[:, 0], float(video[7]), float(video[8]))
    if smooth is None:
        new[:, 0] = skin[0] + target[0] + (lightness - hair[0]) * k
    else:
        # the spread is stretched (or squeezed) on the blurred lightness only: the finest detail,
        # where the video's own noise lies, keeps its amplitude (stretched, it flickered: d10 1.13)
        base = _roll_off(smooth, float(video[7]), float(video[8]))
        new[:, 0] = skin[0] + target[0] + (lightness - hair[0]) + (base - hair[0]) * (k - 1.0)
    # the chroma half relative to the skin (the light's colour cancels) and half as CelebA's hair
    # has it (a warm skin would otherwise warm grey hair too)
    chroma = RELATIVE_CHROMA * (skin[1:] + target[1:3]) + (1 - RELATIVE_CHROMA) * target[4:6]
    new[:, 1:] = chroma + (lab[:, 1:] - hair[1:]) * CHROMA_KEEP
    np.clip(new[:, 0], 0.0, 100.0, out=new[:, 0])
    # mixed by the share, in place (each image-sized temporary is fresh memory: slower than the sums)
    new -= lab
    new *= share[:, None]
    new += lab
    back = cv2.cvtColor(new[None], cv2.COLOR_Lab2RGB)[0]
    back *= 255.0
    return np.clip(np.rint(back, out=back), 0, 255, out=back).astype(np.uint8)


def _roll_off(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` as it is within ``[low, high]``; past either end, compressed to within :data:`ROLL_OFF` of it."""
    out = np.array(x, np.float32)
    above, below = np.flatnonzero(out > high), np.flatnonzero(out < low)
    out[above] = high + ROLL_OFF * np.tanh((out[above] - high) / ROLL_OFF)
    out[below] = low - ROLL_OFF * np.tanh((low - out[below]) / ROLL_OFF)
    return out


class HairEditor(CropEditor):
    """Recolours the hair (see the module doc)."""

    reads_crops = False  # the render pass works on the frames
    fit_reads_crops = False  # and the fit on head crops of its own
    # The face's own pixels stay as they are; the identity descriptor may move with the hair around
    # it, and a fainter colour would be a half-dyed head, not a remedy.
    identity_guarded = False
    draws_on_frames = True  # the hair runs past the face crop (to the shoulders)

    @classmethod
    def from_options(
        cls, models: HairModels, attribute: Attribute, strength: float, method: Method, options: EditOptions, progress
    ) -> "HairEditor":
        if attribute.sign * strength < 0 and not (options is not None and options.experimental):
            raise InputError(
                f"{attribute.name} at a negative strength darkens the hair, where the hair mask's misses show "
                "(bangs and the lengths below the chin keep their colour): experimental in this release, "
                "pass --experimental to edit it anyway"
            )
        fast = options is not None and options.fast
        path = models.segmenter_path or SEGMENTER_PATH
        return cls(models.models[attribute.celeba], attribute, strength, path, FAST_MASK_STEP if fast else 1)

    def __init__(
        self,
        model: HairModel,
        attribute: Attribute,
        strength: float = 1.0,
        segmenter: Path = SEGMENTER_PATH,
        mask_step: int = 1,
    ):
        self.model, self.attribute = model, attribute
        self.strength = attribute.sign * strength
        self.mask = region_mask(attribute)
        self.segmenter = PersonSegmenter(segmenter)
        self.mask_step = max(int(mask_step), 1)
        # one segmenter per painting thread, taken and given back for each frame
        self._segmenters: queue.SimpleQueue[PersonSegmenter] = queue.SimpleQueue()
        self._segmenters.put(self.segmenter)
        for _ in range(PAINT_WORKERS - 1):
            self._segmenters.put(PersonSegmenter(segmenter))
        self.colours: HairColours | None = None
        self.video: np.ndarray | None = None  # the video's hair colour (hair_stats)
        self.amount = 0.0
        self.notes: tuple[str, ...] = ()

    def fit(self, source: CropSource, n_frames: int) -> None:
        """The video's skin, hair and clothes colours, on up to :data:`MAX_VIEWS` head crops of its
        whole frames spread evenly over the frames whose face was seen (the aligned face crop holds
        too little of the hair and none of the clothes)."""
        kept: list[tuple[np.ndarray, np.ndarray]] = []  # (head crop image, landmarks) of the picks
        seen, stride = 0, 1
        for batch in source():
            lm = batch.landmarks.numpy().astype(np.float64)
            detected = np.ones(len(lm), bool) if batch.detected is None else batch.detected.numpy()
            frames = batch.frames
            if frames is None:  # (a source without the frames: its crops, with what hair they hold)
                frames = list(batch.crops.permute(0, 2, 3, 1).numpy().clip(0, 255).round().astype(np.uint8))
                points = lm
            else:
                points = transform_points(invert_affine(np.asarray(batch.matrices, np.float64)), lm)
            for i in range(len(lm)):
                if not (detected[i] and np.isfinite(points[i]).all()):
                    continue
                if seen % stride == 0:
                    kept.append(head_crop(frames[i], points[i]))
                    if len(kept) >= 2 * MAX_VIEWS:  # every other one, and half as many from now on
                        kept, stride = kept[::2], stride * 2
                seen += 1
        views = [head_view_of(crop, matrix, points, self.segmenter) for crop, matrix, points in kept]
        name = self.attribute.name
        self.colours = HairColours.fit(views) if views else None
        self.video = None if self.colours is None or not self.colours.has_hair else hair_stats(views, self.colours)
        self.amount, self.notes = 0.0, ()
        if self.video is None:
            self.notes = (f"{name}: no hair was found around the face: nothing recoloured",)
            return
        if self.strength < 0:
            near = np.linalg.norm(self.video[:3] - self.model.target[:3])
            far = np.linalg.norm(self.video[:3] - self.model.without[:3])
            if near >= far:
                colour = self.attribute.name.replace("_", " ")  # (its help also says what strengths do)
                self.notes = (f"{name}: the hair is not {colour} already: nothing to take away",)
                return
        self.amount = float(min(abs(self.strength), 1.0))
        if self.strength < -1:
            self.notes = (f"{name}: strength {self.strength:g} gives the same colour as -1",)

    def target(self) -> np.ndarray:
        """The colour the hair is carried to (``(6,)``, as :class:`HairModel`'s): CelebA's median
        with the attribute, or without it for a negative strength. Past strength 1 the lightness
        goes on past that median, as far again per unit of strength as it moved from the video's
        own (:data:`MAX_LIGHTNESS_STEP` at most per unit): a dim video's grey (L 29 on d3's dark
        hair) reads as ash at 1 and lighter grey at 2."""
        if self.strength < 0:
            return self.model.without
        if self.strength <= 1 or self.video is None:
            return self.model.target
        target = self.model.target.copy()
        step = float(np.clip(target[0] - self.video[0], -MAX_LIGHTNESS_STEP, MAX_LIGHTNESS_STEP))
        target[0] += (self.strength - 1.0) * step
        return target

    def _mask(self, view: HeadView) -> np.ndarray:
        """The hair mask of one head crop, matted against the skin and the background."""
        skin = self.video[4:7]
        return matte(view, self.colours.hair_mask(view), self.video[:3] + skin, skin)

    def _view(self, frame: np.ndarray, landmarks: np.ndarray) -> HeadView:
        """One frame's head crop with the person found in it (on a painting thread)."""
        segmenter = self._segmenters.get()
        try:
            return head_view(frame, landmarks, segmenter)
        finally:
            self._segmenters.put(segmenter)

    def paint(
        self,
        frames: list[np.ndarray],
        batch: CropBatch,
        matrices: np.ndarray,
        scale: float = 1.0,
        weights: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Recolours the hair on the frames themselves; ``weights`` and ``scale`` fade it. With
        ``mask_step`` > 1 (``--fast``) the person segmenter runs on every ``mask_step``-th frame
        to paint (and the last); each frame between takes its neighbours' person, interpolated in
        head-crop pixels, and finds its hair in it by its own colours (see :data:`FAST_MASK_STEP`).
        The masks are steadied over the group's frames (:func:`~stitchtime.faces.hair.steady_masks`)."""
        if self.amount <= 0 or self.colours is None or self.video is None or not len(frames):
            return frames
        target = self.target()
        lm = transform_points(invert_affine(np.asarray(matrices, np.float64)), batch.landmarks.numpy())
        fade = np.ones(len(frames)) if weights is None else np.asarray(weights, np.float64)
        amounts = [self.amount * scale * float(fade[i]) for i in range(len(frames))]
        todo = [i for i in range(len(frames)) if amounts[i] > 0 and np.isfinite(lm[i]).all()]
        if not todo:
            return list(frames)
        keys = sorted({*todo[:: self.mask_step], todo[-1]})
        with cv2_threads(1), ThreadPoolExecutor(min(PAINT_WORKERS, len(todo))) as pool:
            found = dict(zip(keys, pool.map(lambda i: self._view(frames[i], lm[i]), keys)))

            def view_of(i: int) -> HeadView:
                view = found.get(i)
                if view is None:  # between two segmented frames (each head crop: the same place on the head)
                    at = int(np.searchsorted(keys, i))
                    before, after = keys[at - 1], keys[at]
                    w = (i - before) / float(after - before)
                    person = found[before].person * (1.0 - w) + found[after].person * w
                    view = head_view_of(*head_crop(frames[i], lm[i]), None, person)
                return view

            views = dict(zip(todo, pool.map(view_of, todo)))
            raw = dict(zip(todo, pool.map(lambda i: self._mask(views[i]), todo)))
            # steadied with the video's neighbouring frames (a frame without a face is not in the batch)
            number = [int(n) for n in batch.frame_indices.numpy()]
            steady = steady_masks({number[i]: raw[i] for i in todo}, {number[i]: views[i] for i in todo})
            masks = {i: steady[number[i]] for i in todo}

            def painted(i: int) -> np.ndarray:
                mask = frame_mask(views[i].matrix, masks[i], frames[i].shape[:2])
                return recolour(frames[i], mask, self.video, target, amounts[i])

            out = list(frames)
            for i, new in zip(todo, pool.map(painted, todo)):
                out[i] = new
        return out

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """The recolouring on the crops (for tools that paste deltas; the pipeline paints the frames)."""
        out = torch.zeros(batch.crop_shape)
        if self.amount <= 0 or self.colours is None or self.video is None:
            return out
        target = self.target()
        images = batch.crops.permute(0, 2, 3, 1).numpy().clip(0, 255).astype(np.uint8)
        for i, (img, lm) in enumerate(zip(images, batch.landmarks.numpy())):
            if np.isfinite(lm).all():
                view = head_view(img, lm, self.segmenter)
                mask = frame_mask(view.matrix, self._mask(view), img.shape[:2])
                new = recolour(img, mask, self.video, target, self.amount * scale).astype(np.float32)
                out[i] = torch.from_numpy(new - img.astype(np.float32)).permute(2, 0, 1)
        return out

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return (batch.crops + self.delta(batch)).clamp(0, 255)
