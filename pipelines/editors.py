"""Build the crop editor a command asked for."""

from __future__ import annotations

from stitchtime.errors import InputError
from stitchtime.latents.editor import CropEditor, IdentityEditor

NO_EDIT = "none"


def available_attributes() -> list[str]:
    """Attribute names ``--attr`` accepts."""
    return [NO_EDIT]


def make_editor(attr: str, strength: float = 1.0) -> CropEditor:
    name = attr.strip().lower()
    if name == NO_EDIT:
        return IdentityEditor()
    raise InputError(f"unknown attribute {attr!r}; valid: {', '.join(available_attributes())}")
