"""Data sets (image folders, CelebA attributes, paired and unpaired domains) and image helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import Dataset

from generative.data.datasets import (
    CelebADataset,
    ImageFolderDataset,
    PairedDataset,
    UnpairedDataset,
    decode_square,
    domain_folders,
    is_celeba_folder,
    match_names,
)
from generative.data.images import list_images
from generative.errors import DatasetError
from generative.training.family import DataKind

__all__ = [
    "CelebADataset",
    "DomainImages",
    "ImageFolderDataset",
    "PairedDataset",
    "UnpairedDataset",
    "build_dataset",
    "domain_images",
    "domain_folders",
    "is_celeba_folder",
    "match_names",
]

#: CelebA rows read per image wanted when a split is divided by an attribute (domains are unequal).
CELEBA_ROWS_PER_IMAGE = 16


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


@dataclass
class DomainImages:
    """One domain's images of a translation data set, as the model takes them."""

    images: torch.Tensor  # (N, 3, S, S) uint8, centre-cropped square and resized as in training
    source: str  # where they came from, for the user ("DATA/testA", "DATA test split, Smiling")
    paths: tuple[Path, ...]  # the image files read (empty where one file holds both domains' halves)
    split_found: bool  # False: the folder has no such split; these are the images the run trained on


def domain_images(
    kind: DataKind | str,
    root: str | Path,
    image_size: int,
    side: str = "a",
    domain: str | None = None,
    split: str = "test",
    limit: int | None = None,
) -> DomainImages:
    """Domain ``side`` ("a" or "b") of the ``split`` of a paired or unpaired data folder, found the
    way :func:`build_dataset` finds the training split (``limit``: at most this many images)."""
    kind, root = DataKind(kind), Path(root)
    if side not in ("a", "b"):
        raise ValueError(f"side must be 'a' or 'b', got {side!r}")
    if not root.is_dir():
        raise DatasetError(f"data folder not found: {root}")
    if kind is DataKind.paired:
        pairs = PairedDataset(root, image_size, split=split, flip=False)
        images = (pairs.a if side == "a" else pairs.b)[:limit]
        found = (root / split).is_dir()
        return DomainImages(images, f"{root / split if found else root}, side {side.upper()}", (), found)
    if kind is not DataKind.unpaired:
        raise DatasetError(f"{kind.value} data has no translation domains")
    if domain:
        if not is_celeba_folder(root):
            raise DatasetError(f"--domain needs a CelebA folder; {root} is not one")
        rows = None if limit is None else limit * CELEBA_ROWS_PER_IMAGE
        celeba = CelebADataset(root, image_size, split=split, flip=False, limit=rows)
        (name,) = match_names([domain], celeba.attr_names)
        has = celeba.attributes[:, celeba.attr_names.index(name)].bool()
        pick = (~has if side == "a" else has).nonzero().flatten()[:limit]
        if not len(pick):
            raise DatasetError(f"no {split} images {'without' if side == 'a' else 'with'} {name} in {root}")
        which = f"not {name}" if side == "a" else name
        return DomainImages(celeba.images[pick], f"{root} {split} split, {which}", (), True)
    folder = domain_folders(root, split)[0 if side == "a" else 1]
    paths = tuple(list_images(folder)[:limit])
    found = folder.name.startswith(split) or folder.parent.name == split
    return DomainImages(decode_square(paths, image_size), str(folder), paths, found)
