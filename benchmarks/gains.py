"""How far "strength 1" should move each attribute: the condition gain, on the CelebA test split.

    .venv/bin/python benchmarks/gains.py [--cvae stitchtime/weights/cvae] [--judge runs/attrclf64_judge] [--write]

For every attribute of the cVAE and both directions (add it to test faces without it, remove it
from faces with it), the latent of each face is decoded with the attribute input moved by the
gain (1 = exactly to present/absent, more extrapolates). Reported: the share of faces the judge
classifier (trained separately, never used in training the cVAE) reads as edited, and how much
the decode changed (PSNR against the unedited decode; lower = larger change). The per-attribute
gains in stitchtime/editors/attributes.py are read off this table.
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
from stitchtime.editors.cvae import edited_condition

SECTION = "## Condition gain per attribute (issue 4)"
GAINS = (1.0, 1.5, 2.0, 2.5, 3.0)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cvae", type=Path, default=REPO / "stitchtime" / "weights" / "cvae")
    parser.add_argument("--judge", type=Path, default=REPO / "runs" / "attrclf64_judge")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "celeba64")
    parser.add_argument("--n", type=int, default=384)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    judge = load_family(args.judge).eval()
    cvae = load_family(args.cvae).eval()
    names = list(cvae.config.cond_names)
    judge_cols = list(judge.config.cond_names)
    ds = build_dataset("attributes", args.data, 64, cond_names=names, split="test", flip=False)
    n = min(args.n, len(ds))
    x = torch.stack([ds[i]["image"] for i in range(n)])
    c = torch.stack([ds[i]["cond"] for i in range(n)]).float()
    z = torch.cat([cvae.encode(x[i : i + 128], c[i : i + 128]).latent for i in range(0, n, 128)])
    rec = cvae.decode(z, c).clamp(-1, 1)
    head = "| attribute | direction | faces | " + " | ".join(f"gain {g:g}" for g in GAINS) + " |"
    rows = [head, "|---|---|---:|" + "---|" * len(GAINS)]
    for k, name in enumerate(names):
        if name not in judge_cols:
            continue
        for target, label in ((1.0, "add"), (0.0, "remove")):
            idx = torch.nonzero(c[:, k] != target).flatten()
            if len(idx) < 8:
                continue
            cells = []
            for g in GAINS:
                c2 = torch.from_numpy(edited_condition(c[idx].numpy(), k, g if target == 1.0 else -g))
                out = cvae.decode(z[idx], c2).clamp(-1, 1)
                cells.append(judged_cell(judge, out, rec[idx], judge_cols.index(name), target))
            rows.append(f"| {name} | {label} | {len(idx)} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/gains.py --write` (shipped cVAE, judge "
            f"runs/attrclf64_judge, {n} test faces). Each cell: share of edited faces the judge reads as "
            "edited (change of the decode, PSNR against the unedited decode). Strength 1 uses the gain "
            "set per attribute and direction in `stitchtime/editors/attributes.py`: 1.5 unless noted "
            "there (older 2.0, more masculine 2.5, beard 2.5, mouth open 2.0, makeup 2.5).\n\n" + table + "\n"
        )
        write_section(SECTION, text)
    print(table)


if __name__ == "__main__":
    main()
