"""Where a person's hair is in a frame: a soft mask, for the hair-colour edit.

Two pieces, both offline:

* **the person**: MediaPipe's selfie-segmentation network (Apache-2.0; the 250 kB TFLite file
  shipped inside the ``mediapipe==0.10.21`` wheel, copied to ``stitchtime/weights/hair``), run by
  LiteRT (or OpenCV's own DNN module where LiteRT is not installed) on a square *head crop*
  (:func:`head_matrix`: :data:`HEAD_SIDE` inter-ocular distances wide, turned with the eyes), so a
  small face gets the network's whole 256 px; it separates the person (face, hair, body) from the
  background;
* **hair against skin and clothes**, inside the person: Gaussian mixtures of CIELAB colour
  (:class:`HairColours`) fitted once per video on seed pixels the landmarks place: the skin of
  the cheeks and the nose, the hair above the head (person pixels more than :data:`ABOVE` above
  the brows), the clothes below the chin (person pixels more than :data:`BELOW` below it, near the
  middle). Each person pixel is hair by the mixtures' posterior, with the inner face (eyes to chin)
  never hair and nothing below the chin's level clothes-free unless it looks like the hair.

One colour model for the whole video keeps the mask steady from frame to frame; only the person's
outline is per frame.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from stitchtime.faces.shape import face_frame

SEGMENTER_FILE = "selfie_segmentation.tflite"
SIZE = 256  # the segmenter's input (and the head crop's side, pixels)
HEAD_SIDE = 7.0  # the head crop's side, inter-ocular distances: hair above the head and to the shoulders
HEAD_DROP = 0.9  # its centre sits this far below the eyes (IOD)
ABOVE = 0.8  # hair seeds: person pixels not like the skin this far above the brows' top (IOD)...
ABOVE_WIDTH = 1.6  # ...within this of the face's middle (IOD, either side)
BELOW = 0.6  # clothes seeds: person pixels not like the skin this far below the chin (IOD)...
BELOW_WIDTH = 0.8  # ...within this of the middle
COMPONENTS = {"hair": 3, "skin": 2, "clothes": 3}
MIN_SEEDS = 200  # fewer seed pixels than this (over the sampled frames): that class is left out
PERSON_MIN = 0.5
FEATHER = 1.0  # blur sigma of the mask in head-crop pixels
INNER_FACE = np.r_[0:17, 26:16:-1]  # jaw then brows backwards: the face's outline


def head_matrix(landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
    """``(2, 3)`` affine: image pixels -> pixels of the head crop of a face at ``landmarks``."""
    lm = np.asarray(landmarks, np.float64)
    centre, axis, iod = face_frame(lm)
    down = np.array([-axis[1], axis[0]])
    middle = centre + down * HEAD_DROP * iod
    s = size / (HEAD_SIDE * iod)
    rot = np.array([[axis[0], axis[1]], [-axis[1], axis[0]]]) * s
    return np.concatenate([rot, (size / 2 - rot @ middle)[:, None]], 1)


def _to(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


class PersonSegmenter:
    """MediaPipe's selfie segmentation: one 256x256 RGB crop -> person probability.

    Run by LiteRT (``ai-edge-litert``: TFLite with its XNNPACK kernels, one thread) where it is
    installed, else by OpenCV's own DNN module; the two give the same probabilities within 1e-4, and
    LiteRT takes 2.3 ms a crop against cv2.dnn's 3.3 ms alone, 3.5 against 7.2 in a hair edit on 2
    cores (2026-12-04; BENCHMARKS.md "Hair colour's segmenter"). ``backend``: "auto", "litert" or
    "opencv"."""

    def __init__(self, path: Path, backend: str = "auto") -> None:
        self.net = self._litert = None
        if backend in ("auto", "litert"):
            self._litert = _litert_interpreter(path, required=backend == "litert")
        if self._litert is None:
            self.net = cv2.dnn.readNetFromTFLite(str(path))
        else:
            inp, out = self._litert.get_input_details()[0], self._litert.get_output_details()[0]
            if list(inp["shape"]) != [1, SIZE, SIZE, 3] or int(np.prod(out["shape"])) != SIZE * SIZE:
                raise ValueError(f"takes {list(inp['shape'])} and gives {list(out['shape'])}, not a {SIZE}x{SIZE} mask")
            self._in, self._out = inp["index"], out["index"]

    @property
    def backend(self) -> str:
        return "opencv" if self._litert is None else "litert"

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        """``crop`` ``(SIZE, SIZE, 3)`` uint8 RGB -> ``(SIZE, SIZE)`` float32 in [0, 1]."""
        x = crop.astype(np.float32)[None]
        x /= 255.0  # (in place, as in to_lab)
        if self._litert is not None:
            self._litert.set_tensor(self._in, x)
            self._litert.invoke()
            return self._litert.get_tensor(self._out).reshape(SIZE, SIZE).astype(np.float32)
        self.net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return self.net.forward().reshape(SIZE, SIZE).astype(np.float32)


_LITERT_QUIET = threading.Lock()
_litert_said = False


def _litert_interpreter(path: Path, required: bool = False):
    """A LiteRT interpreter of ``path`` with its tensors allocated, or None where ``ai-edge-litert``
    is not installed (``required``: raise ImportError instead). LiteRT's C++ side writes a line
    ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") straight to the process's stderr the
    first time a process creates its XNNPACK kernels, with no setting to stop it: that first time,
    stderr's file descriptor points at /dev/null meanwhile (a few milliseconds, before any frame),
    so a command's stderr holds only what stitchtime says."""
    global _litert_said
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        if required:
            raise
        return None
    it = Interpreter(model_path=str(path), num_threads=1)
    with _LITERT_QUIET, _stderr_muted(not _litert_said):
        it.allocate_tensors()
        _litert_said = True
    return it


