"""Hair colour (`edit --attr gray_hair` / `blond_hair`, the hair editor) on every shared clip, measured.

    .venv/bin/python benchmarks/hair_colour.py [--attrs gray_hair,blond_hair] [--frames 100] [--strengths 1]
        [--clips a,b] [--fast] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr A
--strength S --experimental`. Reported per clip and attribute:
- the recoloured region: the pixels whose colour the edit changes by more than :data:`CHANGED`
  (mean |Lab| over every 4th frame), as a share of the frame, and its mean Lab before -> after;
- its flicker: the mean frame-to-frame change there, edited / original (1: as steady as the video);
- the inner face's colour shift (mean Lab, edited - original, inside the jaw and brows, 0.15 IOD
  in): what the edit must leave alone;
- the probability of the attribute by the shipped CelebA attribute classifier before -> after (it
  plays no part in the hair editor's fit, which uses CelebA's labels and images only, but it was
  trained on the same images: not independent evidence);
- identity distance, TL-ID, TG-ID, flicker, sharpness ratio, background PSNR (stitchtime.evaluate:
  the hair lies in its "background", outside the face region), and the edit's frames per second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_clip_table
from benchmarks.edit_quality import clip_table, identity_cells, judge_probs, quality_cells, shared_clips, timed_edit
from generative.training.checkpoint import load_family
from stitchtime.config import DetectConfig, EditOptions
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.colour import to_lab
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.faces.detect import make_backend
from stitchtime.faces.shape import face_frame
from stitchtime.io import read_frames

SECTION = "## Hair colour on the shared clips (issue 15)"
FAST_SECTION = "## Hair colour with --fast on the shared clips (issue 15)"
EVERY = 4
CHANGED = 3.0  # mean |Lab change| above which a pixel counts as recoloured
INSET = 0.15  # IOD in from the jaw and brows: the inner face
HEAD = (
    "| clip | attribute, strength | recoloured share of the frame | its L, a, b before -> after | its flicker "
    "| inner face L, a, b shift | classifier p | identity | TL-ID | TG-ID | flicker | sharpness "
    "| background PSNR | fps |\n"
    "|---|---|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def inner_face(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks[:27]).astype(np.int32)), 1)
    r = max(int(round(INSET * float(face_frame(landmarks)[2]))), 1)
    return cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))).astype(bool)


def hair_change(original: Path, edited: Path) -> dict[str, object]:
    a, b = read_frames(original)[1], read_frames(edited)[1]
    picks = list(range(0, len(a), EVERY))
    la = np.stack([to_lab(a[i]) for i in picks])
    lb = np.stack([to_lab(b[i]) for i in picks])
    region = np.abs(lb - la).sum(-1).mean(0) > CHANGED
    backend = make_backend(DetectConfig())
    shift = []
    for k, i in enumerate(picks):
        faces = backend.detect(a[i])
        if faces:
            inside = inner_face(faces[0].landmarks.astype(np.float64), a[i].shape[:2])
            shift.append(lb[k][inside].mean(0) - la[k][inside].mean(0))

    def steadiness(frames: list[np.ndarray]) -> float:
        d = [np.abs(frames[t].astype(np.float32) - frames[t - 1])[region].mean() for t in range(1, len(frames))]
        return float(np.mean(d)) if d else 0.0

    flicker = steadiness(b) / max(steadiness(a), 1e-6) if region.any() else float("nan")
    before = la[:, region].reshape(-1, 3).mean(0) if region.any() else np.full(3, np.nan)
    after = lb[:, region].reshape(-1, 3).mean(0) if region.any() else np.full(3, np.nan)
    return {
        "share": float(region.mean()),
        "before": before,
        "after": after,
        "flicker": flicker,
        "face": np.mean(shift, 0) if shift else np.full(3, np.nan),
    }


def _lab(v: np.ndarray) -> str:
    return ", ".join(f"{x:+.1f}" if i else f"{x:.1f}" for i, x in enumerate(v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attrs", default="gray_hair,blond_hair")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--strengths", default="1")
    parser.add_argument("--clips", default="", help="comma-separated name parts (default: every shared clip)")
    parser.add_argument(
        "--fast", action="store_true", help="edit as `--fast` does (the person segmented on every other frame)"
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    tables = []
    for attr in args.attrs.split(","):
        column = list(judge.config.cond_names).index(ATTRIBUTES[attr].celeba)

        def measure(run, attr=attr, column=column) -> str:
            m, fps = timed_edit(run, make_editor(attr, run.strength, EditOptions(fast=args.fast, experimental=True)))
            c = hair_change(run.short, run.out)
            p0, p1 = judge_probs(run.short, run.out, judge, column)
            return (
                f"{c['share']:.3f} | {_lab(c['before'])} -> {_lab(c['after'])} | {c['flicker']:.3f} "
                f"| {_lab(c['face'])} | {p0:.2f} -> {p1:.2f} | {identity_cells(m)} | {quality_cells(m, fps)}"
            )

        table = clip_table(HEAD, shared_clips(args.clips), args.frames, args.strengths, attr, measure)
        tables.append(table.replace("| +", f"| {attr} +").replace("| -", f"| {attr} -"))
    text = "\n\n".join(tables)
    if args.write:
        write_clip_table(FAST_SECTION if args.fast else SECTION, "hair_colour.py", sys.argv[1:], args.frames, text)
    print(text)


if __name__ == "__main__":
    main()
