"""The contract between the one trainer and each model family.

A *family* (autoencoder, VAE, cVAE, GAN, cGAN, pix2pix, CycleGAN, DDPM) is an
``nn.Module`` that owns its networks, losses and optimisers; the trainer owns the
loop (data, steps, checkpoints, EMA, sample grids, metrics CSV, progress, DDP).

Construction
------------
``generative.registry`` maps a name to ``"module:FamilyClass"``. Every family class has

* ``Config``: a dataclass class attribute. Fields are JSON types only (int, float, str,
  bool, lists of those; tuples are fine, they come back from JSON as tuples again when
  the default is a tuple). Every config has ``image_size`` and ``lr``; the CLI
  overrides ``image_size``, ``lr`` (and for conditional families ``cond_names``) by name.
  Conditional families have ``n_cond: int`` and ``cond_names: list[str]`` (attribute names,
  in the order of the ``cond`` vector). Keep ``n_cond == len(cond_names)`` (``__post_init__``).
* ``family``: the registry name (e.g. ``"cvae"``), a class attribute.
* ``data``: which data set the family trains on, a :class:`DataKind` class attribute.
* ``__init__(self, config)``: builds all networks; nothing else is needed to load weights.

The family's ``state_dict()`` is what gets saved (safetensors), so everything that is
needed at inference must be a parameter or a *persistent* buffer. Families that need the
training step (e.g. a KL warm-up) keep it in a buffer themselves: the trainer does not
pass it, and a buffer is checkpointed and restored with the weights for free.

Batches
-------
Batches are dicts of tensors. Keys used by the data sets in ``generative.data``:

* ``"image"``: ``(B, 3, H, W)`` float in ``[-1, 1]`` (DataKind.images / attributes)
* ``"cond"``:  ``(B, C)`` float attribute vector in ``{0, 1}`` (DataKind.attributes)
* ``"a"``, ``"b"``: paired (pix2pix) or unpaired (CycleGAN) domain images in ``[-1, 1]``

The trainer moves every tensor of the batch to the device before calling the family.

Optimisation and data parallelism
---------------------------------
``training_step`` does forward, backward and ``optimizer.step()`` itself (GAN-style
families: several optimisers, several backward passes, as in junyanz's
``optimize_parameters``). Losses should be *means over the batch* so that data-parallel
training equals single-process training with the global batch.

Under ``torchrun`` the trainer makes every optimiser's ``step()`` first average the
gradients of that optimiser's parameters over all processes (``generative.training.ddp``).
No module is wrapped in ``DistributedDataParallel``, so families may call sub-module
methods freely and run any number of forwards before a backward; they need not know
about DDP at all. (An earlier draft had ``ddp_modules()``; it is no longer used.)
Do not call ``torch.distributed`` from a family. Zero gradients with
``optimizer.zero_grad(set_to_none=True)`` *before* each backward you step on.

EMA
---
``ema_modules()`` names sub-modules (attribute names on the family, e.g. ``{"generator":
self.generator}``) that the trainer keeps an exponential moving average of, after every
``training_step``. Sample grids, ``sample`` during training and the exported
``model.safetensors`` use the EMA weights (parameters and buffers) in place of the live
ones. Return ``{}`` for none.

Sampling
--------
``sample_grid(batch, n)`` is for the periodic progress grid (reconstructions next to
inputs, translations, samples: whatever shows progress best). ``sample(n, cond, **kw)`` is
what ``stitchtime sample`` calls on a loaded family: ``cond`` is ``None`` or an
``(n, n_cond)`` float tensor in which ``NaN`` means "unspecified, the family chooses" (e.g.
drawn from the attribute frequencies seen in training). Extra keywords (e.g.
``steps=50, sampler="ddim"`` for DDPM, ``generator=torch.Generator``) are family-specific;
ignore the ones you do not understand rather than failing. Both return ``(N, 3, H, W)``
in ``[-1, 1]`` on the family's device and must not change the training state (use
``torch.no_grad`` and restore ``train()``/``eval()``).

:class:`FamilyBase` gives the bookkeeping parts (device, default ``ema_modules``); using
it is optional, the trainer only relies on :class:`Family`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn


class DataKind(str, Enum):
    """Which data set a family trains on (see ``generative.data.build_dataset``)."""

    images = "images"  # {"image"}: an image folder, or a CelebA folder without attributes
    attributes = "attributes"  # {"image", "cond"}: CelebA folder + config.cond_names
    paired = "paired"  # {"a", "b"}: A|B side-by-side images, or folders A/ and B/ with the same names
    unpaired = "unpaired"  # {"a", "b"}: folders A/ and B/, or CelebA split by one attribute (--domain)


@dataclass
class StepOutput:
    """What one optimisation step reports (plain floats, for the progress bar and CSV)."""

    losses: dict[str, float]
    n_images: int


@runtime_checkable
class Family(Protocol):
    """What the trainer needs from a model family (an ``nn.Module``)."""

    family: str  # registry name, e.g. "cvae"
    data: DataKind
    config: Any  # a dataclass, JSON-serialisable with dataclasses.asdict

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (GAN-style families return two or more)."""
        ...

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        """Forward, backward and ``optimizer.step()`` for one batch; returns the losses."""
        ...

    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in ``[-1, 1]`` for the periodic sample grid."""
        ...

    def sample(self, n: int, cond: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``n`` new images ``(n, 3, H, W)`` in ``[-1, 1]``; ``cond`` may contain NaN (= unspecified)."""
        ...

    def ema_modules(self) -> dict[str, nn.Module]:
        """Sub-modules worth an exponential moving average (empty dict: none)."""
        ...


class FamilyBase(nn.Module):
    """Optional base class: device helper, no EMA, and a shared eval-mode context."""

    family: ClassVar[str] = ""
    data: ClassVar[DataKind] = DataKind.images

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    def ema_modules(self) -> dict[str, nn.Module]:
        return {}


class eval_mode:
    """Context manager: put ``module`` in eval mode, restore its previous mode after."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.was_training = module.training

    def __enter__(self) -> nn.Module:
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


def fill_unspecified_cond(
    cond: torch.Tensor | None, n: int, prior: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replace NaN entries (or a ``None`` cond) by 0/1 draws from the per-attribute ``prior`` (frequencies)."""
    prior = prior.float().clamp(0, 1)
    draws = (torch.rand(n, prior.numel(), generator=generator, device=prior.device) < prior).float()
    if cond is None:
        return draws
    cond = cond.to(prior.device, torch.float32)
    if cond.shape != (n, prior.numel()):
        raise ValueError(f"cond must have shape ({n}, {prior.numel()}), got {tuple(cond.shape)}")
    return torch.where(torch.isnan(cond), draws, cond)


def settle_cond_names(config: Any) -> None:
    """``__post_init__`` helper for conditional configs: ``cond_names`` becomes a list and
    ``n_cond`` (0 = derive it) must equal its length."""
    config.cond_names = list(config.cond_names)
    if config.n_cond == 0:
        config.n_cond = len(config.cond_names)
    if config.n_cond != len(config.cond_names) or config.n_cond < 1:
        raise ValueError(
            f"n_cond ({config.n_cond}) must equal the number of cond_names ({len(config.cond_names)}) and be >= 1"
        )