@contextmanager
def _stderr_muted(mute: bool = True):
    """File descriptor 2 points at /dev/null within (where there is one to point elsewhere)."""
    saved = None
    if mute:
        if sys.stderr is not None:
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # (no stderr to keep quiet)
            saved = None
    try:
        if saved is not None:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or [0, 255] float RGB ``(..., 3)`` -> float32 CIELAB (L in [0, 100]). The scaling is done
    in place on the one float copy: a second temporary as large as the image cost more than the
    conversion itself here (0.7 against 0.04 ms on 60k pixels: each fresh array is new pages)."""
    scaled = np.array(rgb, np.float32)
    scaled /= 255.0
    return cv2.cvtColor(scaled, cv2.COLOR_RGB2Lab)


@dataclass
class HeadView:
    """One frame's head crop: its matrix, pixels (uint8 RGB), person probability and landmarks."""

    matrix: np.ndarray
    crop: np.ndarray
    person: np.ndarray
    landmarks: np.ndarray  # (68, 2) head-crop pixels
    _lab: np.ndarray | None = field(default=None, repr=False)

    @property
    def iod(self) -> float:
        return SIZE / HEAD_SIDE

    @property
    def lab(self) -> np.ndarray:
        """The crop in CIELAB (computed once: the mask, the matte and the fit all read it)."""
        if self._lab is None:
            self._lab = to_lab(self.crop)
        return self._lab


