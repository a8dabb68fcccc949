"""Tiny data folders and configs for fast generative tests."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch

ATTRS = ["Smiling", "Young", "Male"]
TINY_AE = {"image_size": 16, "channels": (8, 16), "res_blocks": 1, "latent_dim": 8, "perceptual": "laplacian"}
TINY_GAN = {"image_size": 16, "z_dim": 8, "g_channels": (16, 8), "d_channels": (8, 16)}


def write_prepared_celeba(root: Path, n: int = 24, size: int = 16, seed: int = 0) -> Path:
    """A synthetic prepared CelebA folder: images/*.png, attributes.csv (0/1), split.csv.

    Attribute 0 (Smiling) makes the image bright in the lower half, attribute 2 (Male) adds blue,
    so a conditional model has something to learn.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, splits = [], []
    for i in range(n):
        attrs = rng.integers(0, 2, len(ATTRS))
        image = rng.integers(40, 90, (size, size, 3)).astype(np.uint8)
        if attrs[0]:
            image[size // 2 :] += 120
        if attrs[2]:
            image[..., 0] += 100  # BGR: blue
        name = f"{i:06d}.png"
        cv2.imwrite(str(root / "images" / name), image)
        rows.append([name, *attrs.tolist()])
        splits.append([name, "train" if i < n - 4 else "test"])
    with open(root / "attributes.csv", "w", newline="") as f:
        csv.writer(f).writerows([["filename", *ATTRS], *rows])
    with open(root / "split.csv", "w", newline="") as f:
        csv.writer(f).writerows([["filename", "split"], *splits])
    return root


class BatchDataset(torch.utils.data.Dataset):
    """The items of one batch dict (tensors with the item on dim 0), with attribute names, for
    running the Trainer on in-memory data."""

    def __init__(self, batch: dict[str, torch.Tensor], cond_names: list[str]):
        self.batch, self.cond_names = batch, cond_names

    def __len__(self) -> int:
        return len(next(iter(self.batch.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.batch.items()}
