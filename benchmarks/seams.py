"""Is there a seam where the edit is blended in? Edge energy on the mask's feather ring.

    .venv/bin/python benchmarks/seams.py [--clips retalking_face_3,liveportrait_driving_d3] [--attrs smile,age]
        [--frames 60] [--write]

Each clip (first ``--frames`` frames) is edited with ``--attr none`` (the round trip: only the
codec changes pixels) and with each attribute. In crop space, on the ring where the attribute's
feathered mask goes from 0.05 to 0.95, we measure the mean absolute gradient of (output -
original): a seam is an edge the edit adds there. The round trip gives the codec's floor; the
edit's excess over it, relative to the original's own edge energy on the ring, is the seam.
Also reported: the mean change on the ring and inside the mask.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import VIDEOS, crop_plan, cut
from pipelines.edit_video import edit_video
from stitchtime.config import REGION_MASKS, EditOptions, PipelineConfig
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.registry import make_editor
from stitchtime.render.mask import face_masks

SECTION = "## Seams (issue 4)"


def _grad(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :-1] - x[..., :-1, :-1]).abs() + (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()


def ring_stats(original: Path, output: Path, attr: str) -> dict[str, float]:
    run = crop_plan(original)
    plan = run.plan
    mask_config = REGION_MASKS[ATTRIBUTES[attr].region]
    sums = {"added": 0.0, "own": 0.0, "ring": 0.0, "inside": 0.0}
    n_ring = n_in = 0
    for a, b in zip(run.crops(), replace(run, path=output).crops()):
        m = face_masks(plan.crop_landmarks[a.frame_indices.numpy()], plan.crop_size, mask_config)[..., :-1, :-1].expand(
            -1, 3, -1, -1
        )
        ring, inside = (m > 0.05) & (m < 0.95), m >= 0.95
        d = b.crops - a.crops
        sums["added"] += float(_grad(d)[ring].sum())
        sums["own"] += float(_grad(a.crops)[ring].sum())
        sums["ring"] += float(d[..., :-1, :-1].abs()[ring].sum())
        sums["inside"] += float(d[..., :-1, :-1].abs()[inside].sum())
        n_ring += int(ring.sum())
        n_in += int(inside.sum())
    return {
        "added": sums["added"] / n_ring,
        "own": sums["own"] / n_ring,
        "ring": sums["ring"] / n_ring,
        "inside": sums["inside"] / max(n_in, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="retalking_face_3,liveportrait_driving_d3,liveportrait_driving_d9")
    parser.add_argument("--attrs", default="smile,age,gender")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = [
        (
            "| clip | attr (mask) | edge energy on the ring: round trip | edit "
            "| seam = excess / original's own edges | mean change: ring | inside |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in args.clips.split(","):
            short = cut(VIDEOS / f"{clip}.mp4", tmp / f"cut_{clip}.mp4", args.frames)
            same = tmp / f"none_{clip}.mp4"
            edit_video(short, same, make_editor("none"), PipelineConfig(progress=False), overwrite=True)
            for attr in args.attrs.split(","):
                out = tmp / f"{attr}_{clip}.mp4"
                edit_video(
                    short,
                    out,
                    make_editor(attr, options=EditOptions(experimental=True)),
                    PipelineConfig(progress=False),
                    overwrite=True,
                )
                base, edit = ring_stats(short, same, attr), ring_stats(short, out, attr)
                seam = (edit["added"] - base["added"]) / edit["own"]
                region = ATTRIBUTES[attr].region
                row = (
                    f"| {clip} | {attr} ({region}) | {base['added']:.2f} | {edit['added']:.2f} | {100 * seam:.1f}% "
                    f"| {edit['ring']:.2f} | {edit['inside']:.2f} |"
                )
                rows.append(row)
                print(row, flush=True)
    table = "\n".join(rows)
    if args.write:
        cmd = (
            f"`.venv/bin/python benchmarks/seams.py --clips {args.clips} --attrs {args.attrs} "
            f"--frames {args.frames} --write`"
        )
        text = (
            f"{SECTION}\n\nCommand: {cmd} (shipped model, strength 1). Grey levels per pixel in the 256-px crop. "
            "The ring is where the feathered mask goes from 0.05 to 0.95; "
            "the round trip's edges there are the codec's. "
            "The excess is an upper bound on a seam: "
            "it also holds the edit's own detail where the ring crosses the edited features.\n\n"
            f"{table}\n"
        )
        write_section(SECTION, text)
    print(table)


if __name__ == "__main__":
    main()
