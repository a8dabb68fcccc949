"""`make demo`: a short clip from scikit-image's astronaut photo with a moving camera; she smiles,
so the demo takes her smile away (`--attr smile --strength -1`: the mouth corners come down and the
mouth narrows, the rest of the frame stays); writes the video, a side-by-side preview video and a
PNG sheet of face crops, and prints what changed and the quality numbers.

    python -m pipelines.demo -o demo_out [--attr smile] [--strength -1]   (--attr lipstick --strength 1: lipstick;
    --attr glasses --strength 1: glasses; --attr gray_hair --strength 1: grey hair)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pipelines.edit_video import edit_video
from pipelines.synth import make_astronaut_clip
from stitchtime.config import DetectConfig, PipelineConfig
from stitchtime.editors.accessory import AccessoryEditor
from stitchtime.editors.colour import NAMES, ColourEditor, region_colours, to_lab
from stitchtime.editors.hair import HairEditor
from stitchtime.editors.registry import make_editor
from stitchtime.errors import StitchtimeError
from stitchtime.evaluate import evaluate
from stitchtime.faces.detect import make_backend
from stitchtime.io import read_frames


def _what_changed(editor, clip: Path, edited: Path, metrics) -> str:
    """One line on what the edit did and where to look on the sheet (top row original, bottom edited)."""
    if isinstance(editor, ColourEditor):
        a = read_frames(clip)[1]
        b = read_frames(edited)[1]
        faces = make_backend(DetectConfig()).detect(a[len(a) // 2])
        regions = tuple(editor.models)
        names = [NAMES[r] for r in regions]
        where = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        look = f"the colour of the {where} (look at them on the sheet: top row original, bottom row edited)"
        if not faces:
            return look
        lm = faces[0].landmarks
        before, after = (region_colours(x[len(x) // 2], lm, regions) for x in (a, b))
        moved = []
        for r in regions:
            if before[r] is not None and after[r] is not None:
                d = after[r] - before[r]
                moved.append(f"{NAMES[r]} Lab L {d[0]:+.1f}, a (redness) {d[1]:+.1f}, b {d[2]:+.1f}")
        if not moved:
            return look
        return f"{look}: {'; '.join(moved)} on the middle frame; nothing else moved"
    if isinstance(editor, AccessoryEditor):
        a, b = (read_frames(p)[1].astype(int) for p in (clip, edited))
        changed = np.abs(a - b).max(-1) > 40  # the rim, not the re-encode
        frames = int(changed.any(axis=(1, 2)).sum())
        if not frames:
            return "nothing was drawn (see the notes below)"
        ys, xs = np.nonzero(changed.any(0))
        return (
            "glasses, drawn over the eyes (look at the eyes on the sheet: top row original, bottom row "
            f"edited): on {frames} of {len(a)} frames, within x {xs.min()}-{xs.max()}, y {ys.min()}-{ys.max()} px"
        )
    if isinstance(editor, HairEditor):
        a, b = (read_frames(p)[1] for p in (clip, edited))
        la, lb = to_lab(a[len(a) // 2]), to_lab(b[len(b) // 2])
        changed = np.abs(lb - la).sum(-1) > 3.0  # the hair, not the re-encode
        if not changed.any():
            return "nothing was recoloured (see the notes below)"
        before, after = la[changed].mean(0), lb[changed].mean(0)
        return (
            "the hair's colour (look round the face on the sheet, top row original, bottom row edited; the "
            f"preview video shows all of it): {changed.mean():.0%} of the middle frame, its mean Lab "
            f"{before[0]:.0f}, {before[1]:+.0f}, {before[2]:+.0f} -> {after[0]:.0f}, {after[1]:+.0f}, {after[2]:+.0f}"
        )
    if getattr(editor, "expression", None) is not None and editor.expression.opens:
        return (
            "the mouth's opening (look at the lips on the sheet: top row original, bottom row edited): "
            f"the inner lips moved {metrics.mouth_opening_change:+.3f} inter-ocular distances apart on average "
            "(open is positive); outside the mask nothing moved"
        )
    return (
        "the mouth (look at the lower face on the sheet: top row original, bottom row edited); "
        f"its corners moved {metrics.mouth_corner_lift:+.3f} and its width {metrics.mouth_width_change:+.3f} "
        "inter-ocular distances (up / wider is positive); outside the mask nothing moved"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", "--out", dest="out", type=Path, default=Path("demo_out"))
    parser.add_argument("--attr", default="smile")
    parser.add_argument("--strength", type=float, default=-1.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        clip = make_astronaut_clip(args.out / "astronaut.mp4", seconds=3.0, fps=25, size=(384, 384), audio=True)
        edited = args.out / f"astronaut_{args.attr}.mp4"
        editor = make_editor(args.attr, args.strength, progress=sys.stderr.isatty())
        result = edit_video(
            clip, edited, editor, PipelineConfig(progress=sys.stderr.isatty()), overwrite=True, preview=True
        )
        print(f"input:   {clip}")
        print(f"edited:  {result.output}  ({result.n_frames} frames, {result.seconds:.1f} s)")
        print(f"preview: {result.preview} and {result.preview.with_suffix('.png')}")
        metrics = evaluate(clip, edited)
        print(f"what changed: {_what_changed(editor, clip, edited, metrics)}")
        for note in result.notes:
            print(f"note: {note}")
        print(metrics.table())
    except StitchtimeError as err:
        print(f"stitchtime: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