def head_crop(frame: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The head crop of a frame (uint8 RGB), its matrix and the landmarks in it. The frame is
    blurred first by as much as the crop shrinks it (a warp samples; it does not average), and
    what lies outside the frame is marked by a last channel of 0 (the crop's 4th channel)."""
    m = head_matrix(landmarks)
    shrink = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    src = frame
    if shrink < 0.8:
        src = cv2.GaussianBlur(frame, (0, 0), 0.5 / shrink - 0.5 if shrink < 0.5 else 0.5)
    crop = cv2.warpAffine(src, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(frame.shape[:2], 255, np.uint8), m, (SIZE, SIZE), flags=cv2.INTER_NEAREST)
    return np.dstack([crop, inside]), m, _to(m, landmarks)


def head_view_of(
    crop: np.ndarray,
    matrix: np.ndarray,
    landmarks: np.ndarray,
    segmenter: PersonSegmenter | None,
    person: np.ndarray | None = None,
) -> HeadView:
    """:class:`HeadView` of a :func:`head_crop`: the segmenter run on it, or the ``person``
    probability given (``(SIZE, SIZE)``, e.g. a neighbouring frame's)."""
    rgb = np.ascontiguousarray(crop[..., :3])
    return HeadView(matrix, rgb, (segmenter(rgb) if person is None else person) * (crop[..., 3] > 0), landmarks)


def head_view(frame: np.ndarray, landmarks: np.ndarray, segmenter: PersonSegmenter) -> HeadView:
    """The head crop of a frame with the person found in it."""
    return head_view_of(*head_crop(frame, landmarks), segmenter)


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


def _middle(landmarks: np.ndarray) -> float:
    """The face's middle column (head-crop pixels): the nose bridge's."""
    return float(landmarks[27:31, 0].mean())


def _regions(view: HeadView, seeds: bool = True) -> dict[str, np.ndarray]:
    """Seed masks (bool, head crop) of the three classes, and the inner face (``seeds=False``:
    only what every frame's mask needs, the face and the fade below the chin)."""
    lm, iod = view.landmarks, view.iod
    yy, xx = _YY, _XX
    middle = _middle(lm)
    brow_top = lm[17:27, 1].min()
    chin = lm[8, 1]
    person = view.person > PERSON_MIN
    face = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(face, [np.round(lm[INNER_FACE]).astype(np.int32)], 1)
    brows = np.zeros((SIZE, SIZE), np.uint8)
    for side in (lm[17:22], lm[22:27]):
        cv2.polylines(brows, [np.round(side).astype(np.int32)], False, 1, max(int(BROW_WIDTH * iod), 1))
    # no further out than the brows' own ends: dlib puts a brow's tail at the temple, where the line's
    # round cap reached over long hair beside the face (a dark notch left in grey hair)
    brows[:, : int(np.ceil(lm[17, 0]))] = 0
    brows[:, int(np.floor(lm[26, 0])) + 1 :] = 0
    below = np.clip((yy - chin) / (CHIN_SOFT * iod), 0.0, 1.0)
    # never hair: the face inside its outline, less a margin where hair can fall over the cheeks
    never = (cv2.erode(face, _disc(int(FACE_MARGIN * iod))) > 0) | (brows > 0)
    if not seeds:
        return {"below_chin": below, "face": never}
    skin = np.zeros((SIZE, SIZE), np.uint8)
    # the nose and the upper cheeks under the eyes: above where a beard grows
    for tri in ((27, 31, 35), (39, 31, 1), (42, 35, 15)):
        cv2.fillPoly(skin, [np.round(lm[list(tri)]).astype(np.int32)], 1)
    grown = cv2.dilate(face, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(0.6 * iod) | 1,) * 2))
    eyes = lm[36:48, 1].mean()
    return {
        # beside the face from the eyes to the lower lip (shoulders can rise above the chin)
        "beside": person & ~grown.astype(bool) & (yy > eyes) & (yy < lm[57, 1]),
        "below_chin": below,
        "hair": person & (yy < brow_top - ABOVE * iod) & (np.abs(xx - middle) < ABOVE_WIDTH * iod),
        "skin": skin.astype(bool) & person,
        # the forehead just above the brows (skin on most faces; the fit keeps the part that is
        # as likely under the cheeks' colours as they are, which leaves bangs out)
        "forehead": person
        & (yy < brow_top - FOREHEAD[0] * iod)
        & (yy > brow_top - FOREHEAD[1] * iod)
        & (xx > lm[19, 0])
        & (xx < lm[24, 0]),
        "clothes": person & (yy > chin + BELOW * iod) & (np.abs(xx - middle) < BELOW_WIDTH * iod),
        "face": never,
    }


TABLE_BINS = 64  # nodes a side of the Lab cube the colour terms are tabled on
TABLE_RANGE = ((0.0, 100.0), (-80.0, 80.0), (-80.0, 100.0))  # L, a, b
FACE_MARGIN = 0.15  # IOD inside the jaw's outline where hair may still be (over the cheeks)
FOREHEAD = (0.1, 0.35)  # the forehead's skin seeds: this far above the brows' top (IOD)
HAIR_MARGIN = 2.0  # a pixel is hair when its log-likelihood as hair beats that as skin by this much
HAIR_QUANTILE = 0.02  # as for the skin: a pixel less likely than 2% of the hair seeds is not hair
SKIN_QUANTILE = 0.02  # a pixel as likely under the skin's mixture as the least likely 2% of the skin seeds is skin
SKIN_SOFT = 2.0  # log-likelihood units over which skin fades into not-skin
CHIN_SOFT = 0.4  # IOD over which the clothes fade in below the chin
# Hair below the lower lip hangs from the hair beside it: a pixel less sure than HANG_LEVEL stops
# the run (between it and 1 the run fades in); runs narrower than HANG_WIDTH (IOD) are not hair
HANG_LEVEL, HANG_WIDTH = 0.3, 0.3
# Long hair: a side of the face whose hair, at the lower lip's level, runs at least LONG_HAIR (IOD,
# a ramp: none at its first value, all at its second) out from the face (grown by LONG_GROW, so a
# beard's edge or a sideburn does not count; the median over the fit's frames, so the choice is the
# video's, not each frame's) hangs more freely below the lip: gaps up to LONG_GAP (IOD, an earring,
# a dark strand) do not stop its run, and the run is full from LONG_FULL on instead of 1
LONG_HAIR, LONG_GROW, LONG_GAP, LONG_FULL = (0.2, 0.4), 0.3, 0.5, 0.5
BROW_WIDTH = 0.2  # IOD: the brows (never hair) as lines this thick through their landmarks


