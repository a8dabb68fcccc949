"""`stitchtime sample` on image-to-image runs (pix2pix, CycleGAN) translates images into a
before/after grid: ``--input DIR``, or by default the test split of the data the run recorded.
It used to end in a traceback ("CycleGAN translates images: pass batch=...")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from generative.data import domain_images
from pipelines.translate import before_after_grid

runner = CliRunner()
SIZE, PAD = 16, 2
TINY = ["--image-size", str(SIZE), "--batch-size", "2", "--sample-every", "0", "--ckpt-every", "0", "--steps", "1"]
TINY_CYCLEGAN = ["--set", "ngf=8", "--set", "ndf=8", "--set", "n_blocks=1"]
TINY_PIX2PIX = ["--set", "ngf=8", "--set", "ndf=8", "--set", "num_downs=4"]


def _images(folder: Path, n: int, seed: int, size: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return folder


def _grid_shape(n: int, row: int = 8) -> tuple[int, int]:
    """(height, width) of a before/after grid of n images (rows of up to `row`, pairs of rows)."""
    cols = min(n, row)
    rows = 2 * -(-n // cols)
    return rows * SIZE + (rows + 1) * PAD, cols * SIZE + (cols + 1) * PAD


def _one_error_line(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stitchtime: error:") and needle in lines[0], result.stderr


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("unpaired")
    for i, name in enumerate(("trainA", "trainB", "testA", "testB")):
        _images(root / name, 5 if name.startswith("test") else 4, seed=i)
    return root


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory, unpaired) -> Path:
    run = tmp_path_factory.mktemp("runs") / "cyclegan"
    result = runner.invoke(app, ["train", "cyclegan", "--data", str(unpaired), *TINY, *TINY_CYCLEGAN, "-o", str(run)])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("paired")
    for split, n in (("train", 4), ("test", 3)):
        _images(root / split / "A", n, seed=10)
        _images(root / split / "B", n, seed=11)
    run = root.parent / "pix2pix_run"
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(root), *TINY, *TINY_PIX2PIX, "-o", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_cyclegan_translates_its_test_split_by_default(cyclegan_run, unpaired, tmp_path):
    record = json.loads((cyclegan_run / "config.json").read_text())
    assert record["data"] == {"kind": "unpaired", "root": str(unpaired.resolve()), "domain": None}
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", str(cyclegan_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 a2b translations" in result.stdout and "testA" in result.stdout
    assert cv2.imread(str(out)).shape[:2] == _grid_shape(5)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # written atomically: no temporary left

    again = runner.invoke(app, ["sample", str(cyclegan_run), "-o", str(out)])
    _one_error_line(again, "--overwrite")
    back = runner.invoke(
        app, ["sample", str(cyclegan_run), "-o", str(out), "--direction", "b2a", "--overwrite", "-n", "2"]
    )
    assert back.exit_code == 0 and "2 b2a translations" in back.stdout and "testB" in back.stdout
    assert cv2.imread(str(out)).shape[:2] == _grid_shape(2)


def test_translations_are_the_models_own(cyclegan_run, unpaired, tmp_path):
    """The grid's lower row is G_A of the upper row (the model in eval mode, inputs as in training)."""
    from generative.data.images import uint8_to_float
    from generative.training.checkpoint import load_family

    out = tmp_path / "g.png"
    assert runner.invoke(app, ["sample", str(cyclegan_run), "-o", str(out), "-n", "3"]).exit_code == 0
    family = load_family(cyclegan_run)
    inputs = uint8_to_float(domain_images("unpaired", unpaired, SIZE, limit=3).images)
    with torch.no_grad():
        want = before_after_grid(inputs, family.translate(inputs))
    got = torch.from_numpy(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
    assert (got.int() - want.add(1).mul(127.5).round().clamp(0, 255).int()).abs().max() <= 1


def test_input_folder(cyclegan_run, tmp_path):
    folder = _images(tmp_path / "mine", 11, seed=3, size=24)
    out = tmp_path / "out" / "grid.png"
    out.parent.mkdir()
    result = runner.invoke(app, ["sample", str(cyclegan_run), "--input", str(folder), "-n", "11", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)).shape[:2] == _grid_shape(11)  # a short last row stays under its inputs
    assert "11 a2b translations of " + str(folder) in result.stdout


@pytest.mark.parametrize("case", ["missing", "a file", "empty", "no images", "broken image", "symlink loop"])
def test_bad_input_is_one_line(cyclegan_run, tmp_path, case):
    folder = tmp_path / "in"
    if case == "a file":
        folder.write_text("not a folder")
    elif case == "empty":
        folder.mkdir()
    elif case == "no images":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello")
    elif case == "broken image":
        _images(folder, 2, seed=0)
        (folder / "001.png").write_bytes(b"\x89PNG garbage")
    elif case == "symlink loop":
        (tmp_path / "other").symlink_to(folder)
        folder.symlink_to(tmp_path / "other")
    out = tmp_path / "grid.png"
    needle = {
        "missing": "no such folder",
        "a file": "not a folder",
        "empty": "no images",
        "no images": "no images",
        "broken image": "cannot read image",
        "symlink loop": "symbolic link loop",
    }[case]
    _one_error_line(runner.invoke(app, ["sample", str(cyclegan_run), "--input", str(folder), "-o", str(out)]), needle)
    assert not out.exists()


def test_output_checks_come_first(cyclegan_run, tmp_path):
    folder = _images(tmp_path / "in", 2, seed=0)
    cases = [
        (["-o", str(folder / "000.png"), "--overwrite"], "would replace an input"),  # never over an image it reads
        (["-o", str(tmp_path / "nowhere" / "g.png")], "output directory does not exist"),
        (["-o", str(tmp_path / "g.jpg")], ".png"),
    ]
    for args, needle in cases:
        _one_error_line(runner.invoke(app, ["sample", str(cyclegan_run), "--input", str(folder), *args]), needle)
    assert cv2.imread(str(folder / "000.png")) is not None


def test_pix2pix_default_test_split_and_direction(pix2pix_run, tmp_path):
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["sample", str(pix2pix_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 a2b translations" in result.stdout and cv2.imread(str(out)).shape[:2] == _grid_shape(3)
    refused = runner.invoke(app, ["sample", str(pix2pix_run), "-o", str(tmp_path / "q.png"), "--direction", "b2a"])
    _one_error_line(refused, "A to B only")
    # the model file itself works as RUN too (config.json beside it)
    by_file = runner.invoke(app, ["sample", str(pix2pix_run / "model.safetensors"), "-o", str(tmp_path / "r.png")])
    assert by_file.exit_code == 0, by_file.output


def test_runs_without_a_usable_data_record(cyclegan_run, unpaired, tmp_path):
    run = tmp_path / "old_run"
    shutil.copytree(cyclegan_run, run)
    record = json.loads((run / "config.json").read_text())
    out = tmp_path / "g.png"

    del record["data"]  # a run trained before runs recorded their data
    (run / "config.json").write_text(json.dumps(record))
    _one_error_line(runner.invoke(app, ["sample", str(run), "-o", str(out)]), "--input DIR")

    record["data"] = {"kind": "unpaired", "root": str(tmp_path / "gone"), "domain": None}
    (run / "config.json").write_text(json.dumps(record))
    _one_error_line(runner.invoke(app, ["sample", str(run), "-o", str(out)]), "not there any more")

    flat = tmp_path / "flat"  # A/ and B/ only: no test split; it says it uses the training images
    _images(flat / "A", 2, seed=0)
    _images(flat / "B", 2, seed=1)
    record["data"]["root"] = str(flat)
    (run / "config.json").write_text(json.dumps(record))
    result = runner.invoke(app, ["sample", str(run), "-o", str(out)])
    assert result.exit_code == 0 and "no test split" in result.stderr and out.exists()


def test_input_is_only_for_translation_models(tmp_path, synthetic_celeba):
    run = tmp_path / "ae"
    args = ["train", "ae", "--data", str(synthetic_celeba), *TINY, "--set", "channels=[8,16]"]
    args += ["--set", "res_blocks=[1,1]", "--set", "latent_dim=8"]
    assert runner.invoke(app, [*args, "-o", str(run)]).exit_code == 0
    folder = _images(tmp_path / "in", 2, seed=0)
    for flag, value in (("--input", str(folder)), ("--direction", "a2b")):
        result = runner.invoke(app, ["sample", str(run), flag, value, "-o", str(tmp_path / "g.png")])
        _one_error_line(result, f"{flag} is for image-to-image models")


def test_celeba_domain_test_split(synthetic_celeba):
    """A CycleGAN on CelebA split by an attribute translates the test partition's "without" side."""
    a = domain_images("unpaired", synthetic_celeba, SIZE, side="a", domain="smiling", limit=8)
    b = domain_images("unpaired", synthetic_celeba, SIZE, side="b", domain="smiling", limit=8)
    assert len(a.images) + len(b.images) == 4  # the 4 test images of the synthetic folder
    assert "test split" in a.source and "not Smiling" in a.source and a.split_found
    assert a.images.shape[1:] == (3, SIZE, SIZE) and a.images.dtype == torch.uint8
