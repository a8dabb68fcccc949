"""Folders of models *fitted* on CelebA rather than trained (the geometry and colour editors'): one
safetensors file of float32 tensors named ``ATTRIBUTE.NAME`` and a ``config.json`` naming the
family and the attributes (``cond_names``, which :func:`stitchtime.editors.models.model_attributes`
reads), plus what the fit recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, TypeVar

import numpy as np
from safetensors.numpy import load_file, save

from stitchtime.errors import ModelError
from stitchtime.io.paths import atomic_write_bytes

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
M = TypeVar("M")


def save_fitted(folder: Path, family: str, tensors: dict[str, dict[str, np.ndarray]], record: dict) -> None:
    """Write each attribute's ``tensors`` (``{attribute: {name: array}}``) and the config."""
    folder.mkdir(parents=True, exist_ok=True)
    flat = {f"{a}.{k}": np.asarray(v).astype(np.float32) for a, named in tensors.items() for k, v in named.items()}
    config = {"family": family, "cond_names": sorted(tensors), **record}
    # each file through a temporary sibling and a rename: a fit stopped half-way (its default
    # folder is the shipped weights) leaves the old model, never a half-written one
    atomic_write_bytes(folder / MODEL_FILE, save(flat, metadata={"format": f"stitchtime-{family}"}))
    atomic_write_bytes(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())


def load_fitted(folder: Path, family: str, build: Callable[[str, dict[str, np.ndarray]], M]) -> dict[str, M]:
    """``{attribute: build(attribute, its tensors by name)}`` for every attribute the config names;
    any unreadable file or missing tensor is one :class:`ModelError`."""
    try:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())
        t = load_file(str(Path(folder) / MODEL_FILE))
        out = {}
        for a in config["cond_names"]:
            prefix = f"{a}."
            out[a] = build(a, {k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)})
        return out
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise ModelError(f"{folder}: not a {family} model ({type(err).__name__}: {err})") from None


@dataclass
class FittedModels(Generic[M]):
    """The models of one fitted folder, one per attribute."""

    source: Path
    models: dict[str, M]

    @property
    def attributes(self) -> list[str]:
        return sorted(self.models)


def fitted_folder(path: Path) -> Path:
    """The folder of a fitted model given as the folder or as one of its files."""
    path = Path(path)
    return path if path.is_dir() else path.parent
