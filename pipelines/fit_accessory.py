"""Fit the accessory editor's eyeglasses on CelebA (``stitchtime/weights/accessory``).

    .venv/bin/python -m pipelines.fit_accessory ../shared/data/celeba [--out stitchtime/weights/accessory]

1. dlib's 68 landmarks on every image of ``img_align_celeba`` (``pipelines/fit_geometry.py``'s cache),
   and every face warped onto the canvas of the mean shape (:mod:`stitchtime.editors.shading`), Lab L.
2. The train split's clear glasses: faces labelled Eyeglasses whose lenses are no darker against
   the cheek than all but the darkest 5% of faces without glasses are (sunglasses left out).
3. The lens outline: :func:`stitchtime.editors.accessory.fit_lens` on their mean canvas minus the
   mean canvas of the faces without glasses.
4. The rim: its width, the median half-depth width of the dark rim across the outline on each of
   those faces (at CelebA's resolution, about 2 px per 0.04 inter-ocular distances, so it errs
   bold), and its colour, the median over them of the darkest third of the pixels on the outline.
5. The detector of glasses worn: a logistic regression on
   :func:`stitchtime.editors.accessory.glasses_features` (the lines a frame draws across the nose
   and below the eyes) over the train split (all glasses, dark ones too), its AUC reported on the
   test split; its threshold finds 95% of the train split's glasses.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipelines.fit_geometry import CelebaFit
from stitchtime.editors.accessory import (
    CHEEK_ZONE,
    GlassesModel,
    _sample,
    canvas_grid,
    canvas_lightness,
    fit_lens,
    glasses_features,
    outline,
)
from stitchtime.editors.shading import warp_to_canvas
from stitchtime.faces.shape import normalise

ATTR = "Eyeglasses"
CLEAR_QUANTILE = 0.05  # of faces without glasses: how dark a lens may be and still count as clear
# The detector's threshold finds this share of the train split's glasses: a second pair drawn over
# glasses is worse than a bare face left without them
RECALL = 0.95
RIM_DEPTH = 8.0  # Lab L: how much darker than its surroundings a rim must be to be measured


def rim_width(canvases: np.ndarray, lens: np.ndarray) -> float:
    """The median over faces and places of the rim's half-depth width (IOD) across the lens outline
    (at its bottom, its outer side and between), on each face's own canvas Lab L: the average face
    would blur the rims of many faces together. Places where the rim is not at least
    :data:`RIM_DEPTH` darker than its surroundings are skipped."""
    cx, cy, a, b, p = lens
    widths = []
    for canvas in canvases:
        for side in (-1, 1):
            for angle in (np.pi / 2, 0.0, 0.3 * np.pi, -0.3 * np.pi):
                r = np.linspace(0.75, 1.25, 101)
                c, s = np.cos(angle), np.sin(angle)
                x = cx + r * a * np.sign(c) * abs(c) ** (2 / p)
                pts = np.stack([side * x, cy + r * b * np.sign(s) * abs(s) ** (2 / p)], 1)
                prof = _sample(canvas, pts)
                k = int(np.argmin(prof))
                depth = float(np.median(prof) - prof[k])
                if depth < RIM_DEPTH:
                    continue
                half = prof[k] + depth / 2
                lo, hi = k, k
                while lo > 0 and prof[lo - 1] < half:
                    lo -= 1
                while hi < len(prof) - 1 and prof[hi + 1] < half:
                    hi += 1
                widths.append((hi - lo + 1) * float(np.linalg.norm(pts[1] - pts[0])))
    return float(np.median(widths))


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    fit = CelebaFit.from_command_line(__doc__.splitlines()[0], Path("stitchtime/weights/accessory"))
    args, data, names, table, split = fit.args, fit.data, fit.names, fit.table, fit.split
    ok = np.isfinite(data["landmarks"]).all(axis=(1, 2))
    files = [str(n) for n, good in zip(data["names"], ok) if good]
    pixels = data["landmarks"][ok]
    mean_shape = normalise(pixels).mean(0).astype(np.float32)
    keep, canvases, colour, lines = [], [], [], []
    for i, f in enumerate(files):
        bgr = cv2.imread(str(args.celeba / "img_align_celeba" / f))
        if bgr is None:
            continue
        canvas = warp_to_canvas(bgr, pixels[i], mean_shape)
        keep.append(i)
        canvases.append(cv2.cvtColor(canvas.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)[..., 0])
        colour.append(canvas[..., ::-1])  # RGB
        lines.append(glasses_features(canvas_lightness(bgr, pixels[i], mean_shape, bgr=True)))
    files = [files[i] for i in keep]
    lab_l, colour = np.stack(canvases), np.stack(colour)
    label = np.array([table[f][names.index(ATTR)] for f in files]) > 0.5
    parts = np.array([split.get(f, "train") for f in files])
    train, test = parts == "train", parts == "test"
    x, y = canvas_grid()
    band = (np.abs(np.abs(x) - 0.5) < 0.3) & (y > 0.12) & (y < 0.3)  # below the eyes, inside any lens
    (c0, c1), (c2, c3) = CHEEK_ZONE  # below any lens
    cheek = (np.abs(x) > c0) & (np.abs(x) < c1) & (y > c2) & (y < c3)
    dark = lab_l[:, cheek].mean(1) - lab_l[:, band].mean(1)
    clear = label & (dark < np.quantile(dark[~label], 1 - CLEAR_QUANTILE))
    difference = lab_l[train & clear].mean(0) - lab_l[train & ~label].mean(0)
    lens, residual = fit_lens(difference)
    width = rim_width(lab_l[train & clear], lens)
    rims = []
    for i in np.nonzero(train & clear)[0]:
        pts = np.concatenate([outline(lens, -1), outline(lens, 1)])
        light = _sample(lab_l[i], pts)
        rgb = np.stack([_sample(colour[i][..., c].astype(np.float32), pts) for c in range(3)], 1)
        rims.append(np.median(rgb[light <= np.quantile(light, 1 / 3)], 0))
    rim_colour = np.median(np.stack(rims), 0)
    features = np.stack(lines)
    clf = LogisticRegression(class_weight="balanced", max_iter=1000).fit(features[train], label[train])
    p_train = clf.predict_proba(features[train])[:, 1]
    threshold = float(np.quantile(p_train[label[train]], 1 - RECALL))
    model = GlassesModel(
        ATTR,
        lens.astype(np.float32),
        np.array([width, *rim_colour], np.float32),
        np.array([*clf.coef_[0], clf.intercept_[0], threshold], np.float32),
        mean_shape,
    )
    worn = model.worn(features[test])
    report = {
        "train_glasses": [int((train & label).sum()), int((train & clear).sum())],
        "train_without": int((train & ~label).sum()),
        "lens": [round(float(v), 3) for v in lens],
        "lens_fit_residual": round(residual, 4),
        "rim_width_iod": round(width, 4),
        "rim_rgb": [round(float(v), 1) for v in rim_colour],
        "detector_test_auc": round(float(roc_auc_score(label[test], worn)), 3),
        "detector_threshold": round(threshold, 3),
        "detector_test_recall": round(float((worn[label[test]] > threshold).mean()), 3),
        "detector_test_false_positives": round(float((worn[~label[test]] > threshold).mean()), 3),
    }
    print(ATTR, report, flush=True)
    GlassesModel.save_all({ATTR: model}, args.out, {"faces": len(files), "test": {ATTR: report}})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
