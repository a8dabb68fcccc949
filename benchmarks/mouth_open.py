"""`--attr mouth_open` (the geometry editor with the video's own mouth interior) on every shared clip.

    .venv/bin/python benchmarks/mouth_open.py [--frames 100] [--strengths 1,-1] [--clips d9,rf3] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr
mouth_open --strength S` at the defaults. Reported per clip:

* the inner lips' opening, original -> edited, and the share of frames opened (closed) by at
  least 0.05 inter-ocular distances: dlib's 68 landmarks refitted on the *edited* frames in the
  original's face boxes (what the picture shows; the editor moves the original's landmarks);
* where the inside of the mouth came from (the reference frame, or a shadow when the clip never
  opens its mouth);
* the shipped CelebA classifier's p(mouth slightly open), before -> after (not independent: it was
  trained on the images whose landmarks the displacement was fitted on, though the editor never
  uses it);
* identity distance, TL-ID, TG-ID, flicker, sharpness, background PSNR (`stitchtime.evaluate`) and
  the edit's frames per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.faces.detect import make_backend
from stitchtime.faces.mouth import mouth_opening
from stitchtime.faces.shape import normalise
from stitchtime.io import read_frames

SECTION = "## Mouth open on the shared clips (issue 15)"
MOVED = 0.05  # inter-ocular distances: a frame counts as opened (closed) by the edit past this
HEAD = (
    "| clip | strength | opening (IOD) | frames opened / closed by >= 0.05 | inside of the mouth from "
    "| classifier p(mouth open) | identity | TL-ID | TG-ID | flicker | sharpness | background PSNR | fps |\n"
    "|---|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def openings(original: Path, edited: Path, backend) -> tuple[np.ndarray, np.ndarray]:
    """Per frame with a face: the inner lips' gap on the original (detected) and on the edited
    frame (landmarks refitted in the original's box), face frame."""
    before, after = [], []
    for a, b in zip(read_frames(original)[1], read_frames(edited)[1]):
        faces = backend.detect(a)
        if not faces:
            continue
        refit = backend.landmarks_in_box(b, faces[0].box)
        if refit is None:
            continue
        before.append(mouth_opening(normalise(faces[0].landmarks[None]))[0])
        after.append(mouth_opening(normalise(refit[None]))[0])
    return np.array(before), np.array(after)


def main() -> None:
    args = clip_arguments(__doc__.splitlines()[0], "1,-1")
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Mouth_Slightly_Open")
    backend = make_backend(DetectConfig())

    def measure(run: ClipRun) -> str:
        editor = make_editor("mouth_open", run.strength)
        m, fps = timed_edit(run, editor)
        before, after = judge_probs(run.short, run.out, judge, column)
        gap0, gap1 = openings(run.short, run.out, backend)
        painter = editor.painter
        source = "-" if run.strength <= 0 else f"frame {painter.frame}" if painter.has_reference else "shadow"
        moved = (gap1 - gap0) * (1 if run.strength > 0 else -1) >= MOVED
        return (
            f"{gap0.mean():.3f} -> {gap1.mean():.3f} | {moved.mean():.0%} | {source} | {before:.2f} -> {after:.2f} "
            f"| {identity_cells(m)} "
            f"| {quality_cells(m, fps)}"
        )

    report_clip_table(args, HEAD, SECTION, "mouth_open.py", "open", measure)


if __name__ == "__main__":
    main()