@dataclass
class HairColours:
    """One video's colour mixtures: the skin's (and the level of log-likelihood that still is
    skin), the hair's (the person's pixels above the chin that are not skin) and the clothes'
    (None: too few seed pixels)."""

    skin: GaussianMixture | None
    skin_level: float
    hair: GaussianMixture | None
    clothes: GaussianMixture | None
    hair_level: float = 0.0
    # the hair beside the face only (eyes to lower lip): what long hair below the chin is compared
    # with (the roots on top can be as dark as a jacket)
    side: GaussianMixture | None = None
    # how much each side of the face (the image's left, right) has long hair, 0-1 (LONG_HAIR)
    long_hair: tuple[float, float] = (0.0, 0.0)
    _table: tuple[np.ndarray, np.ndarray | None] | None = None  # colour_terms on the Lab cube, as remap images
    tabled: bool = True  # False: the mixtures themselves on every pixel (one image: no table to pay for)

    @staticmethod
    def _mixture(chunks: list[np.ndarray], k: int, rng: np.random.Generator) -> GaussianMixture | None:
        x = np.concatenate(chunks) if chunks else np.zeros((0, 3), np.float32)
        if len(x) < MIN_SEEDS:
            return None
        if len(x) > 20000:
            x = x[rng.choice(len(x), 20000, replace=False)]
        with warnings.catch_warnings():  # (a flat region, e.g. a black border, has fewer colours than components)
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixture(k, covariance_type="full", reg_covar=1.0, random_state=0).fit(x)

    @classmethod
    def fit(cls, views: list[HeadView], seed: int = 0) -> "HairColours":
        rng = np.random.default_rng(seed)
        labs = [v.lab for v in views]
        regions = [_regions(v) for v in views]
        skin = cls._mixture([lab[r["skin"]] for lab, r in zip(labs, regions)], COMPONENTS["skin"], rng)
        level = 0.0
        if skin is not None:
            seeds = np.concatenate([lab[r["skin"]] for lab, r in zip(labs, regions)])
            level = float(np.quantile(skin.score_samples(seeds), SKIN_QUANTILE))
            # refitted with the forehead's skin (lit or shaded otherwise than the cheeks)
            brow = [lab[r["forehead"]] for lab, r in zip(labs, regions)]
            brow = [b[skin.score_samples(b) > level] if len(b) else b for b in brow]
            both = [np.concatenate([lab[r["skin"]], b]) for lab, r, b in zip(labs, regions, brow)]
            skin = cls._mixture(both, COMPONENTS["skin"], rng)
            level = float(np.quantile(skin.score_samples(np.concatenate(both)), SKIN_QUANTILE))
        self = cls(skin, level, None, None)
        # not like the skin, on the pixels of the hair's and the clothes' seed regions (only there:
        # the mixture's likelihood of a whole crop, three times a crop, was most of the fit's time)
        unlike = []
        for lab, r in zip(labs, regions):
            seeds = r["hair"] | r["beside"] | r["clothes"]
            mask = np.zeros(seeds.shape, bool)
            if seeds.any():
                mask[seeds] = self.not_skin(lab[seeds]) > 0.5
            unlike.append(mask)
        hair_px = [lab[(r["hair"] | r["beside"]) & u] for lab, r, u in zip(labs, regions, unlike)]
        self.hair = cls._mixture(hair_px, COMPONENTS["hair"], rng)
        side_px = [lab[r["beside"] & u] for lab, r, u in zip(labs, regions, unlike)]
        self.side = cls._mixture(side_px, COMPONENTS["hair"], rng)
        if self.hair is not None:
            self.hair_level = float(np.quantile(self.hair.score_samples(np.concatenate(hair_px)), HAIR_QUANTILE))
        clothes_px = [lab[r["clothes"] & u] for lab, r, u in zip(labs, regions, unlike)]
        self.clothes = cls._mixture(clothes_px, COMPONENTS["clothes"], rng)
        if self.hair is not None:
            widths = np.median([_beside_at_lip(self._raw_hair(v), v.landmarks, v.iod) for v in views], axis=0)
            lo, hi = LONG_HAIR
            self.long_hair = tuple(float(np.clip((w - lo) / (hi - lo), 0.0, 1.0)) for w in widths)
        return self

    def not_skin(self, lab: np.ndarray) -> np.ndarray:
        if self.skin is None:
            return np.ones(lab.shape[:-1], np.float32)
        ll = self.skin.score_samples(lab.reshape(-1, 3)).reshape(lab.shape[:-1])
        return (1.0 / (1.0 + np.exp((ll - self.skin_level) / SKIN_SOFT))).astype(np.float32)

    @property
    def has_hair(self) -> bool:
        return self.hair is not None

    def colour_terms(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """What the mask takes from each pixel's colour alone, for Lab pixels ``(..., 3)``: how
        much it is hair (like this video's hair, and more than like its skin), and below the chin
        how much it is hair rather than clothes (None: no clothes seen)."""
        flat = lab.reshape(-1, 3)
        hair_ll = self.hair.score_samples(flat)
        hair = _sigmoid((hair_ll - self.hair_level) / SKIN_SOFT)  # looks like this video's hair
        if self.skin is not None:
            hair = hair * _sigmoid(hair_ll - self.skin.score_samples(flat) - HAIR_MARGIN)  # more than like its skin
        if self.clothes is None:
            return hair.reshape(lab.shape[:-1]), None
        below_ll = hair_ll if self.side is None else self.side.score_samples(flat)
        return hair.reshape(lab.shape[:-1]), _sigmoid(below_ll - self.clothes.score_samples(flat)).reshape(
            lab.shape[:-1]
        )

    def _lookup(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`colour_terms` read off a table of the Lab cube (:data:`TABLE_BINS` a side, built
        once per video, trilinear between its nodes): the mixtures' 4 x 65k evaluations per frame
        took 0.1 s. Each term's cube is laid out as one image, a row per (L, a) node and a column
        per b node, so OpenCV's bilinear ``remap`` reads (a, b) in the two L planes around a
        pixel's lightness, and those are blended: scipy's ``map_coordinates`` gave the same within
        1e-4, 5x slower. (One channel per remap: on several, OpenCV rounds the weights to 1/32.)"""
        n = TABLE_BINS
        if self._table is None:
            axes = [np.linspace(lo, hi, n, dtype=np.float32) for lo, hi in TABLE_RANGE]
            terms = self.colour_terms(np.stack(np.meshgrid(*axes, indexing="ij"), -1))
            flat = [None if t is None else np.ascontiguousarray(t.reshape(n * n, n), np.float32) for t in terms]
            self._table = (flat[0], flat[1])
        node = [
            np.clip((lab[..., k] - lo) * ((n - 1) / (hi - lo)), 0, n - 1).astype(np.float32)
            for k, (lo, hi) in enumerate(TABLE_RANGE)
        ]
        below = np.minimum(np.floor(node[0]), n - 2)
        rows = [below * n + node[1], (below + 1) * n + node[1]]
        t = node[0] - below

        def read(table: np.ndarray) -> np.ndarray:
            low, high = (cv2.remap(table, node[2], r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for r in rows)
            return low + (high - low) * t

        hair, clothes = self._table
        return read(hair), None if clothes is None else read(clothes)

    def _raw_hair(self, view: HeadView) -> np.ndarray:
        """How much each pixel of a head crop is hair by the person and its colour alone (never on
        the inner face; below the chin, less what looks like the clothes)."""
        r = _regions(view, seeds=False)
        lab = view.lab
        colour, not_clothes = self._lookup(lab) if self.tabled else self.colour_terms(lab)
        hair = view.person * colour
        if not_clothes is not None:
            hair = hair * (1.0 - r["below_chin"] + r["below_chin"] * not_clothes)
        hair[r["face"]] = 0.0
        return hair

    def hair_mask(self, view: HeadView) -> np.ndarray:
        """``(SIZE, SIZE)`` float32 soft hair mask of one head crop."""
        if not self.has_hair:
            return np.zeros((SIZE, SIZE), np.float32)
        raw = self._raw_hair(view)
        lm, iod = view.landmarks, view.iod
        hair = _hanging(raw, lm[57, 1], iod)
        if max(self.long_hair) > 0:
            free = _hanging(raw, lm[57, 1], iod, gap=LONG_GAP, full=LONG_FULL)
            middle = int(round(_middle(lm)))
            for side, weight in zip((slice(0, middle), slice(middle, SIZE)), self.long_hair):
                hair[:, side] += weight * (free[:, side] - hair[:, side])
        return cv2.GaussianBlur(hair.astype(np.float32), (0, 0), FEATHER)


def _hanging(hair: np.ndarray, lip: float, iod: float, gap: float = 0.0, full: float = 1.0) -> np.ndarray:
    """Below the lower lip, only the hair that hangs down from the hair beside the face: going down
    each column from the lower lip's level, a pixel keeps no more than the least hair seen on the
    way (so short hair has none there, and a jacket under long hair's ends, or a shadow behind a
    short-haired man's ear, is not taken for more hair). Narrow runs (under :data:`HANG_WIDTH`)
    are not locks of hair. ``gap`` (IOD): gaps up to this long do not stop a run (a vertical
    closing); ``full``: how sure a pixel must be for the run to go on at full strength."""
    row = int(np.clip(round(lip), 0, SIZE - 1))
    wide = max(int(HANG_WIDTH * iod), 1)
    below = cv2.morphologyEx(hair[row:], cv2.MORPH_OPEN, np.ones((1, wide), np.uint8))
    if int(gap * iod) > 1:
        below = cv2.morphologyEx(below, cv2.MORPH_CLOSE, np.ones((int(gap * iod), 1), np.uint8))
    run = np.minimum.accumulate(np.clip((below - HANG_LEVEL) / (full - HANG_LEVEL), 0.0, 1.0), axis=0)
    out = hair.copy()
    out[row:] = np.minimum(out[row:], cv2.GaussianBlur(run, (0, 0), 1.0))
    return out


def _beside_at_lip(hair: np.ndarray, landmarks: np.ndarray, iod: float) -> tuple[float, float]:
    """The widest run (IOD) of hair ``> 0.5`` beside the face (grown by :data:`LONG_GROW`) at the
    lower lip's level (the rows up to 0.15 IOD above it, most of them hair), on the image's left of
    the face's middle and on its right."""
    face = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[INNER_FACE]).astype(np.int32)], 1)
    grown = cv2.dilate(face, _disc(max(int(LONG_GROW * iod), 1))) > 0
    lip = int(np.clip(round(landmarks[57, 1]), 0, SIZE - 1))
    band = slice(max(lip - int(0.15 * iod), 0), lip + 1)
    column = ((hair[band] > 0.5) & ~grown[band]).mean(0) > 0.5
    middle = int(round(_middle(landmarks)))
    widths = []
    for part in (column[:middle], column[middle:]):
        edges = np.diff(np.r_[0, part.astype(np.int8), 0])
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        widths.append(float((ends - starts).max()) / iod if len(starts) else 0.0)
    return widths[0], widths[1]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))).astype(np.float32)


