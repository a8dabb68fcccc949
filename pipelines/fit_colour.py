"""Fit the colour editor's lip colours on CelebA (``stitchtime/weights/colour``).

    .venv/bin/python -m pipelines.fit_colour ../shared/data/celeba [--out stitchtime/weights/colour]

1. dlib's 68 landmarks on every image of ``img_align_celeba`` (``pipelines/fit_geometry.py``'s cache).
2. Each face's lip colour relative to its skin (:func:`stitchtime.editors.colour.lip_colour`: Lab
   median of the lips minus that of the cheeks beside the mouth).
3. Per attribute (Wearing_Lipstick), among the women of the train split: the mean difference with
   the label and without (the edit's colour change), and how far lips go along it (the levels of
   the boldest tenth with the label and of the median face without).
4. Reported on the test split's women: how well the level alone tells the label (AUC).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipelines.fit_geometry import CelebaFit
from stitchtime.editors.colour import ColourModel, fit_colour, lip_colour

ATTRS = ("Wearing_Lipstick",)


def main() -> None:
    from sklearn.metrics import roc_auc_score

    fit = CelebaFit.from_command_line(__doc__.splitlines()[0], Path("stitchtime/weights/colour"))
    args, data, names, table, split = fit.args, fit.data, fit.names, fit.table, fit.split
    files, colours = [], []
    for name, lm in zip(data["names"], data["landmarks"]):
        if not np.isfinite(lm).all():
            continue
        bgr = cv2.imread(str(args.celeba / "img_align_celeba" / str(name)))
        c = None if bgr is None else lip_colour(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), lm)
        if c is not None:
            files.append(str(name))
            colours.append(c)
    colours = np.stack(colours)
    label = {a: np.array([table[f][names.index(a)] for f in files]) > 0.5 for a in (*ATTRS, "Male")}
    parts = np.array([split.get(f, "train") for f in files])
    women = ~label["Male"]
    train, test = women & (parts == "train"), women & (parts == "test")
    models, report = {}, {}
    for attr in ATTRS:
        y = label[attr]
        model = fit_colour(colours[train], y[train], attr)
        auc = roc_auc_score(y[test], model.level(colours[test]))
        report[attr] = {
            "train_women": [int((train & y).sum()), int((train & ~y).sum())],
            "shift_lab": [round(float(v), 2) for v in model.shift],
            "floor_ceiling": [round(model.floor, 2), round(model.ceiling, 2)],
            "test_auc": round(float(auc), 3),
        }
        models[attr] = model
        print(attr, report[attr], flush=True)
    ColourModel.save_all(models, args.out, {"faces": len(files), "test": report})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
