"""Fit InterFaceGAN-style linear attribute directions in a cVAE's latent space.

    python -m pipelines.fit_directions --model runs/cvae64 --data data/celeba64

Encodes the train split (attributes given to the encoder as labelled), fits one logistic
regression per attribute, and writes ``directions.safetensors`` beside the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from generative.data import build_dataset
from stitchtime.editors.directions import fit_directions
from stitchtime.editors.models import DIRECTIONS_FILE, load_editor_models


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=8000)
    args = parser.parse_args()
    models = load_editor_models(args.model)
    names = models.attributes
    ds = build_dataset("attributes", args.data, models.image_size, cond_names=names, split="train", flip=False)
    n = min(len(ds), args.limit)
    zs, ys = [], []
    for i in range(0, n, 256):
        items = [ds[j] for j in range(i, min(n, i + 256))]
        x = torch.stack([it["image"] for it in items])
        c = torch.stack([it["cond"] for it in items]).float()
        zs.append(models.cvae.encode(x, c).latent.numpy())
        ys.append(c.numpy())
    d = fit_directions(np.concatenate(zs), np.concatenate(ys), names)
    base = args.model if args.model.is_dir() else args.model.parent
    d.save(base / DIRECTIONS_FILE)
    for name, acc, step in zip(d.names, d.accuracy, d.steps):
        print(f"{name:<22} held-out acc {acc:.3f}  step {step:.3f}")


if __name__ == "__main__":
    main()
