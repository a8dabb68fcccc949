"""Load the editor's models: a conditional VAE (the latent model we invert into) and an
attribute classifier (which attribute vector does each video crop have?).

The shipped default lives in ``stitchtime/weights/`` (``cvae/`` and ``classifier/``, each
``config.json`` + ``model.safetensors``, see ``MODEL_CARD.md``). ``--model PATH`` takes any
cVAE run folder or ``model.safetensors`` from ``stitchtime train cvae``; when that folder
has no ``classifier/`` beside its weights, the shipped classifier labels the crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from generative.errors import GenerativeError
from generative.training.checkpoint import load_family
from stitchtime.errors import ModelError
from stitchtime.latents.directions import Directions

DIRECTIONS_FILE = "directions.safetensors"

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
EDITOR_FAMILIES = ("cvae",)
DIFFUSION_FAMILIES = ("ddpm",)


@dataclass
class EditorModels:
    cvae: torch.nn.Module  # generative.models.vae.CVAEFamily
    classifier: torch.nn.Module  # generative.models.classifier.AttributeClassifierFamily
    source: Path
    directions: "Directions | None" = None  # linear latent directions fitted for this cVAE, if any

    @property
    def attributes(self) -> list[str]:
        return list(self.cvae.config.cond_names)

    @property
    def image_size(self) -> int:
        return int(self.cvae.config.image_size)

    def classifier_columns(self) -> list[int]:
        """For each cVAE attribute, its column in the classifier's output."""
        names = list(self.classifier.config.cond_names)
        missing = [a for a in self.attributes if a not in names]
        if missing:
            raise ModelError(f"the attribute classifier cannot label {', '.join(missing)} (model {self.source})")
        return [names.index(a) for a in self.attributes]


def _load(path: Path, want: tuple[str, ...], what: str, device: torch.device | None):
    if not Path(path).exists():
        raise ModelError(f"{what} not found: {path}")
    try:
        fam = load_family(path, device=device)
    except GenerativeError as err:
        raise ModelError(f"{what} {path}: {str(err).splitlines()[0]}") from None
    if fam.family not in want:
        raise ModelError(f"{what} {path} is a {fam.family} model; expected {' or '.join(want)}")
    return fam


def load_editor_models(model: Path | None = None, device: torch.device | None = None) -> EditorModels:
    """The default shipped models, or the cVAE at ``model`` (+ a classifier beside it or shipped)."""
    if model is None:
        cvae_path = WEIGHTS_DIR / "cvae"
        if not (cvae_path / "model.safetensors").exists():
            raise ModelError(f"no default editor model in {WEIGHTS_DIR} (train one: stitchtime train cvae ..., then --model RUN)")
    else:
        cvae_path = Path(model)
    cvae = _load(cvae_path, EDITOR_FAMILIES, "editor model", device)
    base = cvae_path if cvae_path.is_dir() else cvae_path.parent
    clf_path = base / "classifier" if (base / "classifier").exists() else WEIGHTS_DIR / "classifier"
    classifier = _load(clf_path, ("classifier",), "attribute classifier", device)
    directions = Directions.load(base / DIRECTIONS_FILE) if (base / DIRECTIONS_FILE).exists() else None
    models = EditorModels(cvae=cvae, classifier=classifier, source=cvae_path, directions=directions)
    models.classifier_columns()
    for p in list(cvae.parameters()) + list(classifier.parameters()):
        p.requires_grad_(False)
    return models


def model_family(path: Path) -> str | None:
    """The family a run folder or model file holds (None when it has no readable config)."""
    from generative.training.checkpoint import CONFIG_FILE, read_config

    path = Path(path)
    config = path / CONFIG_FILE if path.is_dir() else path.parent / CONFIG_FILE
    if not config.is_file():
        return None
    try:
        return str(read_config(config).get("family"))
    except (GenerativeError, ValueError, OSError):
        return None


def shipped_diffusion() -> Path | None:
    """The shipped conditional DDPM (``stitchtime/weights/ddpm``), if there is one."""
    path = WEIGHTS_DIR / "ddpm"
    return path if (path / "model.safetensors").exists() else None


def load_diffusion(path: Path, device: torch.device | None = None) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A conditional DDPM (generative.models.ddpm) and the classifier that labels crops for it
    (beside it, else the shipped one); both frozen."""
    ddpm = _load(Path(path), DIFFUSION_FAMILIES, "diffusion model", device)
    if not ddpm.config.n_cond:
        raise ModelError(f"diffusion model {path} is unconditional: it cannot edit attributes")
    base = Path(path) if Path(path).is_dir() else Path(path).parent
    clf_path = base / "classifier" if (base / "classifier").exists() else WEIGHTS_DIR / "classifier"
    classifier = _load(clf_path, ("classifier",), "attribute classifier", device)
    for p in list(ddpm.parameters()) + list(classifier.parameters()):
        p.requires_grad_(False)
    return ddpm, classifier
