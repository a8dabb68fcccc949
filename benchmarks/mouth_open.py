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

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_clip_table
from benchmarks.edit_quality import cut, judge_probs, shared_clips
from generative.training.checkpoint import load_family
from pipelines.edit_video import edit_video
from stitchtime.config import DetectConfig, PipelineConfig
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.errors import NoFaceError, StitchtimeError
from stitchtime.evaluate import evaluate
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--strengths", default="1,-1")
    parser.add_argument("--clips", default="", help="comma-separated name parts (default: every shared clip)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Mouth_Slightly_Open")
    backend = make_backend(DetectConfig())
    rows = [HEAD]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in shared_clips(args.clips):
            short = cut(clip, Path(tmp) / clip.name, args.frames)
            for s in (float(v) for v in args.strengths.split(",")):
                out = Path(tmp) / f"open_{s:g}_{clip.name}"
                editor = make_editor("mouth_open", s)
                try:
                    t = time.perf_counter()
                    res = edit_video(short, out, editor, PipelineConfig(progress=False), overwrite=True)
                    fps = res.n_frames / (time.perf_counter() - t)
                    m = evaluate(short, out)
                    before, after = judge_probs(short, out, judge, column)
                    gap0, gap1 = openings(short, out, backend)
                except NoFaceError as err:
                    print(f"{clip.name}: {err}", flush=True)
                    break
                except StitchtimeError as err:
                    rows.append(f"| {clip.name} | {s:+g} | failed: {err} |||||||||||")
                    print(rows[-1], flush=True)
                    break
                painter = getattr(editor, "painter", None)
                source = "-" if s <= 0 else f"frame {painter.frame}" if painter.has_reference else "shadow"
                moved = (gap1 - gap0) * (1 if s > 0 else -1) >= MOVED
                rows.append(
                    f"| {clip.name} | {s:+g} | {gap0.mean():.3f} -> {gap1.mean():.3f} | {moved.mean():.0%} "
                    f"| {source} | {before:.2f} -> {after:.2f} | {m.identity_distance:.3f} | {m.tl_id:.4f} "
                    f"| {m.tg_id:.4f} | {m.flicker_ratio:.3f} | {m.sharpness_ratio:.3f} | {m.background_psnr:.1f} "
                    f"| {fps:.1f} |"
                )
                print(rows[-1], flush=True)
                out.unlink(missing_ok=True)
    table = "\n".join(rows)
    if args.write:
        write_clip_table(SECTION, "mouth_open.py", sys.argv[1:], args.frames, table)
    print(table)


if __name__ == "__main__":
    main()
