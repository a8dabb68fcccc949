"""`stitchtime sample` on an image-to-image run (pix2pix, CycleGAN): translate images, not draw them.

The inputs are a folder of images (``--input DIR``) or, by default, the test split of the data
the run was trained on, found the way training found its split (``config.json`` records the data
folder: ``"data": {"kind", "root", "domain"}``): ``DATA/test/`` for paired data, ``testA/``
(``testB/`` for ``b2a``) for unpaired folders, CelebA's test partition split by ``--domain``.
Each image is centre-cropped square and resized to the model's size, as in training. The result is
one grid in which each row of inputs sits directly above the row of their translations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from generative.data import DomainImages, domain_images
from generative.data.datasets import decode_square
from generative.data.images import GRID_PAD_VALUE, IMAGE_SUFFIXES, list_images, make_grid, uint8_to_float
from generative.nn.blocks_translation import GRID_ROW, grid_rows
from generative.training.family import DataKind
from stitchtime.errors import InputError
from stitchtime.io.paths import check_not_a_loop

#: Families whose data is a pair of domains: ``sample`` translates with them.
TRANSLATION_KINDS = (DataKind.paired, DataKind.unpaired)
#: Images per forward pass.
BATCH = 32
DIRECTIONS = ("a2b", "b2a")


def is_translation(family: object) -> bool:
    return DataKind(getattr(family, "data", DataKind.images)) in TRANSLATION_KINDS


@dataclass
class Translation:
    grid: torch.Tensor  # (3, H, W) in [-1, 1]: rows of inputs, each above its row of outputs
    n: int  # images translated
    source: str  # where the inputs came from
    direction: str  # a2b or b2a
    paths: tuple[Path, ...]  # the input files (an output must not replace one)
    notes: list[str] = field(default_factory=list)


def check_input_folder(folder: Path) -> list[Path]:
    """The images directly in ``--input`` ``folder``; one InputError line for anything else."""
    folder = Path(folder)
    check_not_a_loop(folder, "--input")
    if not folder.exists():
        raise InputError(f"--input {folder}: no such folder")
    if not folder.is_dir():
        raise InputError(f"--input {folder}: not a folder (give a folder of images)")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise InputError(f"--input {folder}: not readable (permission denied)")
    images = list_images(folder)
    if not images:
        raise InputError(f"--input {folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
    return images


def _direction(family: object, direction: str | None) -> str:
    name = getattr(family, "family", "?")
    if direction is None:
        return "a2b"
    if direction not in DIRECTIONS:
        raise InputError(f"--direction {direction!r}: choose a2b or b2a")
    if DataKind(family.data) is DataKind.paired and direction != "a2b":  # type: ignore[attr-defined]
        raise InputError(f"--direction {direction}: a {name} model translates A to B only")
    return direction


def _test_split(run: Path, record: dict, kind: DataKind, image_size: int, side: str, limit: int) -> DomainImages:
    data = record.get("data") or {}
    root = data.get("root")
    if not root:
        raise InputError(
            f"{run}: its config.json does not name the data it was trained on (a run from an older "
            "version); give the images to translate with --input DIR"
        )
    if not Path(root).is_dir():
        raise InputError(f"{run} was trained on {root}, which is not there any more; give --input DIR")
    return domain_images(kind, root, image_size, side, data.get("domain"), split="test", limit=limit)


def translate_run(
    run: Path, record: dict, family: object, input_dir: Path | None, n: int, direction: str | None
) -> Translation:
    """Translate up to ``n`` images (``--input`` or the run's test split) into a before/after grid."""
    direction = _direction(family, direction)
    size = int(family.config.image_size)  # type: ignore[attr-defined]
    notes: list[str] = []
    if input_dir is not None:
        paths = tuple(check_input_folder(input_dir)[:n])
        images, source = decode_square(paths, size), str(input_dir)
    else:
        side = "a" if direction == "a2b" else "b"
        found = _test_split(Path(run), record, DataKind(family.data), size, side, n)  # type: ignore[attr-defined]
        images, source, paths = found.images, found.source, found.paths
        if not found.split_found:
            notes.append(f"the data folder has no test split: translating images it was trained on ({source})")
    inputs = uint8_to_float(images)
    outputs = torch.cat([_translate(family, inputs[i : i + BATCH], direction) for i in range(0, len(inputs), BATCH)])
    return Translation(before_after_grid(inputs, outputs.float().cpu()), len(inputs), source, direction, paths, notes)


def before_after_grid(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)``: rows of up to :data:`GRID_ROW` inputs, each directly above its outputs (a
    short last row is padded with blank cells so the pairs stay aligned)."""
    row = min(len(inputs), GRID_ROW)
    blank = torch.full((-len(inputs) % row, *inputs.shape[1:]), GRID_PAD_VALUE)
    cells = grid_rows([torch.cat([inputs, blank]), torch.cat([outputs, blank])], row)
    return make_grid(cells, nrow=row)


def _translate(family: object, batch: torch.Tensor, direction: str) -> torch.Tensor:
    kwargs = {"direction": direction} if DataKind(family.data) is DataKind.unpaired else {}  # type: ignore[attr-defined]
    return family.sample(len(batch), batch=batch, **kwargs)  # type: ignore[attr-defined]
