"""The contract between the one trainer and each model family.

A *family* (autoencoder, VAE, cVAE, GAN, cGAN, pix2pix, CycleGAN, DDPM) is an
``nn.Module`` that owns its networks, losses and optimisers; the trainer owns the
loop (data, steps, checkpoints, EMA, sample grids, metrics CSV, progress, DDP).

Batches are dicts of tensors. Keys used by the data sets in ``generative.data``:

* ``"image"``: ``(B, 3, H, W)`` float in ``[-1, 1]``
* ``"cond"``:  ``(B, C)`` float attribute vector in ``{0, 1}`` (conditional families)
* ``"a"``, ``"b"``: paired (pix2pix) or unpaired (CycleGAN) domain images in ``[-1, 1]``

Every family's config is a dataclass saved as JSON beside safetensors weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class StepOutput:
    """What one optimisation step reports (plain floats, for the progress bar and CSV)."""

    losses: dict[str, float]
    n_images: int


@runtime_checkable
class Family(Protocol):
    """What the trainer needs from a model family."""

    family: str  # registry name, e.g. "cvae"
    config: object  # a dataclass, JSON-serialisable with dataclasses.asdict

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (GAN-style families return two or more)."""
        ...

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        """Forward, backward and ``optimizer.step()`` for one batch; returns the losses."""
        ...

    def ddp_modules(self) -> dict[str, nn.Module]:
        """Sub-modules with trainable parameters that DDP should wrap (name -> module)."""
        ...

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in ``[-1, 1]`` for the periodic sample grid
        (reconstructions / samples / translations, whatever shows progress best)."""
        ...

    def ema_modules(self) -> dict[str, nn.Module]:
        """Sub-modules worth an exponential moving average (empty dict: none)."""
        ...
