"""Which editor edits by which method, and building the one a command asked for.

Two generative families edit: the conditional VAE (encoder inversion, per-video decoder tuning;
methods cond and direction) and the conditional DDPM (DDIM inversion; method diffusion); three
fitted ones do without generated pixels: geometry (landmark displacements: the smile, mouth open), colour (the
lips' colour, lipstick), accessory (eyeglasses drawn in the face's place) and hair (its colour). ``Method.auto`` takes
each attribute's measured default (``Attribute.method``, BENCHMARKS.md "Edit quality"), falling
back to the cVAE when the shipped model of that method cannot edit it. ``--model PATH`` may name a
run or folder of any family.

Adding an editor: write its module (a :class:`~stitchtime.editors.contract.CropEditor`) and add
one :class:`EditorEntry` to :data:`EDITORS` under a new :class:`~stitchtime.config.Method`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from generative.device import pick_device
from stitchtime.config import Device, EditOptions, EditRequest, Method
from stitchtime.editors.accessory import AccessoryEditor, load_accessory
from stitchtime.editors.attributes import Attribute, editable, experimental_reason, resolve
from stitchtime.editors.colour import ColourEditor, load_colour
from stitchtime.editors.contract import CropEditor
from stitchtime.editors.cvae import CVAEEditor
from stitchtime.editors.diffusion import DiffusionEditor
from stitchtime.editors.geometry import GeometryEditor, load_geometry
from stitchtime.editors.hair import HairEditor, load_hair
from stitchtime.editors.models import (
    load_diffusion,
    load_editor_models,
    model_attributes,
    model_family,
    shipped,
)
from stitchtime.editors.none import IdentityEditor
from stitchtime.errors import InputError, ModelError
from stitchtime.io.paths import check_not_a_loop

NO_EDIT = "none"
MAX_STRENGTH = 10.0  # |strength|: far past where any edit still looks like a face


class BuildsFromOptions(Protocol):
    """An editor class the registry can build: from its models, the attribute, the signed strength,
    the concrete method and the options (each editor reads its own config in them)."""

    def __call__(  # the class's from_options
        self, models: Any, attribute: Attribute, strength: float, method: Method, options: EditOptions, progress: bool
    ) -> CropEditor: ...


@dataclass(frozen=True)
class EditorEntry:
    """An editor and the models it needs: their family, the shipped folder (under
    ``stitchtime/weights``), how to load them, and how to build the editor from them."""

    family: str
    label: str  # what users call such a model
    shipped: str
    load: Callable[[Path, torch.device], Any]  # models with .attributes: the names they can edit
    build: BuildsFromOptions


EDITORS: dict[Method, EditorEntry] = {
    Method.cond: EditorEntry("cvae", "cVAE", "cvae", load_editor_models, CVAEEditor.from_options),
    Method.direction: EditorEntry("cvae", "cVAE", "cvae", load_editor_models, CVAEEditor.from_options),
    Method.diffusion: EditorEntry("ddpm", "diffusion model", "ddpm", load_diffusion, DiffusionEditor.from_options),
    Method.geometry: EditorEntry("geometry", "geometry model", "geometry", load_geometry, GeometryEditor.from_options),
    Method.colour: EditorEntry("colour", "colour model", "colour", load_colour, ColourEditor.from_options),
    Method.accessory: EditorEntry(
        "accessory", "accessory model", "accessory", load_accessory, AccessoryEditor.from_options
    ),
    Method.hair: EditorEntry("hair", "hair model", "hair", load_hair, HairEditor.from_options),
}
FAMILIES = tuple(dict.fromkeys(e.family for e in EDITORS.values()))


def _resolve(attr: str, names: list[str]) -> Attribute:
    try:
        return resolve(attr, names)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None


def _shipped_path(method: Method) -> Path:
    entry = EDITORS[method]
    path = shipped(entry.shipped)
    if path is None:
        raise ModelError(
            f"no shipped {entry.label} in stitchtime/weights/{entry.shipped} "
            f"(train one: stitchtime train {entry.family} ..., then --model RUN)"
        )
    return path


def _family_method(family: str) -> Method:
    """The method ``auto`` means for a model of ``family`` (the first registered for it)."""
    return next(m for m, e in EDITORS.items() if e.family == family)


def auto_method(attribute: Attribute, fast: bool = False) -> Method:
    """What ``Method.auto`` edits ``attribute`` with, using the shipped models: the attribute's
    measured default when its shipped model can edit it, else the cVAE's attribute input. ``fast``
    (``--fast``): the cVAE instead of the slow diffusion editor (geometry is already fast)."""
    if fast and attribute.method is Method.diffusion:
        return Method.cond
    if attribute.method in EDITORS and attribute.method is not Method.cond:
        path = shipped(EDITORS[attribute.method].shipped)
        if path is not None and attribute.celeba in model_attributes(path):
            return attribute.method
    return Method.cond


def _user_model(model: Path, method: Method, device: torch.device) -> tuple[Method, Any]:
    """The concrete method and the loaded models for ``--model``."""
    check_not_a_loop(Path(model), "--model")
    if not Path(model).exists():
        raise ModelError(f"model not found: {model}")
    family = model_family(model) or "cvae"  # no readable config: the cVAE loader says what is wrong
    if family not in FAMILIES:
        raise ModelError(f"{model} is a {family} model; expected {' or '.join(FAMILIES)}")
    if method is Method.auto:
        method = _family_method(family)
    elif EDITORS[method].family != family:
        have = EDITORS[_family_method(family)].label
        raise InputError(f"{model} is a {have}: method {method.value!r} needs a {EDITORS[method].label}")
    return method, EDITORS[method].load(Path(model), device)


def make_editor(
    attr: str,
    strength: float = 1.0,
    options: EditOptions = EditOptions(),
    model: Path | None = None,
    device: Device | str = Device.auto,
    progress: bool = False,
) -> CropEditor:
    """The editor for ``attr`` at signed ``strength`` (``"none"``: the empty edit), with the shipped
    models or the run at ``model``, on ``device``. Raises before any work on the video."""
    if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
        raise InputError(f"strength {strength}: must be a finite number within +-{MAX_STRENGTH:g}")
    dev = pick_device(device.value if isinstance(device, Device) else str(device))  # DeviceError if not here
    if attr.strip().lower() == NO_EDIT:
        return IdentityEditor()
    method = Method(options.method)
    if model is not None:
        method, models = _user_model(model, method, dev)
        attribute = _resolve(attr, models.attributes)
    else:
        attribute = _resolve(attr, model_attributes(_shipped_path(Method.cond)))
        method = auto_method(attribute, fast=options.fast) if method is Method.auto else method
        path = _shipped_path(method)
        reason = experimental_reason(attribute, method.value)
        if reason and not options.experimental:
            raise InputError(
                f"{attribute.name} by {method.value} is experimental in this release ({reason}); "
                "pass --experimental to edit it anyway (stitchtime attrs --experimental)"
            )
        if attribute.celeba not in model_attributes(path):
            raise InputError(f"the shipped {EDITORS[method].label} cannot edit {attribute.name}; use --method cond")
        models = EDITORS[method].load(path, dev)
    return EDITORS[method].build(models, attribute, strength, method, options, progress)


def attribute_methods(model: Path | None = None) -> list[tuple[Attribute, Method]]:
    """The attributes this model (the shipped ones when None) can edit, each with the method
    ``Method.auto`` uses for it."""
    if model is not None:
        method, models = _user_model(model, Method.auto, pick_device())
        return [(a, method) for a in editable(models.attributes)]
    return [(a, auto_method(a)) for a in editable(model_attributes(_shipped_path(Method.cond)))]


def available_attributes(model: Path | None = None) -> list[str]:
    """Attribute names ``--attr`` accepts with this model (the default when None)."""
    return [NO_EDIT, *[a.name for a, _ in attribute_methods(model)]]


def fast_preset(method: Method = Method.auto, tune_steps: int | None = None) -> tuple[Method, int]:
    """``--fast``: no diffusion (``auto`` then picks the cVAE's attribute input where it would
    pick the diffusion editor: :func:`auto_method`) and no per-video tuning, the quickest edit
    (BENCHMARKS.md "Edit speed"); weaker than the diffusion default for age and gender.
    Returns ``(method, tune_steps)``; an explicit ``tune_steps`` is kept."""
    method = Method(method)
    if method is Method.diffusion:
        raise InputError(
            "--fast edits with the cVAE (or the geometry editor), not diffusion: "
            "leave out --method diffusion (or --fast)"
        )
    return method, (0 if tune_steps is None else tune_steps)


def editor_for(request: EditRequest, progress: bool = False) -> CropEditor:
    """:func:`make_editor` for a whole request."""
    return make_editor(request.attr, request.strength, request.options, request.model, request.device, progress)
