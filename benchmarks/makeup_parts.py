"""Which parts of the face CelebA's Heavy_Makeup label changes: the evidence for what the makeup edit recolours.

    .venv/bin/python benchmarks/makeup_parts.py ../shared/data/celeba [--write]

On every CelebA woman with landmarks (dlib's, from ``pipelines/fit_geometry.py``'s cache), the face
resized so its eyes are 76 px apart as the colour editor measures it, the Lab median of each
candidate part minus that of the skin beside the mouth (the colour editor's reference):
- the liner: the band 0.04 inter-ocular distances (IOD) above each upper lid line, off the eye
  (:func:`stitchtime.editors.colour.measure_masks`, what the edit recolours);
- the lid above it (eyeshadow): 0.04-0.1 and 0.1-0.2 IOD above the upper lid line (the liner's curve);
- the cheekbones (blush): a disk of 0.12 IOD round the centroid of the lower lid's outer point, the
  nose wing and the jaw at the nose's level;
- the lips (:func:`~stitchtime.editors.colour.measure_masks`).
Reported: the mean difference women with the label minus women without (L, a, b) and the AUC of
each channel alone (0.5: it tells nothing; far from 0.5 either way: it tells the label).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from pipelines.fit_geometry import celeba_landmarks, read_attributes
from stitchtime.editors.colour import MEASURE_IOD, UPPER_LIDS, _eye_outlines, _lid_curve, measure_masks, to_lab
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import face_frame

SECTION = "## Makeup: which parts CelebA's label changes (issue 15)"
PARTS = ("liner", "lid 0.04-0.1", "lid 0.1-0.2", "cheekbones", "lips")


def _band(lm: np.ndarray, shape: tuple[int, int], lo: float, hi: float) -> np.ndarray:
    """Bool: the pixels ``lo``-``hi`` IOD above each upper lid line (the liner's smoothed curve,
    between the eye corners), off the eyes."""
    _, axis, iod = face_frame(lm)
    up = np.array([axis[1], -axis[0]]) * iod
    out = np.zeros(shape, bool)
    for lid in UPPER_LIDS:
        line = _lid_curve(lm[lid])
        out |= interior_mask(np.concatenate([line + lo * up, (line + hi * up)[::-1]]), shape) > 0
    return out & ~np.logical_or.reduce([interior_mask(e, shape) > 0 for e in _eye_outlines(lm)])


def part_colours(rgb: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """``(len(PARTS), 3)`` each part's Lab median minus the skin's, or None (too small)."""
    f = MEASURE_IOD / float(face_frame(lm)[2])
    big = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
    p = (lm + 0.5) * f - 0.5
    shape = big.shape[:2]
    masks = measure_masks(p, shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cheeks = np.zeros(shape, bool)
    for tri in ((41, 31, 2), (46, 35, 14)):
        c = p[list(tri)].mean(0)
        cheeks |= np.hypot(xx - c[0], yy - c[1]) < 0.12 * MEASURE_IOD
    parts = [masks["liner"], _band(p, shape, 0.04, 0.1), _band(p, shape, 0.1, 0.2), cheeks, masks["lips"]]
    if min(m.sum() for m in [*parts, masks["skin"]]) < 20:
        return None
    lab = to_lab(big)
    skin = np.median(lab[masks["skin"]], 0)
    return np.stack([np.median(lab[m], 0) - skin for m in parts])


def main() -> None:
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("celeba", type=Path)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    data = celeba_landmarks(args.celeba)
    names, table = read_attributes(args.celeba)
    label, colours = [], []
    for name, lm in zip(data["names"], data["landmarks"]):
        row = table[str(name)]
        if not np.isfinite(lm).all() or row[names.index("Male")] > 0.5:
            continue
        bgr = cv2.imread(str(args.celeba / "img_align_celeba" / str(name)))
        c = None if bgr is None else part_colours(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), lm.astype(np.float64))
        if c is not None:
            colours.append(c)
            label.append(row[names.index("Heavy_Makeup")] > 0.5)
    y, x = np.array(label), np.stack(colours)
    rows = [
        "| part | mean change with the label (L, a, b) | AUC of L, a, b alone |\n|---|---|---|",
    ]
    for i, part in enumerate(PARTS):
        d = x[y, i].mean(0) - x[~y, i].mean(0)
        auc = [roc_auc_score(y, x[:, i, k]) for k in range(3)]
        rows.append(f"| {part} | {d[0]:+.2f}, {d[1]:+.2f}, {d[2]:+.2f} | {auc[0]:.2f}, {auc[1]:.2f}, {auc[2]:.2f} |")
    text = (
        f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/makeup_parts.py ../shared/data/celeba --write` "
        f"({len(y)} CelebA women, {int(y.sum())} labelled Heavy_Makeup; see the script for the parts).\n\n"
        + "\n".join(rows)
        + "\n"
    )
    if args.write:
        write_section(SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
