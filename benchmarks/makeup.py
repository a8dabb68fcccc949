"""Makeup (`edit --attr makeup`, the colour editor: eyeliner and lipstick) on every shared clip, measured.

    .venv/bin/python benchmarks/makeup.py [--frames 100] [--strengths 1] [--clips a,b] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr makeup
--strength S` (a negative strength with `--experimental`). Reported per clip, on every 4th frame
with a face, with dlib's landmarks fitted on the *original* frame (so both videos are measured on
the same pixels):
- each part's colour relative to the skin beside the mouth (Lab,
  :func:`stitchtime.editors.colour.region_colours`) before -> after, as its level along the
  model's shift for that part (in units of it: CelebA's women with and without heavy makeup are 1
  apart on average), for the lash lines (the liner's band above the upper lids) and the lips, and
  their change in Lab;
- the colour change of the eyes themselves (inside dlib's eye outline, 0.02 IOD in: the whites and
  the iris the liner must not touch), mean |Lab| over the frames;
- the colour shift of the rest of the face (mean Lab, edited - original, inside the jaw and brows,
  away from the lips by 0.15 IOD and off the liner's mask): what the edit must leave alone;
- the probability of heavy makeup by the shipped CelebA attribute classifier before -> after (no
  part in the colour editor's fit, which uses CelebA's labels and landmarks only, but trained on
  the same images: not independent evidence);
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
from benchmarks.lipstick import rest_of_face, sampled_faces
from generative.training.checkpoint import load_family
from stitchtime.config import EditOptions
from stitchtime.editors.colour import EYES, REGIONS, ColourModel, liner_mask, region_colours, to_lab
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame

SECTION = "## Makeup on the shared clips (issue 15)"
HEAD = (
    "| clip | strength | lash line level | lash line L, a, b change | lip level | lip L, a, b change "
    "| eyes' own colour | rest of the face L, a, b | classifier p(makeup) | identity | TL-ID | TG-ID | flicker "
    "| sharpness | background PSNR | fps |\n"
    "|---|---:|---|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def eye_openings(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask: inside both eyes' outlines, shrunk by 0.02 IOD (the whites and the iris)."""
    iod = float(face_frame(landmarks)[2])
    r = max(int(round(0.02 * iod)), 1)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return np.logical_or.reduce([cv2.erode(interior_mask(landmarks[e], shape), k) > 0 for e in EYES])


def makeup_change(original: Path, edited: Path) -> dict[str, np.ndarray]:
    """On the frames :func:`benchmarks.lipstick.sampled_faces` gives (every 4th with a face): each part's
    median relative colour before and after, the eyes' mean |Lab| change and the rest of the face's
    mean Lab shift."""
    got: dict[str, list] = {"eyes": [], "rest": [], **{f"{r} {w}": [] for r in REGIONS for w in ("before", "after")}}
    for fa, fb, lm in sampled_faces(original, edited):
        ca, cb = region_colours(fa, lm), region_colours(fb, lm)
        for r in REGIONS:
            if ca[r] is not None and cb[r] is not None:
                got[f"{r} before"].append(ca[r])
                got[f"{r} after"].append(cb[r])
        la, lb = to_lab(fa), to_lab(fb)
        shape = fa.shape[:2]
        eyes = eye_openings(lm, shape)
        if eyes.sum() >= 20:
            got["eyes"].append(float(np.abs(lb[eyes] - la[eyes]).mean()))
        rest = rest_of_face(lm, shape) & (liner_mask(lm, shape) < 0.01) & ~eyes
        if rest.sum() >= 20:
            got["rest"].append(lb[rest].mean(0) - la[rest].mean(0))
    nan = np.full(3, np.nan)
    out = {k: (np.median(v, 0) if v else nan) for k, v in got.items() if k not in ("eyes", "rest")}
    out["rest"] = np.mean(got["rest"], 0) if got["rest"] else nan
    out["eyes"] = np.array(got["eyes"])
    return out


def main() -> None:
    args = clip_arguments(__doc__.splitlines()[0], "1")
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Heavy_Makeup")
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Heavy_Makeup"]

    def level(c: dict, r: str) -> str:
        return f"{float(model[r].level(c[f'{r} before'])):.2f} -> {float(model[r].level(c[f'{r} after'])):.2f}"

    def lab(c: dict, r: str) -> str:
        d = c[f"{r} after"] - c[f"{r} before"]
        return f"{d[0]:+.1f}, {d[1]:+.1f}, {d[2]:+.1f}"

    def measure(run: ClipRun) -> str:
        options = EditOptions(experimental=run.strength < 0)  # (negative makeup is experimental)
        m, fps = timed_edit(run, make_editor("makeup", run.strength, options=options))
        p0, p1 = judge_probs(run.short, run.out, judge, column)
        c = makeup_change(run.short, run.out)
        rest, eyes = c["rest"], c["eyes"]
        return (
            f"{level(c, 'liner')} | {lab(c, 'liner')} | {level(c, 'lips')} | {lab(c, 'lips')} "
            f"| {eyes.mean() if len(eyes) else float('nan'):.2f} | {rest[0]:+.2f}, {rest[1]:+.2f}, {rest[2]:+.2f} "
            f"| {p0:.2f} -> {p1:.2f} | {identity_cells(m)} | {quality_cells(m, fps)}"
        )

    report_clip_table(args, HEAD, SECTION, "makeup.py", "makeup", measure)


if __name__ == "__main__":
    main()
