"""Quality of trained face models on the CelebA *test* split (identity-disjoint).

    .venv/bin/python benchmarks/models.py --data data/celeba64 --classifier runs/attrclf64 \
        --cvae runs/cvae64 [--write]

* attribute classifier: per-attribute test accuracy vs the majority-class baseline;
* cVAE: test reconstruction PSNR, and for each attribute how often the classifier sees the
  requested attribute after decoding the same latent with it switched on (and off) — on test
  images that did not have it (had it), i.e. the edit success rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from generative.data import build_dataset
from generative.training.checkpoint import load_family

SECTION = "## Face models on the CelebA test split (issues 3 and 4)"


def _batches(ds, n: int):
    for i in range(0, len(ds), n):
        items = [ds[j] for j in range(i, min(len(ds), i + n))]
        yield {k: torch.stack([it[k] for it in items]) for k in items[0]}


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "celeba64")
    parser.add_argument("--classifier", type=Path, default=REPO / "stitchtime" / "weights" / "classifier")
    parser.add_argument("--cvae", type=Path, default=REPO / "stitchtime" / "weights" / "cvae")
    parser.add_argument("--limit", type=int, default=660)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    clf = load_family(args.classifier)
    cvae = load_family(args.cvae)
    names = list(cvae.config.cond_names)
    clf_cols = [list(clf.config.cond_names).index(a) for a in names]
    ds = build_dataset(clf.data, args.data, 64, cond_names=names, split="test", flip=False)
    lines = []
    correct = np.zeros(len(names))
    positives = np.zeros(len(names))
    total = 0
    psnrs = []
    from stitchtime.editors.directions import Directions

    dfile = (args.cvae if args.cvae.is_dir() else args.cvae.parent) / "directions.safetensors"
    directions = Directions.load(dfile) if dfile.exists() else None
    d_on_hits = np.zeros(len(names))
    d_on_n = np.zeros(len(names))
    on_hits = np.zeros(len(names))
    on_n = np.zeros(len(names))
    off_hits = np.zeros(len(names))
    off_n = np.zeros(len(names))
    seen = 0
    for batch in _batches(ds, 64):
        if seen >= args.limit:
            break
        x, c = batch["image"], batch["cond"].float()
        seen += len(x)
        p = clf.predict(x)[:, clf_cols]
        correct += ((p > 0.5).float() == c).float().sum(0).numpy()
        positives += c.sum(0).numpy()
        total += len(x)
        z = cvae.encode(x, c).latent
        rec = cvae.decode(z, c).clamp(-1, 1)
        mse = ((rec - x) ** 2).mean(dim=(1, 2, 3)) / 4.0  # [-1,1] -> [0,1] range
        psnrs += (10 * torch.log10(1.0 / mse)).tolist()
        for k in range(len(names)):
            for target, hits, n in ((1.0, on_hits, on_n), (0.0, off_hits, off_n)):
                rows = c[:, k] != target
                if not rows.any():
                    continue
                c2 = c[rows].clone()
                c2[:, k] = target
                out = cvae.decode(z[rows], c2).clamp(-1, 1)
                q = clf.predict(out)[:, clf_cols[k]]
                hits[k] += float(((q > 0.5).float() == target).sum())
                n[k] += int(rows.sum())
                if directions is not None and target == 1.0:
                    z2 = z[rows] + torch.from_numpy(directions.shift(names[k], 1.0))
                    q2 = clf.predict(cvae.decode(z2, c[rows]).clamp(-1, 1))[:, clf_cols[k]]
                    d_on_hits[k] += float((q2 > 0.5).sum())
                    d_on_n[k] += int(rows.sum())
    acc = correct / total
    base = np.maximum(positives, total - positives) / total
    lines.append(f"Test images: {total}; cVAE test reconstruction PSNR: {np.mean(psnrs):.2f} dB (64x64).\n")
    lines.append(
        "| attribute | classifier acc | majority baseline | edit on (cond): attribute seen "
        "| edit on (direction): seen | edit off (cond): attribute gone |"
    )
    lines.append("|---|---|---|---|---|---|")
    for k, a in enumerate(names):
        on = f"{on_hits[k] / on_n[k]:.2f} (n={int(on_n[k])})" if on_n[k] else "-"
        off = f"{off_hits[k] / off_n[k]:.2f} (n={int(off_n[k])})" if off_n[k] else "-"
        don = f"{d_on_hits[k] / d_on_n[k]:.2f}" if d_on_n[k] else "-"
        lines.append(f"| {a} | {acc[k]:.3f} | {base[k]:.3f} | {on} | {don} | {off} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        cmd = (
            "`.venv/bin/python benchmarks/models.py --write` "
            "(defaults: the shipped weights, data/celeba64 from `stitchtime prepare celeba`)"
        )
        text = f"{SECTION}\n\nCommand: {cmd}.\n\n{table}\n"
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
