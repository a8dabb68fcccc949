"""Progress bars of the passes over a video (on stderr; off when not asked for)."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def bar(items: Iterable[T], total: int, desc: str, enabled: bool, unit: str = "frame") -> Iterable[T]:
    return tqdm(items, total=total, desc=desc, unit=unit, leave=False, disable=not enabled, dynamic_ncols=True)
