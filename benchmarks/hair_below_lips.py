"""The hair mask below the lips: the column rule alone, the free run on every side, and the free run
where the video has long hair beside the face (shipped), measured (BENCHMARKS "Hair below the lips").

    .venv/bin/python benchmarks/hair_below_lips.py [--clips d0,d10,retalking_face_4,d3,s29,retalking_face_5]

- On CelebAMask-HQ's four hand-parsed faces: the IoU of the mask (> 0.5) with the parsed hair on
  the whole image and below the lower lip.
- On the shared clips (12 frames spread over each): each side's long-hair weight
  (``HairColours.long_hair``) and the share of the head crop's rows below the chin taken as hair
  (mask > 0.5), which should stay near 0 on a short-haired man in a jacket (d0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.edit_quality import shared_clips
from stitchtime.editors.hair import SEGMENTER_PATH
from stitchtime.faces.detect import DlibBackend
from stitchtime.faces.hair import HairColours, HeadView, PersonSegmenter, frame_mask, head_view
from stitchtime.io.decode import VideoReader

PARSINGS = REPO.parent / "shared" / "data" / "celebamask_hq"
HAIR_CLASS = 13  # CelebAMask-HQ's parsing label of hair
RULES = {"column rule only": (0.0, 0.0), "free run on every side": (1.0, 1.0), "shipped": None}


def _with(colours: HairColours, long_hair: tuple[float, float] | None) -> HairColours:
    """The fitted colours with the long-hair weights given (None: as fitted)."""
    if long_hair is not None:
        colours = HairColours(**{**colours.__dict__, "long_hair": long_hair})
    return colours


def parsings(backend: DlibBackend, segmenter: PersonSegmenter) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {rule: [] for rule in RULES}
    for image in sorted(PARSINGS.glob("*.jpg")):
        rgb = cv2.resize(
            cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB), (512, 512), interpolation=cv2.INTER_AREA
        )
        parsed = cv2.imread(str(image.with_suffix(".png")), cv2.IMREAD_UNCHANGED) == HAIR_CLASS
        landmarks = backend.detect(rgb)[0].landmarks
        view = head_view(rgb, landmarks, segmenter)
        fitted = HairColours.fit([view])
        lip = int(round(landmarks[57, 1]))
        for rule, weights in RULES.items():
            mask = frame_mask(view.matrix, _with(fitted, weights).hair_mask(view), rgb.shape[:2]) > 0.5
            iou = [(m & p).sum() / max((m | p).sum(), 1) for m, p in ((mask, parsed), (mask[lip:], parsed[lip:]))]
            out[rule].append(f"{iou[0]:.3f} / {iou[1]:.3f}")
    return out


def clip_views(path: Path, backend: DlibBackend, segmenter: PersonSegmenter, n: int = 12) -> list[HeadView]:
    with VideoReader(path) as reader:
        picks = set(np.linspace(0, len(reader) - 1, n).astype(int).tolist())
        views = []
        for i, frame in enumerate(reader):
            if i in picks and (faces := backend.detect(frame)):
                views.append(head_view(frame, faces[0].landmarks, segmenter))
    return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", default="d0,d10,retalking_face_4,d3,s29,retalking_face_5")
    args = parser.parse_args()
    backend, segmenter = DlibBackend(), PersonSegmenter(SEGMENTER_PATH)
    if PARSINGS.is_dir():
        print("| rule | IoU whole / below the lip, per parsed face |\n|---|---|")
        for rule, cells in parsings(backend, segmenter).items():
            print(f"| {rule} | {' | '.join(cells)} |")
    print("\n| clip | long hair (left, right) | " + " | ".join(f"below the chin: {r}" for r in RULES) + " |")
    print("|---|---|" + "---:|" * len(RULES))
    for part in args.clips.split(","):
        for path in shared_clips(part)[:1]:
            views = clip_views(path, backend, segmenter)
            fitted = HairColours.fit(views)
            shares = []
            for weights in RULES.values():
                colours = _with(fitted, weights)
                below = [(colours.hair_mask(v)[int(v.landmarks[8, 1]) :] > 0.5).mean() for v in views]
                shares.append(f"{np.mean(below):.4f}")
            left, right = fitted.long_hair
            print(f"| {path.name} | {left:.2f}, {right:.2f} | {' | '.join(shares)} |")


if __name__ == "__main__":
    main()
