"""Build the crop editor a command asked for.

Two latent models edit: the conditional VAE (encoder inversion, per-video decoder tuning;
methods "cond" and "direction") and the conditional DDPM (DDIM inversion; method
"diffusion"). ``method="auto"`` takes each attribute's measured default
(``Attribute.method``, BENCHMARKS.md "Edit quality"), falling back to the cVAE when no diffusion
model is shipped. ``--model PATH`` may name a run of either family.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from generative.device import pick_device
from stitchtime.config import EditConfig, InvertConfig
from stitchtime.errors import InputError, ModelError
from stitchtime.latents.attributes import Attribute, editable, resolve
from stitchtime.latents.edit import CVAEEditor
from stitchtime.latents.editor import CropEditor, IdentityEditor
from stitchtime.latents.model import load_diffusion, load_editor_models, model_family, shipped_diffusion

NO_EDIT = "none"
METHODS = ("auto", "cond", "direction", "diffusion")


def attribute_methods(model: Path | None = None) -> list[tuple[Attribute, str]]:
    """The attributes this model (the shipped ones when None) can edit, each with the method
    ``--method auto`` uses for it."""
    if model is not None and model_family(model) == "ddpm":
        ddpm, _ = load_diffusion(model)
        return [(a, "diffusion") for a in editable(list(ddpm.config.cond_names))]
    names = load_editor_models(model, device=pick_device()).attributes
    return [(a, _auto_method(a, model)) for a in editable(names)]


def available_attributes(model: Path | None = None) -> list[str]:
    """Attribute names ``--attr`` accepts with this model (the default when None)."""
    return [NO_EDIT, *[a.name for a, _ in attribute_methods(model)]]


def _auto_method(attribute: Attribute, model: Path | None) -> str:
    """What ``--method auto`` means for a cVAE (``model``, or the shipped models when None):
    the attribute's measured default when the shipped diffusion model can edit it, else "cond"."""
    if model is not None or attribute.method != "diffusion":
        return "cond"
    path = shipped_diffusion()
    return "diffusion" if path is not None and attribute.celeba in _diffusion_names(path) else "cond"


def _diffusion_names(path: Path) -> list[str]:
    from generative.training.checkpoint import CONFIG_FILE, read_config

    return list(read_config(path / CONFIG_FILE).get("cond_names", []))


def fast_preset(method: str = "auto", tune_steps: int | None = None) -> tuple[str, int]:
    """``--fast``: the cVAE's attribute input without per-video tuning, the quickest edit
    (BENCHMARKS.md "Edit speed"); weaker than the diffusion default for smile, age, gender and
    mouth open. Returns ``(method, tune_steps)``; an explicit ``tune_steps`` is kept."""
    if method == "diffusion":
        raise InputError("--fast edits with the cVAE: leave out --method diffusion (or --fast)")
    return ("cond" if method == "auto" else method), (0 if tune_steps is None else tune_steps)


def _resolve(attr: str, names: list[str]) -> Attribute:
    try:
        return resolve(attr, names)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None


def make_editor(
    attr: str,
    strength: float = 1.0,
    model: Path | None = None,
    edit: EditConfig | None = None,
    invert: InvertConfig = InvertConfig(),
    device: str | None = None,
    progress: bool = False,
) -> CropEditor:
    if attr.strip().lower() == NO_EDIT:
        return IdentityEditor()
    from stitchtime.latents.diffusion import DiffusionEditor

    dev = pick_device(device)
    edit = edit or EditConfig(attr=attr, strength=strength)
    if edit.method not in METHODS:
        raise InputError(f"unknown edit method {edit.method!r}; valid: {', '.join(METHODS)}")
    if model is not None and model_family(model) == "ddpm":
        if edit.method not in ("auto", "diffusion"):
            raise InputError(f"{model} is a diffusion model: method {edit.method!r} needs a cVAE")
        ddpm, classifier = load_diffusion(model, device=dev)
        attribute = _resolve(attr, list(ddpm.config.cond_names))
        return DiffusionEditor(ddpm, classifier, attribute, replace(edit, attr=attribute.name), progress=progress)
    models = load_editor_models(model, device=dev)
    attribute = _resolve(attr, models.attributes)
    method = _auto_method(attribute, model) if edit.method == "auto" else edit.method
    edit = replace(edit, attr=attribute.name, method=method)
    if method == "diffusion":
        if model is not None:
            raise InputError("method 'diffusion' needs a diffusion model: --model a ddpm run (or leave --model out)")
        path = shipped_diffusion()
        if path is None:
            raise ModelError("no diffusion model is shipped in stitchtime/weights/ddpm (train one: stitchtime train ddpm ..., then --model RUN)")
        ddpm, classifier = load_diffusion(path, device=dev)
        if attribute.celeba not in ddpm.config.cond_names:
            raise InputError(f"the diffusion model cannot edit {attribute.name}; use --method cond")
        return DiffusionEditor(ddpm, classifier, attribute, edit, progress=progress)
    return CVAEEditor(models, attribute, edit, invert, progress=progress)
