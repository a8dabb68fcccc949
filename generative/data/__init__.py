"""Data sets (image folders, CelebA attributes, paired and unpaired domains) and image helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torch.utils.data import Dataset

from generative.data.datasets import (
    CelebADataset,
    ImageFolderDataset,
    PairedDataset,
    UnpairedDataset,
    is_celeba_folder,
    match_names,
)
from generative.errors import DatasetError
from generative.training.family import DataKind

__all__ = [
    "CelebADataset",
    "ImageFolderDataset",
    "PairedDataset",
    "UnpairedDataset",
    "build_dataset",
    "is_celeba_folder",
    "match_names",
]


def build_dataset(
    kind: DataKind | str,
    root: str | Path,
    image_size: int,
    cond_names: Sequence[str] | None = None,
    domain: str | None = None,
    split: str = "train",
    flip: bool = True,
) -> Dataset:
    """The data set a family of ``kind`` trains on (``family.data``), read from ``root``."""
    kind = DataKind(kind)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder not found: {root}")
    if kind is DataKind.images:
        if is_celeba_folder(root):
            return CelebADataset(root, image_size, split=split, flip=flip)
        return ImageFolderDataset(root, image_size, flip=flip)
    if kind is DataKind.attributes:
        if not cond_names:
            raise DatasetError("a conditional family needs attribute names (--attrs Smiling,Young,...)")
        return CelebADataset(root, image_size, attrs=cond_names, split=split, flip=flip)
    if kind is DataKind.paired:
        return PairedDataset(root, image_size, split=split, flip=flip)
    if domain:
        if not is_celeba_folder(root):
            raise DatasetError(f"--domain needs a CelebA folder; {root} is not one")
        return UnpairedDataset.from_celeba(CelebADataset(root, image_size, split=split, flip=flip), domain, flip=flip)
    return UnpairedDataset.from_folders(root, image_size, split=split, flip=flip)
