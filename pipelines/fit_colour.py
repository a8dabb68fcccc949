"""Fit the colour editor's lip and eyeliner colours on CelebA (``stitchtime/weights/colour``).

    .venv/bin/python -m pipelines.fit_colour ../shared/data/celeba [--out stitchtime/weights/colour]

1. dlib's 68 landmarks on every image of ``img_align_celeba`` (``pipelines/fit_geometry.py``'s cache).
2. Each face's lip and lash-line colour relative to its skin
   (:func:`stitchtime.editors.colour.region_colours`: Lab median of the part minus that of the
   cheeks beside the mouth).
3. Per attribute and part (Wearing_Lipstick: the lips; Heavy_Makeup: the lips and the liner), among
   the women of the train split: the mean difference with the label and without (the edit's colour
   change), and how far the part goes along it (the levels of the boldest tenth with the label and
   of the median face without).
4. Reported on the test split's women: how well each part's level alone tells the label (AUC).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipelines.fit_geometry import CelebaFit
from stitchtime.editors.colour import REGIONS, ColourModel, fit_colour, region_colours

ATTRS = {"Wearing_Lipstick": ("lips",), "Heavy_Makeup": ("lips", "liner")}


def main() -> None:
    from sklearn.metrics import roc_auc_score

    fit = CelebaFit.from_command_line(__doc__.splitlines()[0], Path("stitchtime/weights/colour"))
    args, data, names, table, split = fit.args, fit.data, fit.names, fit.table, fit.split
    files, colours = [], {a: [] for a in ATTRS}
    for name, lm in zip(data["names"], data["landmarks"]):
        bgr = None if not np.isfinite(lm).all() else cv2.imread(str(args.celeba / "img_align_celeba" / str(name)))
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        # each attribute's parts measured together, as its editor measures them (the parts reach
        # decides the box the face is resized in)
        c = {a: region_colours(rgb, lm, regions) for a, regions in ATTRS.items()}
        if c["Wearing_Lipstick"]["lips"] is not None:  # (the faces lipstick's fit has always had)
            files.append(str(name))
            for a in ATTRS:
                colours[a].append([np.full(3, np.nan) if c[a].get(r) is None else c[a][r] for r in REGIONS])
    colours = {a: np.array(v) for a, v in colours.items()}  # (N, parts, 3): NaN where not measured
    label = {a: np.array([table[f][names.index(a)] for f in files]) > 0.5 for a in (*ATTRS, "Male")}
    parts = np.array([split.get(f, "train") for f in files])
    women = ~label["Male"]
    train, test = women & (parts == "train"), women & (parts == "test")
    models, report = {}, {}
    for attr, regions in ATTRS.items():
        y = label[attr]
        models[attr], report[attr] = {}, {"train_women": [int((train & y).sum()), int((train & ~y).sum())]}
        for region in regions:
            c = colours[attr][:, REGIONS.index(region)]
            seen = np.isfinite(c).all(1)
            model = fit_colour(c[train & seen], y[train & seen], attr, region)
            report[attr][region] = {
                "faces": int((train & seen).sum()),
                "shift_lab": [round(float(v), 2) for v in model.shift],
                "floor_ceiling": [round(model.floor, 2), round(model.ceiling, 2)],
                "test_auc": round(float(roc_auc_score(y[test & seen], model.level(c[test & seen]))), 3),
            }
            models[attr][region] = model
        print(attr, report[attr], flush=True)
    ColourModel.save_all(models, args.out, {"faces": len(files), "test": report})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
