"""Explicit registry: family name -> ``"module:Class"`` (imported lazily, only when asked for)."""

from __future__ import annotations

import dataclasses
import importlib
import typing
from typing import Any

from generative.errors import CheckpointError

FAMILIES: dict[str, str] = {
    "ae": "generative.models.autoencoder:AutoencoderFamily",
    "vae": "generative.models.vae:VAEFamily",
    "cvae": "generative.models.vae:CVAEFamily",
    "gan": "generative.models.gan:GANFamily",
    "cgan": "generative.models.gan:CGANFamily",
    "pix2pix": "generative.models.pix2pix:Pix2PixFamily",
    "cyclegan": "generative.models.cyclegan:CycleGANFamily",
    "ddpm": "generative.models.ddpm:DDPMFamily",
    "classifier": "generative.models.classifier:AttributeClassifierFamily",
}


def family_class(name: str) -> type:
    """The family class registered as ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in FAMILIES:
        raise KeyError(f"unknown model family {name!r}; valid: {', '.join(FAMILIES)}")
    module_name, class_name = FAMILIES[key].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def config_from_dict(config_cls: type, values: dict[str, Any]) -> Any:
    """Build ``config_cls`` from JSON values; lists become tuples where the field is a tuple.

    Raises CheckpointError for unknown fields or values the config rejects.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise CheckpointError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for key, value in values.items():
        origin = typing.get_origin(hints.get(key))
        kwargs[key] = tuple(value) if origin is tuple and isinstance(value, list) else value
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"invalid {config_cls.__name__}: {err}") from None


def build_family(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """``FamilyClass(Config(**defaults | overrides))``; override keys the config lacks are ignored."""
    cls = family_class(name)
    known = {f.name for f in dataclasses.fields(cls.Config)}
    values = {k: v for k, v in (overrides or {}).items() if k in known and v is not None}
    if "cond_names" in values and "n_cond" in known:
        values["n_cond"] = len(values["cond_names"])
    return cls(config_from_dict(cls.Config, values))
