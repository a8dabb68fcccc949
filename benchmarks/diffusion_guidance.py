"""How far "strength 1" should push each attribute with the diffusion editor, on the CelebA test split.

    .venv/bin/python benchmarks/diffusion_guidance.py [--ddpm stitchtime/weights/ddpm] [--judge runs/attrclf64_judge]
        [--write]

For each attribute and the direction strength +1 asks for (e.g. age: less Young), test faces
without it are DDIM-inverted to each depth with the classifier's attribute estimate, regenerated
unguided (the reconstruction) and with the attribute set, guided w times from the face's own
attributes: the diffusion editor's own keyframe edit (`DiffusionEditor.edit_keyframes`). The change is added to the
face itself (as the video pipeline adds it to the crop). Reported: the share of faces the judge
(a classifier that played no part in training) reads as edited, and the size of the change (PSNR
of the edited face against the face; lower = larger change). The per-attribute guidance in
stitchtime/editors/attributes.py is read off this table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import judged_cell, write_section
from generative.data import build_dataset
from generative.training.checkpoint import load_family
from stitchtime.config import DiffusionEditConfig
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.diffusion import DiffusionEditor
from stitchtime.editors.models import DiffusionModels

SECTION = "## Diffusion edit guidance per attribute (issue 4)"


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ddpm", type=Path, default=REPO / "stitchtime" / "weights" / "ddpm")
    parser.add_argument("--classifier", type=Path, default=REPO / "stitchtime" / "weights" / "classifier")
    parser.add_argument("--judge", type=Path, default=REPO / "runs" / "attrclf64_judge")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "celeba64")
    parser.add_argument(
        "--attrs", default="smile,age,gender,mouth_open,glasses,beard,blond_hair,black_hair,gray_hair,bangs,makeup"
    )
    parser.add_argument("--depths", default="0.6,0.8")
    parser.add_argument("--guidance", default="2,4,6,8")
    parser.add_argument(
        "--steps",
        type=int,
        default=DiffusionEditConfig.steps,
        help="DDIM steps over the schedule (default: the editor's)",
    )
    parser.add_argument("--n", type=int, default=48, help="faces per attribute")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    ddpm = load_family(args.ddpm).eval()
    clf = load_family(args.classifier).eval()
    judge = load_family(args.judge).eval()
    names = list(ddpm.config.cond_names)
    models = DiffusionModels(
        classifier=clf, source=args.ddpm, attributes=names, image_size=int(ddpm.config.image_size), ddpm=ddpm
    )
    clf_cols = models.classifier_columns()
    judge_cols = list(judge.config.cond_names)
    ds = build_dataset("attributes", args.data, 64, cond_names=names, split="test", flip=False)
    depths = [float(d) for d in args.depths.split(",")]
    scales = [float(g) for g in args.guidance.split(",")]
    labels = torch.stack([ds[i]["cond"] for i in range(len(ds))]).float()
    head = "| attribute | faces | " + " | ".join(f"depth {d:g}, w {g:g}" for d in depths for g in scales) + " |"
    rows = [head, "|---|---:|" + "---|" * (len(depths) * len(scales))]
    for attr in args.attrs.split(","):
        a = ATTRIBUTES[attr]
        if a.celeba not in names or a.celeba not in judge_cols:
            continue
        k = names.index(a.celeba)
        target = 1.0 if a.sign > 0 else 0.0
        idx = torch.nonzero(labels[:, k] != target).flatten()[: args.n]
        x = torch.stack([ds[int(i)]["image"] for i in idx])
        c = clf.predict(x)[:, clf_cols]
        cells = []
        for d in depths:
            for g in scales:
                editor = DiffusionEditor(models, a, 1.0, DiffusionEditConfig(depth=d, steps=args.steps, guidance=g))
                out = (x + editor.edit_keyframes(list(x), c.numpy()).float()).clamp(-1, 1)
                cells.append(judged_cell(judge, out, x, judge_cols.index(a.celeba), target))
        rows.append(f"| {attr} ({a.help}) | {len(idx)} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/diffusion_guidance.py {' '.join(sys.argv[1:])}` "
            f"({args.ddpm.relative_to(REPO) if args.ddpm.is_relative_to(REPO) else args.ddpm}, "
            f"judge runs/attrclf64_judge, up to {args.n} test faces without the attribute each, "
            f"{args.steps} DDIM steps over the schedule). "
            "Each cell: share of edited faces the judge reads as edited (PSNR of the edited face against the face). "
            "The guidance strength 1 uses per attribute is in `stitchtime/editors/attributes.py`.\n\n" + table + "\n"
        )
        write_section(SECTION, text)
    print(table)


if __name__ == "__main__":
    main()
