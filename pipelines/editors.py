"""Build the crop editor a command asked for."""

from __future__ import annotations

from pathlib import Path

from generative.device import pick_device
from stitchtime.config import EditConfig, InvertConfig
from stitchtime.errors import InputError
from stitchtime.latents.attributes import editable, resolve
from stitchtime.latents.edit import CVAEEditor
from stitchtime.latents.editor import CropEditor, IdentityEditor
from stitchtime.latents.model import load_editor_models

NO_EDIT = "none"


def available_attributes(model: Path | None = None) -> list[str]:
    """Attribute names ``--attr`` accepts with this model (the default when None)."""
    models = load_editor_models(model, device=pick_device())
    return [NO_EDIT, *[a.name for a in editable(models.attributes)]]


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
    models = load_editor_models(model, device=pick_device(device))
    try:
        attribute = resolve(attr, models.attributes)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None
    edit = edit or EditConfig(attr=attribute.name, strength=strength)
    return CVAEEditor(models, attribute, edit, invert, progress=progress)
