"""How many per-video decoder tuning steps pay off: model-space reconstruction PSNR of every
face crop of a clip (tuning sees only an evenly spaced subset) and seconds, per step count.

    .venv/bin/python benchmarks/tuning.py [--clips d3,retalking_face_3,s13] [--frames 150] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import cut
from stitchtime.config import InvertConfig, PipelineConfig
from stitchtime.editors.inversion import invert, tune_decoder
from stitchtime.editors.models import load_editor_models
from stitchtime.editors.shared import to_model
from stitchtime.temporal.smooth import gaussian_smooth
from stitchtime.video_run import VideoRun

VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## Per-video decoder tuning (issue 4)"
STEPS = (0, 30, 60, 120, 240)


@torch.no_grad()
def recon_psnr(models, decoder, crops: list, z: np.ndarray, c: np.ndarray) -> float:
    errs = []
    for batch in crops:
        x = to_model(batch.crops, models.image_size)
        idx = batch.frame_indices.numpy()
        out = decoder(torch.from_numpy(z[idx]), torch.from_numpy(c[idx])).clamp(-1, 1)
        errs.append(((out - x) ** 2).mean(dim=(1, 2, 3)) / 4)
    mse = torch.cat(errs)
    return float((10 * torch.log10(1 / mse)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="driving_d3,retalking_face_3,source_s13")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    models = load_editor_models()
    cfg = PipelineConfig(progress=False)
    rows = ["| clip | " + " | ".join(f"{s} steps" for s in STEPS) + " |", "|---" * (len(STEPS) + 1) + "|"]
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.clips.split(","):
            clip = next(VIDEOS.glob(f"*{key}*.mp4"))
            short = cut(clip, Path(tmp) / clip.name, args.frames)
            run = VideoRun.analyse(short, cfg)
            crops = list(run.crops())
            track = invert(models, lambda crops=crops: iter(crops), run.meta.n_frames, InvertConfig())
            z = np.nan_to_num(gaussian_smooth(track.latents, track.valid, 2.0)).astype(np.float32)
            c = np.nan_to_num(gaussian_smooth(track.cond, track.valid, 4.0)).astype(np.float32)
            cells = []
            for steps in STEPS:
                t = time.perf_counter()
                dec = tune_decoder(models, track, z, c, replace(InvertConfig(), tune_steps=steps))
                dt = time.perf_counter() - t
                cells.append(f"{recon_psnr(models, dec, crops, z, c):.2f} dB, {dt:.1f} s")
            row = f"| {clip.name} | " + " | ".join(cells) + " |"
            rows.append(row)
            print(row, flush=True)
    table = "\n".join(rows)
    print(table)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/tuning.py --write` "
            "— reconstruction PSNR (model space, 64x64) "
            f"over all face crops of the first {args.frames} frames; "
            f"tuning sees {InvertConfig().tune_frames} evenly spaced crops.\n\n{table}\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
