"""Image data sets. Every item is a dict of float tensors in ``[-1, 1]`` (see ``training/family.py``).

All sets decode every image once, at construction, into one ``(N, 3, S, S)`` uint8 tensor
(15k 64x64 faces = 190 MB), so training never waits on JPEG decoding and random flips are the
only per-item work. Random flips use the global torch RNG (seeded and checkpointed by the trainer).
"""

from __future__ import annotations

import csv
import difflib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from generative.data.images import (
    IMAGE_SUFFIXES,
    center_crop,
    list_images,
    read_rgb,
    resize,
    to_tensor_uint8,
    uint8_to_float,
)
from generative.errors import DatasetError

SPLITS = ("train", "val", "test")
CELEBA_SPLIT_CODES = {"0": "train", "1": "val", "2": "test"}  # list_eval_partition.txt
# Raw CelebA "img_align_celeba" (178x218): a square face crop; fractions of the width / height.
RAW_CELEBA_CROP_FRACTION = 140 / 178  # crop side / image width
RAW_CELEBA_CENTER_Y_FRACTION = 121 / 218  # crop centre row / image height
DECODE_THREADS = 4  # OpenCV releases the GIL while decoding


def _decode_all(paths: Sequence[Path], prepare: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
    if not paths:
        raise DatasetError("no images to load")
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        images = list(pool.map(lambda p: prepare(read_rgb(p)), paths))
    return to_tensor_uint8(images)


def _square(image_size: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda image: resize(center_crop(image), image_size)


def decode_square(paths: Sequence[Path], image_size: int) -> torch.Tensor:
    """``(N, 3, S, S)`` uint8: each image centre-cropped square and resized, as the folder sets do."""
    return _decode_all(paths, _square(image_size))


def _maybe_flip(image: torch.Tensor, flip: bool) -> torch.Tensor:
    return image.flip(-1) if flip and torch.rand(()) < 0.5 else image


def match_names(requested: Sequence[str], available: Sequence[str], what: str = "attribute") -> list[str]:
    """Map user spellings to canonical names: exact, case-insensitive, unique prefix, then closest match.

    ``smiling``/``Smil``/``smile`` -> ``Smiling``. Raises DatasetError listing valid names otherwise.
    """
    lower = {name.lower(): name for name in available}
    out = []
    for raw in requested:
        key = raw.strip().lower().replace("-", "_").replace(" ", "_")
        if key in lower:
            out.append(lower[key])
            continue
        prefixed = [name for low, name in lower.items() if low.startswith(key)]
        close = difflib.get_close_matches(key, list(lower), n=2, cutoff=0.6)
        if len(prefixed) == 1:
            out.append(prefixed[0])
        elif not prefixed and len(close) >= 1 and (len(close) == 1 or close[0] != close[1]):
            out.append(lower[close[0]])
        else:
            raise DatasetError(f"unknown {what} {raw!r}; valid: {', '.join(available)}")
    return out


class ImageFolderDataset(Dataset):
    """Every image under ``root`` (recursively), centre-cropped square and resized. Items: ``{"image"}``."""

    def __init__(self, root: str | Path, image_size: int, flip: bool = True) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"data folder not found: {root}")
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.paths:
            raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
        self.flip = flip
        self.images = _decode_all(self.paths, _square(image_size))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": _maybe_flip(uint8_to_float(self.images[index]), self.flip)}


def is_celeba_folder(root: Path) -> bool:
    """A prepared folder (``images/`` + ``attributes.csv``) or the raw CelebA layout."""
    root = Path(root)
    return (root / "attributes.csv").is_file() or (root / "list_attr_celeba.txt").is_file()


class CelebADataset(Dataset):
    """CelebA faces with their 40 binary attributes. Items: ``{"image"}`` plus ``{"cond"}`` if ``attrs``.

    Two layouts are read:

    * prepared (``stitchtime prepare celeba``): ``images/*.png`` (aligned crops), ``attributes.csv``
      (header ``filename,<40 names>``, values 0/1), ``split.csv`` (``filename,split``; train/val/test);
    * raw CelebA: ``img_align_celeba/``, ``list_attr_celeba.txt`` (1/-1), ``list_eval_partition.txt``
      (0/1/2); images are centre-cropped (:data:`RAW_CELEBA_CROP_FRACTION`). Rows whose image is
      missing are skipped (the attribute list may cover more files than the folder holds).

    ``split`` is ``"train"``, ``"val"``, ``"test"`` or ``"all"``. ``attrs`` selects and orders the
    ``cond`` vector (names matched as in :func:`match_names`; ``self.cond_names`` has the canonical ones).
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        attrs: Sequence[str] | None = None,
        split: str = "train",
        flip: bool = True,
        limit: int | None = None,
    ) -> None:
        root = Path(root)
        if split not in (*SPLITS, "all"):
            raise DatasetError(f"unknown split {split!r}; choose one of {', '.join((*SPLITS, 'all'))}")
        if (root / "attributes.csv").is_file():
            image_dir, names, rows, splits = self._read_prepared(root)
            prepare = _square(image_size)
        elif (root / "list_attr_celeba.txt").is_file():
            image_dir, names, rows, splits = self._read_raw(root)
            prepare = self._raw_crop(image_size)
        else:
            raise DatasetError(
                f"{root} is not a CelebA folder "
                "(need attributes.csv + images/, or list_attr_celeba.txt + img_align_celeba/)"
            )
        present = {p.name for p in image_dir.iterdir()} if image_dir.is_dir() else set()
        if not present:
            raise DatasetError(f"no images in {image_dir}")
        keep = [f for f in rows if f in present and (split == "all" or splits.get(f) == split)]
        if limit is not None:
            keep = keep[:limit]
        if not keep:
            raise DatasetError(f"no {split} images in {root}")
        self.root = root
        self.split = split
        self.flip = flip
        self.filenames = keep
        self.attr_names = names
        self.attributes = torch.tensor(np.array([rows[f] for f in keep]), dtype=torch.uint8)
        self.cond_names = match_names(attrs, names) if attrs else []
        self._cond_index = [names.index(n) for n in self.cond_names]
        self.images = _decode_all([image_dir / f for f in keep], prepare)

    @staticmethod
    def _raw_crop(image_size: int) -> Callable[[np.ndarray], np.ndarray]:
        def prepare(image: np.ndarray) -> np.ndarray:
            h, w = image.shape[:2]
            side = int(round(RAW_CELEBA_CROP_FRACTION * w))
            return resize(center_crop(image, side, RAW_CELEBA_CENTER_Y_FRACTION * h), image_size)

        return prepare

    @staticmethod
    def _read_prepared(root: Path) -> tuple[Path, list[str], dict[str, list[int]], dict[str, str]]:
        try:
            with open(root / "attributes.csv", newline="") as f:
                reader = csv.reader(f)
                header = next(reader)
                if header[0] != "filename" or len(header) < 2:
                    raise DatasetError(f"{root / 'attributes.csv'}: header must be 'filename,<attribute names>'")
                rows = {r[0]: [int(v) for v in r[1:]] for r in reader if r}
            splits: dict[str, str] = {}
            if (root / "split.csv").is_file():
                with open(root / "split.csv", newline="") as f:
                    reader = csv.reader(f)
                    next(reader)
                    splits = {r[0]: r[1] for r in reader if r}
            else:
                splits = dict.fromkeys(rows, "train")
        except (ValueError, IndexError, StopIteration) as err:
            raise DatasetError(f"malformed CSV in {root}: {err}") from None
        bad = {v for r in rows.values() for v in r} - {0, 1}
        if bad:
            raise DatasetError(f"{root / 'attributes.csv'}: attribute values must be 0/1, found {sorted(bad)}")
        return root / "images", header[1:], rows, splits

    @staticmethod
    def _read_raw(root: Path) -> tuple[Path, list[str], dict[str, list[int]], dict[str, str]]:
        try:
            lines = (root / "list_attr_celeba.txt").read_text().splitlines()
            names = lines[1].split()
            rows = {}
            for line in lines[2:]:
                parts = line.split()
                if parts:
                    rows[parts[0]] = [1 if int(v) > 0 else 0 for v in parts[1 : len(names) + 1]]
            splits = {}
            partition = root / "list_eval_partition.txt"
            if partition.is_file():
                for line in partition.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 2:
                        splits[parts[0]] = CELEBA_SPLIT_CODES.get(parts[1], parts[1])
            else:
                splits = dict.fromkeys(rows, "train")
        except (ValueError, IndexError) as err:
            raise DatasetError(f"malformed CelebA list files in {root}: {err}") from None
        return root / "img_align_celeba", names, rows, splits

    def cond(self, index: int | slice | torch.Tensor) -> torch.Tensor:
        """The selected attributes as a float ``{0, 1}`` tensor."""
        return self.attributes[index][..., self._cond_index].float()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": _maybe_flip(uint8_to_float(self.images[index]), self.flip)}
        if self.cond_names:
            item["cond"] = self.cond(index)
        return item


def _split_dir(root: Path, split: str) -> Path:
    return root / split if (root / split).is_dir() else root


class PairedDataset(Dataset):
    """Aligned pairs. Items: ``{"a", "b"}``, flipped together.

    Layouts (under ``root/<split>`` if that folder exists, else ``root``): folders ``A/`` and ``B/``
    holding images with the same file names, or single images with A on the left half and B on the
    right half (the pix2pix convention).
    """

    def __init__(self, root: str | Path, image_size: int, split: str = "train", flip: bool = True) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"data folder not found: {root}")
        base = _split_dir(root, split)
        self.flip = flip
        if (base / "A").is_dir() and (base / "B").is_dir():
            names_a = {p.name for p in list_images(base / "A")}
            names_b = {p.name for p in list_images(base / "B")}
            names = sorted(names_a & names_b)
            if not names:
                raise DatasetError(f"no image names common to {base / 'A'} and {base / 'B'}")
            self.a = _decode_all([base / "A" / n for n in names], _square(image_size))
            self.b = _decode_all([base / "B" / n for n in names], _square(image_size))
        else:
            paths = list_images(base)
            if not paths:
                raise DatasetError(f"no A|B images (or A/ and B/ folders) in {base}")

            def halves(image: np.ndarray) -> np.ndarray:
                w = image.shape[1] // 2
                return np.concatenate(
                    [
                        resize(center_crop(image[:, :w]), image_size),
                        resize(center_crop(image[:, w : 2 * w]), image_size),
                    ],
                    axis=1,
                )

            both = _decode_all(paths, halves)
            self.a, self.b = both[..., :image_size].contiguous(), both[..., image_size:].contiguous()

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        a, b = uint8_to_float(self.a[index]), uint8_to_float(self.b[index])
        if self.flip and torch.rand(()) < 0.5:
            a, b = a.flip(-1), b.flip(-1)
        return {"a": a, "b": b}


def domain_folders(root: str | Path, split: str = "train") -> tuple[Path, Path]:
    """The folders of domains A and B of an unpaired folder layout, for ``split``: the first of
    ``{split}A/ {split}B/`` then ``A/ B/``, each looked for in ``root/{split}`` then ``root``."""
    root = Path(root)
    for name_a, name_b in ((f"{split}A", f"{split}B"), ("A", "B")):
        for base in (root / split, root):
            if (base / name_a).is_dir() and (base / name_b).is_dir():
                return base / name_a, base / name_b
    raise DatasetError(f"no domain folders A/ and B/ (or {split}A/ and {split}B/) in {root}")


class UnpairedDataset(Dataset):
    """Two unaligned domains. Items: ``{"a", "b"}``: ``a`` is image ``index`` of A (cycled), ``b`` a random B.

    Build from two uint8 image tensors, from folders (:meth:`from_folders`: ``A/ B/`` or
    ``trainA/ trainB/``) or from CelebA split by one attribute (:meth:`from_celeba`: A = attribute 0,
    B = attribute 1, e.g. not smiling -> smiling).
    """

    def __init__(
        self, a: torch.Tensor, b: torch.Tensor, flip: bool = True, names: tuple[str, str] = ("A", "B")
    ) -> None:
        if len(a) == 0 or len(b) == 0:
            raise DatasetError(f"both domains need images ({names[0]}: {len(a)}, {names[1]}: {len(b)})")
        self.a, self.b, self.flip, self.domain_names = a, b, flip, names

    @classmethod
    def from_folders(
        cls, root: str | Path, image_size: int, split: str = "train", flip: bool = True
    ) -> "UnpairedDataset":
        dir_a, dir_b = domain_folders(root, split)
        a = _decode_all(list_images(dir_a), _square(image_size))
        b = _decode_all(list_images(dir_b), _square(image_size))
        return cls(a, b, flip, (dir_a.name, dir_b.name))

    @classmethod
    def from_celeba(cls, celeba: CelebADataset, domain: str, flip: bool = True) -> "UnpairedDataset":
        (name,) = match_names([domain], celeba.attr_names)
        column = celeba.attributes[:, celeba.attr_names.index(name)].bool()
        return cls(celeba.images[~column], celeba.images[column], flip, (f"not {name}", name))

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        a = uint8_to_float(self.a[index % len(self.a)])
        b = uint8_to_float(self.b[int(torch.randint(len(self.b), ()))])
        return {"a": _maybe_flip(a, self.flip), "b": _maybe_flip(b, self.flip)}
