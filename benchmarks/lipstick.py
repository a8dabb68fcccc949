"""Lipstick (the default `edit --attr lipstick`, the colour editor) on every shared clip, measured.

    .venv/bin/python benchmarks/lipstick.py [--frames 100] [--strengths 1,-1] [--clips a,b] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr lipstick
--strength S`. Reported per clip, on every 4th frame with a face, with dlib's landmarks fitted on
the *original* frame (so both videos are measured on the same pixels):
- the lips' colour relative to the skin beside them (Lab, :func:`stitchtime.editors.colour.lip_colour`)
  before -> after, as its level along the model's shift (in units of it, so CelebA's women with
  and without lipstick are 1 apart on average; the model's floor, the median without, is 1.59,
  its ceiling, the boldest tenth with it, 5.10), and its change in Lab;
- the colour change of the mouth's interior (inside the inner lip line, 0.02 IOD in, in frames
  whose inner lips are at least 0.06 IOD apart: the teeth a lipstick must not touch) and of a
  ring of skin round the lips (0.03 to 0.1 IOD outside the outer lip line), mean Lab a (redness)
  over the frames where each region is at least 20 px, and its largest on one frame;
- the colour shift of the rest of the face (mean Lab, edited - original, inside the jaw and brows,
  away from the lips by 0.15 inter-ocular distances): what the edit must leave alone;
- the probability of lipstick by the shipped CelebA attribute classifier before -> after (it plays
  no part in the colour editor's fit, which uses CelebA's labels and landmarks only, but it was
  trained on the same images: not independent evidence);
- identity distance, TL-ID, TG-ID, flicker, sharpness ratio, background PSNR (stitchtime.evaluate),
  and the edit's frames per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.edit_quality import (
    ClipRun,
    clip_arguments,
    identity_cells,
    judge_probs,
    quality_cells,
    report_clip_table,
    timed_edit,
)
from generative.training.checkpoint import load_family
from stitchtime.config import DetectConfig
from stitchtime.editors.colour import INNER, OUTER, ColourModel, lip_colour, to_lab
from stitchtime.editors.geometry import mouth_opening
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.faces.detect import make_backend
from stitchtime.faces.shape import face_frame, normalise
from stitchtime.io import read_frames

SECTION = "## Lipstick on the shared clips (issue 15)"
EVERY = 4
AWAY = 0.15  # IOD kept between the lips and the "rest of the face"
OPEN = 0.06  # IOD between the inner lips from which the mouth's interior is measured
HEAD = (
    "| clip | strength | lip level | lip L, a, b change | mouth interior a: mean (max frame) | ring round the lips a "
    "| rest of the face L, a, b | classifier p(lipstick) | identity | TL-ID | TG-ID | flicker | sharpness "
    "| background PSNR | fps |\n"
    "|---|---:|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def rest_of_face(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask: inside the jaw and brows, at least :data:`AWAY` IOD from the outer lip line."""
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks[:27]).astype(np.int32)), 1)
    lips = np.zeros(shape, np.uint8)
    cv2.fillPoly(lips, [np.round(landmarks[OUTER]).astype(np.int32)], 1)
    r = max(int(round(AWAY * float(face_frame(landmarks)[2]))), 1)
    lips = cv2.dilate(lips, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return m.astype(bool) & ~lips.astype(bool)


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def around_lips(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bool masks: the mouth's interior (inside the inner lip line, 0.02 IOD in) and a ring of
    skin 0.03 to 0.1 IOD outside the outer lip line."""
    iod = float(face_frame(landmarks)[2])
    inner = np.zeros(shape, np.uint8)
    cv2.fillPoly(inner, [np.round(landmarks[INNER]).astype(np.int32)], 1)
    inner = cv2.erode(inner, _disc(max(int(round(0.02 * iod)), 1)))
    outer = np.zeros(shape, np.uint8)
    cv2.fillPoly(outer, [np.round(landmarks[OUTER]).astype(np.int32)], 1)
    near = cv2.dilate(outer, _disc(max(int(round(0.03 * iod)), 1)))
    far = cv2.dilate(outer, _disc(max(int(round(0.1 * iod)), 2)))
    return inner.astype(bool), far.astype(bool) & ~near.astype(bool)


def sampled_faces(original: Path, edited: Path):
    """``(original frame, edited frame, landmarks)`` on every :data:`EVERY`-th frame where dlib
    finds a face in the *original* (so both videos are measured on the same pixels)."""
    backend = make_backend(DetectConfig())
    a, b = read_frames(original)[1], read_frames(edited)[1]
    for i in range(0, len(a), EVERY):
        faces = backend.detect(a[i])
        if faces:
            yield a[i], b[i], faces[0].landmarks.astype(np.float64)


def colour_change(original: Path, edited: Path) -> dict[str, np.ndarray]:
    """On every :data:`EVERY`-th frame with a face (landmarks of the original frame): the median
    relative lip colour before and after (``(3,)`` each), the rest of the face's mean Lab shift,
    and the Lab a change of the mouth's interior and of the ring round the lips (one per frame)."""
    got: dict[str, list] = {"before": [], "after": [], "rest": [], "interior": [], "ring": []}
    for fa, fb, lm in sampled_faces(original, edited):
        ca, cb = lip_colour(fa, lm), lip_colour(fb, lm)
        if ca is None or cb is None:
            continue
        got["before"].append(ca)
        got["after"].append(cb)
        la, lb = to_lab(fa), to_lab(fb)
        region = rest_of_face(lm, fa.shape[:2])
        got["rest"].append(lb[region].mean(0) - la[region].mean(0))
        interior, ring = around_lips(lm, fa.shape[:2])
        # (the interior only where the mouth is open: dlib's inner lip lines of a closed mouth
        # often enclose a sliver of lip)
        if interior.sum() >= 20 and mouth_opening(normalise(lm)[None])[0] >= OPEN:
            got["interior"].append(float(lb[interior, 1].mean() - la[interior, 1].mean()))
        if ring.sum() >= 20:
            got["ring"].append(float(lb[ring, 1].mean() - la[ring, 1].mean()))
    nan = np.full(3, np.nan)
    return {
        "before": np.median(got["before"], 0) if got["before"] else nan,
        "after": np.median(got["after"], 0) if got["after"] else nan,
        "rest": np.mean(got["rest"], 0) if got["rest"] else nan,
        "interior": np.array(got["interior"]),
        "ring": np.array(got["ring"]),
    }


def _spread(v: np.ndarray) -> str:
    return "-" if not len(v) else f"{v.mean():+.2f} ({np.abs(v).max():.1f})"


def main() -> None:
    args = clip_arguments(__doc__.splitlines()[0], "1,-1")
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Wearing_Lipstick")
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]

    def measure(run: ClipRun) -> str:
        m, fps = timed_edit(run, make_editor("lipstick", run.strength))
        p0, p1 = judge_probs(run.short, run.out, judge, column)
        c = colour_change(run.short, run.out)
        d, rest = c["after"] - c["before"], c["rest"]
        return (
            f"{float(model.level(c['before'])):.2f} -> {float(model.level(c['after'])):.2f} "
            f"| {d[0]:+.1f}, {d[1]:+.1f}, {d[2]:+.1f} | {_spread(c['interior'])} | {_spread(c['ring'])} "
            f"| {rest[0]:+.2f}, {rest[1]:+.2f}, {rest[2]:+.2f} "
            f"| {p0:.2f} -> {p1:.2f} | {identity_cells(m)} | {quality_cells(m, fps)}"
        )

    report_clip_table(args, HEAD, SECTION, "lipstick.py", "lipstick", measure)


if __name__ == "__main__":
    main()
