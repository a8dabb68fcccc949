"""Fit the hair-colour editor's target colours on CelebA (``stitchtime/weights/hair``).

    .venv/bin/python -m pipelines.fit_hair ../shared/data/celeba [--out stitchtime/weights/hair]

1. dlib's 68 landmarks on every image of ``img_align_celeba`` (``pipelines/fit_geometry.py``'s cache).
2. Each face's hair colour relative to its skin (:func:`stitchtime.faces.hair.hair_stats`: the
   hair mask of :mod:`stitchtime.faces.hair` on the one image, Lab median of the hair minus that of
   the upper cheeks and nose, and the hair's lightness spread), on up to 300 train faces with
   each hair-colour label and as many without any.
3. Per attribute (Blond_Hair, Gray_Hair, Black_Hair, Brown_Hair): the median relative colour and
   spread of the faces with the label (what strength 1 gives) and of the faces without it (what
   -1 gives).
4. Reported on the test split: how well the distance to the attribute's colour tells the label
   (AUC), evidence that the mask finds the hair and the colour means the label.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from pipelines.fit_geometry import CelebaFit
from stitchtime.editors.hair import SEGMENTER_PATH, HairModel
from stitchtime.faces.hair import SEGMENTER_FILE, HairColours, PersonSegmenter, hair_stats, head_view

ATTRS = ("Blond_Hair", "Gray_Hair", "Black_Hair", "Brown_Hair")
PER_LABEL = 300  # train faces per hair-colour label (and without any); a third as many of the test split


def main() -> None:
    from sklearn.metrics import roc_auc_score

    fit = CelebaFit.from_command_line(__doc__.splitlines()[0], Path("stitchtime/weights/hair"))
    args, data, names, table, split = fit.args, fit.data, fit.names, fit.table, fit.split
    per_label = PER_LABEL
    segmenter = PersonSegmenter(SEGMENTER_PATH)
    files = [str(n) for n in data["names"]]
    lms = {f: lm for f, lm in zip(files, data["landmarks"]) if np.isfinite(lm).all()}
    col = {a: names.index(a) for a in ATTRS}
    rng = np.random.default_rng(0)
    chosen: set[str] = set()
    for part in ("train", "test"):
        pool = [f for f in lms if split.get(f, "train") == part]
        for a in (*ATTRS, None):
            has = [f for f in pool if (table[f][col[a]] > 0.5 if a else all(table[f][c] < 0.5 for c in col.values()))]
            k = per_label if part == "train" else per_label // 3
            chosen.update(rng.choice(has, min(k, len(has)), replace=False).tolist())
    stats, kept = [], []
    for i, f in enumerate(sorted(chosen)):
        bgr = cv2.imread(str(args.celeba / "img_align_celeba" / f))
        if bgr is None:
            continue
        view = head_view(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), lms[f], segmenter)
        colours = HairColours.fit([view])
        colours.tabled = False  # (one image)
        s = hair_stats([view], colours)
        if s is not None:
            stats.append(s)
            kept.append(f)
        if i % 200 == 0:
            print(f"{i}/{len(chosen)} faces, {len(kept)} with hair", flush=True)
    stats = np.stack(stats)
    parts = np.array([split.get(f, "train") for f in kept])
    labels = {a: np.array([table[f][col[a]] > 0.5 for f in kept]) for a in ATTRS}
    train, test = parts == "train", parts == "test"
    models, report = {}, {}
    for a in ATTRS:
        y = labels[a]
        on, off = stats[train & y], stats[train & ~y]
        # (relative Lab, spread, and the chroma as it is: relative + the skin's)
        own = lambda x: np.concatenate([x[:, :4], x[:, 1:3] + x[:, 5:7]], 1)
        model = HairModel(a, np.median(own(on), 0), np.median(own(off), 0))
        d = np.linalg.norm(stats[test][:, :3] - model.target[:3], axis=1)
        auc = roc_auc_score(y[test], -d)
        report[a] = {
            "train_faces": [int(len(on)), int(len(off))],
            "target_lab_spread": [round(float(v), 2) for v in model.target],
            "without_lab_spread": [round(float(v), 2) for v in model.without],
            "test_auc": round(float(auc), 3),
        }
        models[a] = model
        print(a, report[a], flush=True)
    HairModel.save_all(models, args.out, {"faces": len(kept), "test": report})
    if Path(args.out).resolve() != SEGMENTER_PATH.parent.resolve():
        shutil.copy(SEGMENTER_PATH, Path(args.out) / SEGMENTER_FILE)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
