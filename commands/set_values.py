"""``train --set KEY=VALUE``: values for a model config's fields, checked against the field types
(pydantic, strict JSON mode) before any model or data is loaded."""

from __future__ import annotations

import json
import types
import typing

from pydantic import TypeAdapter, ValidationError

from stitchtime.errors import InputError


def parse_sets(items: list[str], config_cls: type) -> dict:
    """``KEY=JSON`` pairs for config fields, each value checked against its field's type (strings
    may be given bare; an int is taken for a float; a list for a tuple). Raises InputError naming
    the valid fields for an unknown key, or the field and its type for a value of another type."""
    hints = typing.get_type_hints(config_cls)
    fields = sorted(config_cls.__dataclass_fields__)  # type: ignore[attr-defined]
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise InputError(f"--set {item}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        if key not in fields:
            raise InputError(f"--set {item}: unknown field {key!r}; valid: {', '.join(fields)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        hint = hints.get(key, typing.Any)
        if hint is str and not isinstance(value, str):
            value = raw  # a str field takes the text as given (e.g. a folder named 123)
        try:
            out[key] = TypeAdapter(hint).validate_json(json.dumps(value), strict=True)
        except ValidationError:
            raise InputError(f"--set {item}: {key} expects {_type_name(hint)}, got {_json_kind(value)}") from None
    return out


def _type_name(hint) -> str:
    """``hint`` as written in the config: ``int``, ``tuple[int, ...]``, ``list[str]``, ``int | None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin in (tuple, list):
        inner = [("..." if a is Ellipsis else _type_name(a)) for a in args]
        return f"{origin.__name__}[{', '.join(inner)}]"
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def _json_kind(value) -> str:
    """What a decoded JSON value is, for messages: ``int``, ``str``, ``null``, ``[int, str]``, ``object``."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return f"[{', '.join(_json_kind(v) for v in value)}]"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