def frame_mask(matrix: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A head-crop mask carried back to the frame's pixels ``(h, w)`` (0 outside the head crop);
    ``matrix``: the head crop's (:func:`head_matrix`, a :class:`HeadView`'s ``matrix``)."""
    return cv2.warpAffine(
        mask, matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0
    )


# Each frame's hair mask is averaged with its neighbours' (the frames before and after, each
# STEADY_WEIGHT; the head crops move with the face, so a head-crop pixel is the same place on the
# head), but at each pixel only as far as the head crop's colour there stayed the same: a neighbour
# whose pixel differs by STEADY_COLOUR (CIELAB distance) counts e^-1 as much, by twice that e^-4.
# What the segmenter and the colour terms jitter from frame to frame, where the picture holds
# still, is averaged away; where the hair or the head moves, each frame keeps its own mask (a mask
# averaged there would lag behind the hair: averaged without this, d0's turning head flickered
# more, 1.043 -> 1.062). BENCHMARKS.md "Hair colour on the shared clips".
STEADY_WEIGHT = 0.25
STEADY_COLOUR = 4.0


def steady_masks(masks: dict[int, np.ndarray], views: dict[int, HeadView]) -> dict[int, np.ndarray]:
    """Head-crop hair ``masks`` of frames (keyed by frame number, with their ``views``) averaged
    over each frame and the ones next to it that are there, pixel by pixel as far as the head
    crop's colour stayed the same (see :data:`STEADY_WEIGHT`)."""
    out = {}
    for i, mask in masks.items():
        total = np.full(mask.shape, 1.0 - 2 * STEADY_WEIGHT, np.float32)
        acc = mask * total
        for j in (i - 1, i + 1):
            if j in masks:
                d = views[i].lab - views[j].lab
                w = STEADY_WEIGHT * np.exp(-_dot(d, d) / (STEADY_COLOUR * STEADY_COLOUR))
                acc += w * masks[j]
                total += w
        out[i] = (acc / total).astype(np.float32)
    return out


