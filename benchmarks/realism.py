"""Realism of an edit (issue 15): KID in an independent feature space, and the colour shift of the
face regions the attribute does not own.

    .venv/bin/python benchmarks/realism.py [--attr smile] [--strength 1] [--frames 100] [--every 4] [--write]

Features: the FER2013 expression network's last feature map (``benchmarks/fer_judge.py``; 4x4x128,
averaged to 128 numbers per face). It was trained on neither CelebA nor anything stitchtime makes,
and it is built to tell expressions apart, so a smile that does not look like real smiles lands
away from them. Real faces: the CelebA test split (660), all of them and those labelled with the
attribute. Video faces: every ``--every``-th crop of the first ``--frames`` frames of each shared
clip, original and edited at the same crop matrices and boxes.

Reported: KID (polynomial kernel, unbiased, x 1000) of the originals and of the edits to real faces
with the attribute, and of the originals to all real faces. The issue's target: the edits are no
further from real faces with the attribute than the unedited faces are from real faces.
Colour: the mean CIELAB change (L, a, b; edited - original) of the upper face (brows to the nose's
tip: what a smile does not own) and of the lower face, over the face's landmark hull.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import crop_plan, cut, shared_clips
from benchmarks.fer_judge import FerJudge, celeba_test_faces, face_input, fer_box
from pipelines.edit_video import edit_video
from stitchtime.config import PipelineConfig
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.registry import make_editor
from stitchtime.errors import NoFaceError

SECTION = "## Realism: KID and colour shift (issue 15)"


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Kernel inception distance (unbiased MMD^2, cubic polynomial kernel) between feature sets."""
    d = x.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def celeba_features(judge: FerJudge, attribute: str) -> tuple[np.ndarray, np.ndarray]:
    """FER features of the CelebA test faces and whether each has the attribute."""
    faces, labels = celeba_test_faces(attribute)
    return judge.features(faces), labels


def region_lab(rgb: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean CIELAB of the upper face (hull above the nose tip) and the lower face."""
    hull = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    rows = np.arange(rgb.shape[0])[:, None] < lm[30, 1]
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    up, low = hull.astype(bool) & rows, hull.astype(bool) & ~rows
    return lab[up].mean(0), lab[low].mean(0)


def video_features(judge: FerJudge, original: Path, edited: Path, every: int):
    """FER features of the original's and the edit's crops, and the Lab change per region."""
    run = crop_plan(original)
    feats, labs = {}, {}
    for key, path in (("orig", original), ("edit", edited)):
        f, lab = [], []
        for b in replace(run, path=path).crops():
            keep = (b.frame_indices.numpy() % every) == 0
            if not keep.any():
                continue
            rgb = b.crops[keep].permute(0, 2, 3, 1).clamp(0, 255).byte().numpy()
            lms = b.landmarks[keep].numpy()
            f.append(judge.features(np.stack([face_input(r, fer_box(lm)) for r, lm in zip(rgb, lms)])))
            lab += [np.stack(region_lab(r, lm)) for r, lm in zip(rgb, lms)]
        feats[key], labs[key] = np.concatenate(f), np.stack(lab)
    return feats["orig"], feats["edit"], (labs["edit"] - labs["orig"]).mean(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attr", default="smile")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--clips", default="")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    attribute = ATTRIBUTES[args.attr]
    judge = FerJudge()
    real, has = celeba_features(judge, attribute.celeba)
    real_attr = real[has] if attribute.sign > 0 else real[~has]
    clips = shared_clips(args.clips)
    rows = [
        "| clip | KID orig -> real | KID orig -> real with attr | KID edit -> real with attr "
        "| Lab shift upper face (L, a, b) | Lab shift lower face |",
        "|---|---:|---:|---:|---|---|",
    ]
    all_orig, all_edit, shifts = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            short = cut(clip, Path(tmp) / clip.name, args.frames)
            out = Path(tmp) / f"edit_{clip.name}"
            try:
                edit_video(
                    short, out, make_editor(args.attr, args.strength), PipelineConfig(progress=False), overwrite=True
                )
            except NoFaceError as err:
                print(f"{clip.name}: {err}", flush=True)
                continue
            fo, fe, shift = video_features(judge, short, out, args.every)
            all_orig.append(fo)
            all_edit.append(fe)
            shifts.append(shift)
            rows.append(
                f"| {clip.name} | {1000 * kid(fo, real):.1f} | {1000 * kid(fo, real_attr):.1f} "
                f"| {1000 * kid(fe, real_attr):.1f} | {', '.join(f'{v:+.2f}' for v in shift[0])} "
                f"| {', '.join(f'{v:+.2f}' for v in shift[1])} |"
            )
            print(rows[-1], flush=True)
            out.unlink(missing_ok=True)
    fo, fe, shift = np.concatenate(all_orig), np.concatenate(all_edit), np.mean(shifts, 0)
    rows.append(
        f"| **all clips** | {1000 * kid(fo, real):.1f} | {1000 * kid(fo, real_attr):.1f} "
        f"| {1000 * kid(fe, real_attr):.1f} | {', '.join(f'{v:+.2f}' for v in shift[0])} "
        f"| {', '.join(f'{v:+.2f}' for v in shift[1])} |"
    )
    table = "\n".join(rows)
    print(table)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/realism.py {' '.join(sys.argv[1:])}` "
            f"(`--attr {args.attr} --strength {args.strength:g}` at the defaults; every {args.every}th crop of the "
            f"first {args.frames} frames; 2 cores). KID x 1000 in the FER2013 network's feature space (independent: "
            "see `benchmarks/realism.py`), against the CelebA test split: all 660 faces, or those with the "
            "attribute (for a negative strength, those without it). Lab shift: mean CIELAB change, edited - "
            "original, of the face's upper half (what the attribute does not own) and lower half.\n\n" + table + "\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
