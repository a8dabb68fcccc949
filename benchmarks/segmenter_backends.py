"""The hair colour's person segmenter on LiteRT against OpenCV's DNN module: speed and sameness.

    .venv/bin/python benchmarks/segmenter_backends.py [--clips d10,d11,d3,d9] [--reps 3] [--write]

Both backends run the same TFLite file (:class:`stitchtime.faces.hair.PersonSegmenter`). Each clip
is edited whole (grey hair, strength 1, the default and ``--fast``) in this one process, the two
backends in turn, ``--reps`` times each; the table gives the best of the reps in frames per second
(the pipeline's own time: decode, track, fit, paint, encode), and how far the painted frames of the
first three frame groups differ between the backends (before the encoder, whose choices a one-level
change moves about). One process and alternating runs, so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np

import stitchtime.editors.hair as hair_editor
import stitchtime.faces.hair as hair
from benchmarks.bench_md import write_section
from benchmarks.edit_quality import shared_clips
from pipelines.edit_video import edit_video
from stitchtime.config import EditOptions, PipelineConfig
from stitchtime.editors.registry import make_editor

SECTION = "## Hair colour's segmenter: LiteRT against cv2.dnn (issue 15)"


def edit(clip: Path, out: Path, backend: str, fast: bool, keep: list | None = None) -> float:
    """Grey hair on ``clip`` with the segmenter on ``backend``: frames per second; ``keep`` gets
    the (frames, painted) of the first three frame groups."""
    make = hair.PersonSegmenter.__init__
    paint = hair_editor.HairEditor.paint

    def forced(self, path, backend_=backend):
        make(self, path, backend_)

    def kept(self, frames, *args, **kwargs):
        new = paint(self, frames, *args, **kwargs)
        if keep is not None and len(keep) < 3:
            keep.append((np.stack(frames), np.stack(new)))
        return new

    hair.PersonSegmenter.__init__, hair_editor.HairEditor.paint = forced, kept
    try:
        editor = make_editor("gray_hair", 1.0, EditOptions(fast=fast))
        t = time.perf_counter()
        res = edit_video(clip, out, editor, PipelineConfig(progress=False), overwrite=True)
        return res.n_frames / (time.perf_counter() - t)
    finally:
        hair.PersonSegmenter.__init__, hair_editor.HairEditor.paint = make, paint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="d10,d11,d3,d9")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = [
        "| clip | setting | cv2.dnn fps | LiteRT fps | ratio | painted pixels that differ | most levels |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        for clip in shared_clips(args.clips):
            for fast in (False, True):
                fps = {"opencv": [], "litert": []}
                painted = {"opencv": [], "litert": []}
                for rep in range(args.reps):
                    for backend in ("opencv", "litert"):
                        fps[backend].append(edit(clip, out, backend, fast, painted[backend] if rep == 0 else None))
                diffs = [np.abs(a[1].astype(int) - b[1]) for a, b in zip(painted["opencv"], painted["litert"])]
                share = float(np.mean([(d.max(-1) > 0).mean() for d in diffs]))
                most = max(int(d.max()) for d in diffs)
                slow, quick = max(fps["opencv"]), max(fps["litert"])
                rows.append(
                    f"| {clip.name} | {'`--fast`' if fast else 'default'} | {slow:.1f} | {quick:.1f} | "
                    f"{quick / slow:.2f} | {share:.6f} | {most} |"
                )
                print(rows[-1], flush=True)
    argv = " ".join(sys.argv[1:])
    text = (
        f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/segmenter_backends.py {argv}` ({date.today()}, 2 cores; "
        f"grey hair at strength 1 on each whole clip, in one process, the backends in turn, best of {args.reps}; "
        "fps = frames over the pipeline's own time; the pixel columns compare the painted frames of the first "
        "three frame groups, before the encoder).\n\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
