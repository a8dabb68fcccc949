from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch

from generative.data import (
    CelebADataset,
    ImageFolderDataset,
    PairedDataset,
    UnpairedDataset,
    build_dataset,
    match_names,
)
from generative.data.images import make_grid, read_rgb, save_png
from generative.errors import DatasetError
from generative.training.family import DataKind
from tests.generative.helpers import ATTRS


def test_prepared_celeba_split_and_attributes(synthetic_celeba):
    train = CelebADataset(synthetic_celeba, 16, attrs=["male", "smile"], split="train", flip=False)
    test = CelebADataset(synthetic_celeba, 16, split="test")
    assert (len(train), len(test)) == (20, 4)
    assert train.cond_names == ["Male", "Smiling"]
    item = train[0]
    assert item["image"].shape == (3, 16, 16) and item["image"].min() >= -1 and item["image"].max() <= 1
    with open(synthetic_celeba / "attributes.csv") as f:
        row = list(csv.reader(f))[1]
    assert item["cond"].tolist() == [float(row[1 + ATTRS.index("Male")]), float(row[1 + ATTRS.index("Smiling")])]
    assert "cond" not in test[0]


def test_image_decoding_matches_file(synthetic_celeba):
    ds = CelebADataset(synthetic_celeba, 16, split="all", flip=False)
    rgb = read_rgb(synthetic_celeba / "images" / ds.filenames[3])
    assert torch.equal(ds.images[3], torch.from_numpy(rgb).permute(2, 0, 1))


def test_raw_celeba_layout(celeba_dir):
    ds = CelebADataset(celeba_dir, 32, attrs=["Eyeglasses"], split="test", limit=8)
    assert len(ds) == 8 and ds.images.shape == (8, 3, 32, 32)
    assert set(ds.attributes.unique().tolist()) <= {0, 1}


def test_unknown_attribute_lists_valid_names(synthetic_celeba):
    with pytest.raises(DatasetError, match="valid: Smiling, Young, Male"):
        CelebADataset(synthetic_celeba, 16, attrs=["Bald"])
    assert match_names(["SMILING", "smil", "smile"], ATTRS) == ["Smiling"] * 3


def test_not_a_data_folder(tmp_path):
    with pytest.raises(DatasetError):
        CelebADataset(tmp_path, 16)
    with pytest.raises(DatasetError):
        ImageFolderDataset(tmp_path, 16)
    with pytest.raises(DatasetError):
        build_dataset(DataKind.images, tmp_path / "missing", 16)


def test_paired_side_by_side_and_folders(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "sbs" / "train").mkdir(parents=True)
    for folder in ("A", "B"):
        (tmp_path / "ab" / folder).mkdir(parents=True)
    for i in range(3):
        a, b = rng.integers(0, 255, (2, 8, 8, 3)).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "sbs" / "train" / f"{i}.png"), np.concatenate([a, b], axis=1))
        cv2.imwrite(str(tmp_path / "ab" / "A" / f"{i}.png"), a)
        cv2.imwrite(str(tmp_path / "ab" / "B" / f"{i}.png"), b)
    sbs = PairedDataset(tmp_path / "sbs", 8, flip=False)
    ab = PairedDataset(tmp_path / "ab", 8, flip=False)
    assert len(sbs) == len(ab) == 3
    assert torch.equal(sbs.a, ab.a) and torch.equal(sbs.b, ab.b)
    assert not torch.equal(sbs.a, sbs.b)


def test_paired_flip_is_joint(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    cv2.imwrite(str(tmp_path / "A" / "x.png"), image)
    cv2.imwrite(str(tmp_path / "B" / "x.png"), image)
    ds = PairedDataset(tmp_path, 8, flip=True)
    for _ in range(10):
        item = ds[0]
        assert torch.equal(item["a"], item["b"])


def test_unpaired_from_celeba_domain(synthetic_celeba):
    celeba = CelebADataset(synthetic_celeba, 16, split="all", flip=False)
    ds = UnpairedDataset.from_celeba(celeba, "smiling", flip=False)
    smiling = celeba.attributes[:, 0].bool()
    assert (len(ds.a), len(ds.b)) == ((~smiling).sum().item(), smiling.sum().item())
    assert ds.domain_names == ("not Smiling", "Smiling")
    # the synthetic Smiling images are bright in the lower half
    assert ds.b[:, :, 8:].float().mean() > ds.a[:, :, 8:].float().mean() + 50
    item = ds[0]
    assert set(item) == {"a", "b"}


def test_make_grid_and_png_roundtrip(tmp_path):
    images = torch.rand(5, 3, 4, 6) * 2 - 1
    grid = make_grid(images, nrow=3, padding=1)
    assert grid.shape == (3, 2 * 5 + 1, 3 * 7 + 1)
    assert torch.equal(grid[:, 1:5, 1:7], images[0])
    path = save_png(grid, tmp_path / "g.png")
    back = read_rgb(path)
    assert back.shape == (11, 22, 3)
    expected = ((grid.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(back.astype(float) - expected).max() <= 1
