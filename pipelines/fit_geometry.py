"""Fit the geometry editor's landmark displacements on CelebA (``stitchtime/weights/geometry``).

    .venv/bin/python -m pipelines.fit_geometry ../shared/data/celeba [--out stitchtime/weights/geometry]

1. dlib's 68 landmarks on every image of ``img_align_celeba`` (cached in ``runs/geometry/landmarks.npz``).
2. Each shape is brought into the face frame (:func:`stitchtime.editors.geometry.normalise`:
   eye midpoint at the origin, eyes on the x axis, inter-ocular distance 1).
3. Per attribute (Smiling, Mouth_Slightly_Open), on the train split: a ridge regression of every landmark coordinate on
   the face's own rigid shape (eyes, brows, nose: who the person is), the attribute label, and the
   other expression label held constant (Mouth_Slightly_Open, Smiling), plus label x shape interactions,
   so the displacement the label makes depends on the face it is applied to. A logistic regression
   on the normalised shape estimates the attribute from geometry (the editor moves a frame by
   ``(1 - p)`` of the displacement at strength 1, as the cVAE moves its condition).
4. The skin's shading the attribute brings (:mod:`stitchtime.editors.shading`): the difference of
   the mean log-luminance of training faces with and without it, warped to the mean shape, among
   faces whose mouth is closed, for women and men apart (the smile only).
5. Reported on the test split: the held-out accuracy of the geometric estimate and the mean
   displacement of the mouth corners and the inner lips' opening (inter-ocular units).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipelines.prepare_data import CELEBA_FACE_BOX, read_attributes, read_partition
from stitchtime.config import DetectConfig
from stitchtime.editors.geometry import GeometryModel, fit_geometry, normalise
from stitchtime.editors.shading import fit_shading
from stitchtime.faces.detect import make_backend

CACHE = Path("runs/geometry/landmarks.npz")
ATTRS = ("Smiling", "Mouth_Slightly_Open")
# The expression labels held constant while fitting each attribute (CelebA's smiles are mostly
# open-mouthed, and its open mouths mostly smiles: each is fitted with the other held).
HELD = {"Smiling": ("Mouth_Slightly_Open",), "Mouth_Slightly_Open": ("Smiling",)}
# The attributes that get the skin's shading. An open mouth's shading would be the dark interior
# between the lips, which the mouth painter (stitchtime.editors.interior) takes from the video itself.
SHADED = ("Smiling",)


def celeba_landmarks(celeba: Path, cache: Path = CACHE, progress: bool = True) -> dict[str, np.ndarray]:
    """68 dlib landmarks of every ``img_align_celeba`` image (the detector's face, else the face
    where CelebA's alignment puts it), with the names; cached."""
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    backend = make_backend(DetectConfig(max_side=1024, upsample=0, min_face=8))
    paths = sorted((celeba / "img_align_celeba").glob("*.jpg"))
    out = np.full((len(paths), 68, 2), np.nan, np.float32)
    t = time.perf_counter()
    for i, p in enumerate(paths):
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        faces = backend.detect(rgb)
        if faces:
            out[i] = faces[0].landmarks
        else:
            h, w = rgb.shape[:2]
            box = np.array(CELEBA_FACE_BOX, np.float32) * np.array([w, h, w, h], np.float32)
            lm = backend.landmarks_in_box(rgb, box)
            if lm is not None:
                out[i] = lm
        if progress and i % 500 == 0:
            print(f"landmarks {i}/{len(paths)} ({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    result = {"names": np.array([p.name for p in paths]), "landmarks": out}
    np.savez_compressed(cache, **result)
    return result


@dataclass
class CelebaFit:
    """What a fit on CelebA's landmarks starts from: its arguments (``celeba``, ``out``, ``cache``),
    the landmarks (:func:`celeba_landmarks`), the attribute names and table, and the split."""

    args: argparse.Namespace
    data: dict[str, np.ndarray]
    names: list[str]
    table: dict
    split: dict[str, str]

    @classmethod
    def from_command_line(cls, description: str, out: Path) -> "CelebaFit":
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("celeba", type=Path)
        parser.add_argument("--out", type=Path, default=out)
        parser.add_argument("--cache", type=Path, default=CACHE)
        args = parser.parse_args()
        names, table = read_attributes(args.celeba)
        return cls(args, celeba_landmarks(args.celeba, args.cache), names, table, read_partition(args.celeba))


def main() -> None:
    fit = CelebaFit.from_command_line(__doc__.splitlines()[0], Path("stitchtime/weights/geometry"))
    args, data, names, table, split = fit.args, fit.data, fit.names, fit.table, fit.split
    files = [str(n) for n in data["names"]]
    ok = np.isfinite(data["landmarks"]).all(axis=(1, 2))
    pixels = data["landmarks"][ok]
    shapes = normalise(pixels)
    files = [f for f, good in zip(files, ok) if good]
    labels = {a: np.array([table[f][names.index(a)] for f in files], np.float32) for a in (*ATTRS, "Male")}
    parts = np.array([split.get(f, "train") for f in files])
    train, test = parts == "train", parts == "test"
    report = {}
    models = {}
    for attr in ATTRS:
        held = np.stack([labels[h] for h in HELD[attr]], 1)
        model = fit_geometry(shapes[train], labels[attr][train], held[train], attr)
        model.mean_shape = shapes[train].mean(0).astype(np.float32)
        shading = None
        if attr in SHADED:
            closed = np.nonzero(train & (held.max(1) < 0.5))[0]  # no expression label held: the mouth is closed
            faces = ((cv2.imread(str(args.celeba / "img_align_celeba" / files[i])), pixels[i]) for i in closed)
            strata = labels["Male"][closed] > 0.5  # women and men apart (79% of the smiling faces are women's)
            model.shading, shading = fit_shading(faces, labels[attr][closed] > 0.5, model.mean_shape, strata)
        acc = float(((model.probability(shapes[test]) > 0.5) == (labels[attr][test] > 0.5)).mean())
        lift, width = model.corner_change(shapes[test][labels[attr][test] < 0.5])
        report[attr] = {
            "test_accuracy": round(acc, 3),
            "corner_lift": round(lift, 3),
            "mouth_width": round(width, 3),
            "opening": round(float(model.opening_change(shapes[test][labels[attr][test] < 0.5])), 3),
            **({} if shading is None else {"shading": shading}),
        }
        models[attr] = model
        print(attr, report[attr], flush=True)
    GeometryModel.save_all(models, args.out, {"train_faces": int(train.sum()), "test": report})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
