"""Lipstick (the default `edit --attr lipstick`, the colour editor) on every shared clip, measured.

    .venv/bin/python benchmarks/lipstick.py [--frames 100] [--strengths 1,-1] [--clips a,b] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr lipstick
--strength S`. Reported per clip, on every 4th frame with a face, with dlib's landmarks fitted on
the *original* frame (so both videos are measured on the same pixels):
- the lips' colour relative to the skin beside them (Lab, :func:`stitchtime.editors.colour.lip_colour`)
  before -> after, as its level along the model's shift (CelebA women: 1.37 the median without
  lipstick, 2.28 the median with it, 4.81 the boldest tenth with it);
- the colour shift of the rest of the face (mean Lab, edited - original, inside the jaw and brows,
  away from the lips by 0.15 inter-ocular distances): what the edit must leave alone;
- the probability of lipstick by the shipped CelebA attribute classifier before -> after (it plays
  no part in the colour editor's fit, which uses CelebA's labels and landmarks only, but it was
  trained on the same images: not independent evidence);
- identity distance, TL-ID, TG-ID, flicker, sharpness ratio, background PSNR (stitchtime.evaluate),
  and the edit's frames per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import VIDEOS, cut, judge_probs
from generative.training.checkpoint import load_family
from pipelines.edit_video import edit_video
from stitchtime.config import DetectConfig, PipelineConfig
from stitchtime.editors.colour import OUTER, ColourModel, lip_colour, to_lab
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.errors import NoFaceError, StitchtimeError
from stitchtime.evaluate import evaluate
from stitchtime.faces.detect import make_backend
from stitchtime.faces.shape import face_frame
from stitchtime.io import read_frames

SECTION = "## Lipstick on the shared clips (issue 15)"
EVERY = 4
AWAY = 0.15  # IOD kept between the lips and the "rest of the face"
HEAD = (
    "| clip | strength | lip level | lip L, a, b change | rest of the face L, a, b | classifier p(lipstick) "
    "| identity | TL-ID | TG-ID | flicker | sharpness | background PSNR | fps |\n"
    "|---|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
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


def colour_change(original: Path, edited: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median relative lip colour before and after ``(3,)`` each, and the rest of the face's mean Lab shift."""
    backend = make_backend(DetectConfig())
    a, b = read_frames(original)[1], read_frames(edited)[1]
    before, after, rest = [], [], []
    for i in range(0, len(a), EVERY):
        faces = backend.detect(a[i])
        if not faces:
            continue
        lm = faces[0].landmarks.astype(np.float64)
        ca, cb = lip_colour(a[i], lm), lip_colour(b[i], lm)
        if ca is None or cb is None:
            continue
        before.append(ca)
        after.append(cb)
        region = rest_of_face(lm, a[i].shape[:2])
        rest.append(to_lab(b[i])[region].mean(0) - to_lab(a[i])[region].mean(0))
    if not before:
        nan = np.full(3, np.nan)
        return nan, nan, nan
    return np.median(before, 0), np.median(after, 0), np.mean(rest, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--strengths", default="1,-1")
    parser.add_argument("--clips", default="", help="comma-separated name parts (default: every shared clip)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Wearing_Lipstick")
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]
    clips = sorted(VIDEOS.glob("*.mp4"))
    if args.clips:
        clips = [c for c in clips if any(k in c.name for k in args.clips.split(","))]
    rows = [HEAD]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            short = cut(clip, Path(tmp) / clip.name, args.frames)
            for s in (float(v) for v in args.strengths.split(",")):
                out = Path(tmp) / f"lipstick_{s:g}_{clip.name}"
                try:
                    t = time.perf_counter()
                    res = edit_video(
                        short, out, make_editor("lipstick", s), PipelineConfig(progress=False), overwrite=True
                    )
                    fps = res.n_frames / (time.perf_counter() - t)
                    m = evaluate(short, out)
                    p0, p1 = judge_probs(short, out, judge, column)
                    c0, c1, rest = colour_change(short, out)
                except NoFaceError as err:
                    print(f"{clip.name}: {err}", flush=True)
                    break
                except StitchtimeError as err:
                    rows.append(f"| {clip.name} | {s:+g} | failed: {err} |||||||||||")
                    print(rows[-1], flush=True)
                    break
                d = c1 - c0
                rows.append(
                    f"| {clip.name} | {s:+g} | {float(model.level(c0)):.2f} -> {float(model.level(c1)):.2f} "
                    f"| {d[0]:+.1f}, {d[1]:+.1f}, {d[2]:+.1f} | {rest[0]:+.2f}, {rest[1]:+.2f}, {rest[2]:+.2f} "
                    f"| {p0:.2f} -> {p1:.2f} | {m.identity_distance:.3f} | {m.tl_id:.4f} | {m.tg_id:.4f} "
                    f"| {m.flicker_ratio:.3f} | {m.sharpness_ratio:.3f} | {m.background_psnr:.1f} | {fps:.1f} |"
                )
                print(rows[-1], flush=True)
                out.unlink(missing_ok=True)
    table = "\n".join(rows)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/lipstick.py {' '.join(sys.argv[1:])}` (first "
            f"{args.frames} frames of each clip; 2 cores; see the script for what each column measures).\n\n"
            + table
            + "\n"
        )
        write_section(SECTION, text)
    print(table)


if __name__ == "__main__":
    main()
