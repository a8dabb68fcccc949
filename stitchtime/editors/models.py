"""Load the editors' models: a generative model (a conditional VAE, or a conditional DDPM) and the
attribute classifier that labels the video's crops for it (which attributes does each crop have?).

The shipped defaults live in ``stitchtime/weights/`` (``cvae/``, ``ddpm/`` and ``classifier/``, each
``config.json`` + ``model.safetensors``, see ``MODEL_CARD.md``). ``--model PATH`` takes any cVAE or
DDPM run folder (or its ``model.safetensors``) from ``stitchtime train``; when that folder has no
``classifier/`` beside its weights, the shipped classifier labels the crops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import torch

from generative.errors import GenerativeError
from generative.models.classifier import AttributeClassifierFamily
from generative.models.ddpm import DDPMFamily
from generative.models.vae import CVAEFamily
from generative.training.checkpoint import CONFIG_FILE, load_family
from stitchtime.editors.directions import Directions
from stitchtime.errors import ModelError

DIRECTIONS_FILE = "directions.safetensors"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
CLASSIFIER_DIR = "classifier"

M = TypeVar("M", bound=torch.nn.Module)


@dataclass(kw_only=True)
class LabelledModels:
    """A generative model's attribute names and the classifier that estimates them on crops."""

    classifier: AttributeClassifierFamily
    source: Path
    attributes: list[str]  # the generative model's attribute inputs, in its order
    image_size: int  # the generative model's resolution (its square images' side)

    def classifier_columns(self) -> list[int]:
        """For each of the model's attributes, its column in the classifier's output."""
        names = list(self.classifier.config.cond_names)
        missing = [a for a in self.attributes if a not in names]
        if missing:
            raise ModelError(f"the attribute classifier cannot label {', '.join(missing)} (model {self.source})")
        return [names.index(a) for a in self.attributes]


@dataclass(kw_only=True)
class CVAEModels(LabelledModels):
    cvae: CVAEFamily
    directions: Directions | None = None  # linear latent directions fitted for this cVAE, if any


@dataclass(kw_only=True)
class DiffusionModels(LabelledModels):
    ddpm: DDPMFamily


def _load(path: Path, kind: type[M], what: str, device: torch.device | None) -> M:
    if not Path(path).exists():
        raise ModelError(f"{what} not found: {path}")
    try:
        fam = load_family(path, device=device)
    except GenerativeError as err:
        raise ModelError(f"{what} {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(fam, kind):
        raise ModelError(f"{what} {path} is a {fam.family} model; expected {kind.family}")  # type: ignore[attr-defined]
    for p in fam.parameters():
        p.requires_grad_(False)
    return cast(M, fam)


def _base(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _classifier_for(model_path: Path, device: torch.device | None) -> AttributeClassifierFamily:
    """The classifier beside a model's weights, else the shipped one."""
    beside = _base(model_path) / CLASSIFIER_DIR
    path = beside if beside.exists() else WEIGHTS_DIR / CLASSIFIER_DIR
    return _load(path, AttributeClassifierFamily, "attribute classifier", device)


def shipped(name: str) -> Path | None:
    """A shipped model folder (``stitchtime/weights/NAME``), if it holds weights."""
    path = WEIGHTS_DIR / name
    return path if (path / "model.safetensors").exists() else None


def shipped_diffusion() -> Path | None:
    """The shipped conditional DDPM (``stitchtime/weights/ddpm``), if there is one."""
    return shipped("ddpm")


def load_editor_models(model: Path | None = None, device: torch.device | None = None) -> CVAEModels:
    """The shipped cVAE, or the one at ``model`` (+ a classifier beside it, else the shipped one)."""
    if model is None:
        path = shipped("cvae")
        if path is None:
            raise ModelError(
                f"no default editor model in {WEIGHTS_DIR} (train one: stitchtime train cvae ..., then --model RUN)"
            )
    else:
        path = Path(model)
    cvae = _load(path, CVAEFamily, "editor model", device)
    directions_path = _base(path) / DIRECTIONS_FILE
    directions = Directions.load(directions_path) if directions_path.exists() else None
    models = CVAEModels(
        classifier=_classifier_for(path, device),
        source=path,
        attributes=list(cvae.config.cond_names),
        image_size=int(cvae.config.image_size),
        cvae=cvae,
        directions=directions,
    )
    models.classifier_columns()
    return models


def load_diffusion(path: Path, device: torch.device | None = None) -> DiffusionModels:
    """A conditional DDPM (generative.models.ddpm) and the classifier that labels crops for it
    (beside it, else the shipped one); both frozen."""
    ddpm = _load(Path(path), DDPMFamily, "diffusion model", device)
    if not ddpm.config.n_cond:
        raise ModelError(f"diffusion model {path} is unconditional: it cannot edit attributes")
    models = DiffusionModels(
        classifier=_classifier_for(Path(path), device),
        source=Path(path),
        attributes=list(ddpm.config.cond_names),
        image_size=int(ddpm.config.image_size),
        ddpm=ddpm,
    )
    models.classifier_columns()
    return models


def model_family(path: Path) -> str | None:
    """The family a run folder or model file holds (None when it has no readable config)."""
    config = _base(Path(path)) / CONFIG_FILE
    if not config.is_file():
        return None
    try:  # (plain JSON: not every editor's model is a generative family, e.g. geometry)
        family = json.loads(config.read_text()).get("family")
    except (ValueError, OSError, AttributeError):
        return None
    return None if family is None else str(family)


def model_attributes(path: Path) -> list[str]:
    """The attribute inputs a model was trained with, read off its config (no weights loaded)."""
    try:
        return list(json.loads((_base(Path(path)) / CONFIG_FILE).read_text()).get("cond_names", []))
    except (ValueError, OSError, AttributeError, TypeError):
        return []
