"""Exponential moving average of named sub-modules (parameters and buffers)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

EMA_WARMUP = 10.0  # effective decay is min(decay, (1 + step) / (EMA_WARMUP + step)): early averages forget init fast


class EMA:
    """Keeps ``shadow[f"{name}.{key}"]`` for every entry of each module's ``state_dict``.

    Keys are those of the owning family's ``state_dict`` (``name`` is the attribute name of the
    sub-module on the family), so :meth:`merged_state` can substitute them directly. Floating-point
    entries are averaged; integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are copied.
    """

    def __init__(self, modules: dict[str, nn.Module], decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.modules = modules
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] = {key: value.detach().clone() for key, value in self._live().items()}

    def _live(self) -> dict[str, torch.Tensor]:
        return {
            f"{name}.{key}": value
            for name, module in self.modules.items()
            for key, value in module.state_dict().items()
        }

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (EMA_WARMUP + step))
        for key, live in self._live().items():
            shadow = self.shadow[key]
            if shadow.is_floating_point():
                shadow.lerp_(live.detach(), 1.0 - decay)
            else:
                shadow.copy_(live)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}...")
        for key, value in self.shadow.items():
            value.copy_(state[key])

    def merged_state(self, family: nn.Module) -> dict[str, torch.Tensor]:
        """``family.state_dict()`` with the averaged entries in place of the live ones."""
        state = family.state_dict()
        state.update(self.shadow)
        return state

    @contextmanager
    def applied(self, family: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``family`` (restored on exit)."""
        backup = {key: value.detach().clone() for key, value in self._live().items()}
        family.load_state_dict(self.shadow, strict=False)
        try:
            yield family
        finally:
            family.load_state_dict(backup, strict=False)
