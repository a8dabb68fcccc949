"""Training pairs for the mouth-interior model: CelebA's smiling, open mouths with the space between
the lips painted out (A) and as they are (B), as a pix2pix paired folder.

    .venv/bin/python -m pipelines.prepare_mouths [--celeba ../shared/data/celeba] [-o runs/mouths]
        [--overwrite] [--size 64] [--min-opening 0.08]

Faces: ``img_align_celeba`` (178x218, the largest CelebA images we have) labelled Smiling whose
inner lips are at least ``--min-opening`` inter-ocular distances apart (dlib landmarks, cached by
``pipelines/fit_geometry.py``): smiles that show teeth. Official split: train -> ``train/``,
test -> ``test/`` (validation is left out). Then train with the project's own pix2pix:

    .venv/bin/stitchtime train pix2pix --data runs/mouths -o runs/mouth_model --steps 4000 ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from generative.data.images import read_rgb
from generative.errors import DatasetError
from pipelines.fit_geometry import CACHE, celeba_landmarks
from pipelines.prepare_data import read_attributes, read_partition
from stitchtime.editors.geometry import mouth_opening
from stitchtime.errors import StitchtimeError
from stitchtime.faces.mouth import INNER, interior_mask, model_input, mouth_matrix, to_crop
from stitchtime.faces.shape import normalise
from stitchtime.io.paths import atomic_directory, check_output_dir

HOLE_GROW = 1.0  # px at 64: the hole covers the inner lips' own edge too, as it will when editing


def mouth_pair(rgb: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) for one face: the mouth crop with its interior painted out, and as it is."""
    m = mouth_matrix(landmarks, size)
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)
    hole = interior_mask(to_crop(m, landmarks[INNER]), size, HOLE_GROW)
    return model_input(crop, hole), crop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celeba", type=Path, default=Path("../shared/data/celeba"))
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/mouths"))
    parser.add_argument("--overwrite", action="store_true", help="replace an output folder this script made")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--min-opening", type=float, default=0.08)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    try:
        names, table = read_attributes(args.celeba)
        split = read_partition(args.celeba)
        col = names.index("Smiling")
        check_output_dir(args.output, args.overwrite, inputs=[args.celeba])
        data = celeba_landmarks(args.celeba, args.cache)
        ok = np.isfinite(data["landmarks"]).all(axis=(1, 2))
        opening = np.full(len(ok), -1.0)
        opening[ok] = mouth_opening(normalise(data["landmarks"][ok]))
        counts = {"train": 0, "test": 0}
        with atomic_directory(args.output, args.overwrite, inputs=[args.celeba]) as tmp:
            for name, lm, gap in zip(data["names"], data["landmarks"], opening):
                name = str(name)
                part = split.get(name)
                if part not in counts or gap < args.min_opening or not table.get(name, [0] * len(names))[col]:
                    continue
                a, b = mouth_pair(read_rgb(args.celeba / "img_align_celeba" / name), lm.astype(np.float64), args.size)
                for folder, img in (("A", a), ("B", b)):
                    out = tmp / part / folder
                    out.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(out / f"{Path(name).stem}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                counts[part] += 1
    except (StitchtimeError, DatasetError) as err:
        print(f"stitchtime: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.output}: {counts['train']} train and {counts['test']} test pairs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
