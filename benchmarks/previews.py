"""Before/after sheets a person can judge: 256-px face crops of 4 frames (top: original, bottom:
edited) and one full frame side by side, per clip and edit, written to docs/previews/.

    .venv/bin/python benchmarks/previews.py [--clips retalking_face_3,liveportrait_driving_d0,liveportrait_driving_d10]
        [--edits smile:1,smile:-1] [--frames 100] [--demo] [--out docs/previews]

Each edit runs `stitchtime edit --attr NAME --strength S --preview` on the first ``--frames`` frames
of the clip (``--demo``: also the `make demo` astronaut clip), and keeps its PNG sheet
(``NAME_S_CLIP.jpg``) and the middle frame, original | edited (``NAME_S_CLIP_frame.jpg``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.edit_quality import VIDEOS, cut
from pipelines.edit_video import edit_video
from pipelines.synth import make_astronaut_clip
from stitchtime.config import EditOptions, PipelineConfig
from stitchtime.editors.registry import make_editor
from stitchtime.io import read_frames

OUT = REPO / "docs" / "previews"
JPEG_QUALITY = 92  # (PNG sheets are ~0.9 MB each; at 92 the JPEGs look the same at normal size)


def _full_frame(src: Path, edited: Path, index: int, dst: Path) -> None:
    a, b = read_frames(src)[1][index], read_frames(edited)[1][index]
    image = cv2.cvtColor(np.concatenate([a, b], axis=1), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(dst), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="retalking_face_3,liveportrait_driving_d0,liveportrait_driving_d10")
    parser.add_argument("--edits", default="smile:1,smile:-1")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--demo", action="store_true", help="also the astronaut clip of `make demo`")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the sheets (default docs/previews)")
    args = parser.parse_args()
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clips = [cut(VIDEOS / f"{c}.mp4", Path(tmp) / f"{c}.mp4", args.frames) for c in args.clips.split(",") if c]
        if args.demo:
            clips.append(make_astronaut_clip(Path(tmp) / "astronaut.mp4", seconds=3.0, size=(384, 384)))
        for clip in clips:
            for edit in args.edits.split(","):
                attr, strength = edit.split(":")
                name = f"{attr}_{float(strength):+g}_{clip.stem}"
                out = Path(tmp) / f"{name}.mp4"
                editor = make_editor(attr, float(strength), EditOptions(experimental=True))
                res = edit_video(clip, out, editor, PipelineConfig(progress=False), overwrite=True, preview=True)
                sheet = cv2.imread(str(out.with_name(out.stem + ".preview.png")))
                cv2.imwrite(str(out_dir / f"{name}.jpg"), sheet, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                _full_frame(clip, out, res.n_frames // 2, out_dir / f"{name}_frame.jpg")
                print(out_dir / f"{name}.jpg", *res.notes, flush=True)


if __name__ == "__main__":
    main()
