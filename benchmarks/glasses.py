"""Glasses (the default `edit --attr glasses`, the accessory editor) on every shared clip, measured.

    .venv/bin/python benchmarks/glasses.py [--frames 100] [--strengths 1] [--clips a,b] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr glasses
--strength S`. Reported per clip:
- the editor's detector of glasses worn (its mean probability over the sampled frames, and whether
  it therefore drew nothing);
- the probability of eyeglasses by the shipped CelebA attribute classifier (64-px crops) before ->
  after: it plays no part in the accessory editor, whose frame and detector come from CelebA's
  labels, landmarks and pixels, but it was trained on the same images, so it is not independent;
- identity distance, TL-ID, TG-ID, flicker, sharpness ratio, background PSNR (stitchtime.evaluate),
  and the edit's frames per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import cut, judge_probs, shared_clips
from generative.training.checkpoint import load_family
from pipelines.edit_video import edit_video
from stitchtime.config import PipelineConfig
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.errors import NoFaceError, StitchtimeError
from stitchtime.evaluate import evaluate

SECTION = "## Glasses on the shared clips (issue 15)"
HEAD = (
    "| clip | strength | glasses worn (detector p) | drawn | classifier p(glasses) | identity | TL-ID | TG-ID "
    "| flicker | sharpness | background PSNR | fps |\n|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--strengths", default="1")
    parser.add_argument("--clips", default="", help="comma-separated name parts (default: every shared clip)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Eyeglasses")
    rows = [HEAD]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in shared_clips(args.clips):
            short = cut(clip, Path(tmp) / clip.name, args.frames)
            for s in (float(v) for v in args.strengths.split(",")):
                out = Path(tmp) / f"glasses_{s:g}_{clip.name}"
                editor = make_editor("glasses", s)
                try:
                    t = time.perf_counter()
                    res = edit_video(short, out, editor, PipelineConfig(progress=False), overwrite=True)
                    fps = res.n_frames / (time.perf_counter() - t)
                    m = evaluate(short, out)
                    p0, p1 = judge_probs(short, out, judge, column)
                except NoFaceError as err:
                    print(f"{clip.name}: {err}", flush=True)
                    break
                except StitchtimeError as err:
                    rows.append(f"| {clip.name} | {s:+g} | failed: {err} ||||||||||")
                    print(rows[-1], flush=True)
                    break
                drawn = "no (worn)" if editor.worn > editor.model.threshold else "yes"
                rows.append(
                    f"| {clip.name} | {s:+g} | {editor.worn:.2f} | {drawn} | {p0:.2f} -> {p1:.2f} "
                    f"| {m.identity_distance:.3f} | {m.tl_id:.4f} | {m.tg_id:.4f} | {m.flicker_ratio:.3f} "
                    f"| {m.sharpness_ratio:.3f} | {m.background_psnr:.1f} | {fps:.1f} |"
                )
                print(rows[-1], flush=True)
                out.unlink(missing_ok=True)
    table = "\n".join(rows)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/glasses.py {' '.join(sys.argv[1:])}` (first "
            f"{args.frames} frames of each clip; 2 cores; see the script for what each column measures).\n\n"
            + table
            + "\n"
        )
        write_section(SECTION, text)
    print(table)


if __name__ == "__main__":
    main()