MEASURE_LEVEL = 0.5  # hair pixels this sure are measured
MIN_HAIR = 150  # fewer measured hair pixels (head crop) than this: no hair to measure


def hair_stats(views: list[HeadView], colours: HairColours) -> np.ndarray | None:
    """``(9,)`` the hair's colour relative to the skin over ``views``: Lab median of the hair minus
    that of the skin seeds (3), the hair's lightness spread (half its 10-90% range, 1), the skin's
    Lab median (3) and the hair's 10% and 90% lightness (2); None when too little hair is seen."""
    hair, skin = [], []
    for v in views:
        lab = v.lab
        m = colours.hair_mask(v)
        hair.append(lab[m > MEASURE_LEVEL])
        skin.append(lab[_regions(v)["skin"]])
    hair_px, skin_px = np.concatenate(hair), np.concatenate(skin)
    if len(hair_px) < MIN_HAIR * len(views) ** 0.5 or len(skin_px) < MIN_SEEDS // 4:
        return None
    h, s = np.median(hair_px, 0), np.median(skin_px, 0)
    low, high = np.quantile(hair_px[:, 0], [0.1, 0.9])
    return np.concatenate([h - s, [(high - low) / 2], s, [low, high]]).astype(np.float32)


MATTE_FULL = 1.0  # a pixel this far from the skin's (or the background's) colour to the hair's is all hair
BACKGROUND_BLUR = 15  # head-crop pixels: the box over which the background's local colour is estimated


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of ``(..., 3)`` arrays (numpy's ``sum(-1)`` over 3 channels is 5x slower)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def matte(view: HeadView, mask: np.ndarray, hair: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``mask`` with each pixel's share of hair: on the mask's soft edges a pixel is part hair,
    part skin or background. Projected on the line from the skin's Lab colour (``skin`` ``(3,)``)
    and from the background's local colour to the hair's (``hair`` ``(3,)``), a pixel
    :data:`MATTE_FULL` of the way or more is all hair; less, that share of it, so the recolouring
    does not light a rim at the hairline or a halo round the head. (Only the pixels the mask
    takes are projected: the others stay 0.)"""
    where = np.flatnonzero(mask > 0)
    out = np.zeros(mask.shape, np.float32)
    if not len(where):
        return out
    lab = view.lab.reshape(-1, 3).take(where, 0)
    away = np.clip(1.0 - view.person, 0.0, 1.0)
    box = (BACKGROUND_BLUR, BACKGROUND_BLUR)
    weight = cv2.blur(away, box).ravel().take(where)
    background = (cv2.blur(view.lab * away[..., None], box).reshape(-1, 3).take(where, 0)) / np.maximum(weight, 1e-3)[
        :, None
    ]
    share = np.ones(len(where), np.float32)
    for base, known in ((np.broadcast_to(np.asarray(skin, np.float32), lab.shape), None), (background, weight > 0.05)):
        line = np.asarray(hair, np.float32) - base
        length = np.maximum(_dot(line, line), 1.0)
        t = _dot(lab - base, line) / length
        part = np.clip(t / MATTE_FULL, 0.0, 1.0)
        share = np.minimum(share, part if known is None else np.where(known, part, 1.0))
    out.ravel()[where] = mask.ravel().take(where) * share
    return out
