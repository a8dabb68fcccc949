"""DCGAN-style GAN and conditional GAN (projection discriminator).

Convention: images ``(B, 3, S, S)`` in ``[-1, 1]`` with ``S = 4 * 2**len(channels)``; noise
``(B, z_dim)``; ``cond`` ``(B, n_cond)`` float ``{0, 1}`` ordered as ``config.cond_names``.

G: linear -> 4x4 -> [ConvTranspose 4/2 + BatchNorm + ReLU] per level -> tanh. D: stride-2 convs with
spectral norm and LeakyReLU, global sum pooling, a linear logit; the cGAN adds the projection term
``<embed(cond), features>`` (Miyato & Koyama 2018) with cond mapped to ``+-1`` so both attribute
states carry information; G gets ``+-cond`` concatenated to its noise. The live G trains; the trainer
keeps an EMA of G, which the sample grids and the export use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from generative.nn.losses import gan_d_loss, gan_g_loss
from generative.nn.optim import autocast
from generative.training.family import (
    DataKind,
    FamilyBase,
    StepOutput,
    eval_mode,
    fill_unspecified_cond,
    settle_cond_names,
)

BASE_SIZE = 4  # G starts from, and D ends at, a 4x4 feature map
LEAKY_SLOPE = 0.2
GRID_SEED = 0  # the periodic sample grid always decodes the same noise


def _signed(cond: torch.Tensor) -> torch.Tensor:
    return cond.float() * 2.0 - 1.0


def _check_size(image_size: int, levels: int) -> None:
    if image_size != BASE_SIZE * 2**levels:
        raise ValueError(
            f"image_size {image_size} needs {BASE_SIZE}*2**len(channels); "
            f"got {levels} levels -> {BASE_SIZE * 2**levels}"
        )


class Generator(nn.Module):
    def __init__(self, image_size: int, z_dim: int, channels: tuple[int, ...], n_cond: int = 0) -> None:
        super().__init__()
        _check_size(image_size, len(channels))
        self.n_cond = n_cond
        self.fc = nn.Linear(z_dim + n_cond, channels[0] * BASE_SIZE**2)
        self.fc_norm = nn.BatchNorm2d(channels[0])
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.top = channels[0]

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_cond:
            if cond is None:
                raise ValueError(f"this generator is conditional: pass cond (B, {self.n_cond})")
            z = torch.cat([z, _signed(cond)], dim=1)
        h = self.fc(z).view(len(z), self.top, BASE_SIZE, BASE_SIZE)
        return self.body(F.relu(self.fc_norm(h)))


class Discriminator(nn.Module):
    def __init__(self, image_size: int, channels: tuple[int, ...], n_cond: int = 0) -> None:
        super().__init__()
        _check_size(image_size, len(channels))
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in channels:
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.logit = spectral_norm(nn.Linear(c_in, 1))
        self.n_cond = n_cond
        self.embed = spectral_norm(nn.Linear(n_cond, c_in, bias=False)) if n_cond else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x).sum(dim=(2, 3))
        out = self.logit(h).squeeze(1)
        if self.embed is not None:
            if cond is None:
                raise ValueError(f"this discriminator is conditional: pass cond (B, {self.n_cond})")
            out = out + (self.embed(_signed(cond)) * h).sum(1)
        return out


@dataclass
class GANConfig:
    image_size: int = 64
    z_dim: int = 128
    g_channels: tuple[int, ...] = (256, 128, 64, 32)  # G widths at 4, 8, 16, 32 px (then -> image_size)
    d_channels: tuple[int, ...] = (32, 64, 128, 256)  # D widths at image_size/2, /4, /8, /16
    lr: float = 2e-4
    lr_d: float = 2e-4
    adam_betas: tuple[float, float] = (0.0, 0.99)
    # "hinge" | "nonsat". Measured here (BENCHMARKS.md, "Real training runs"; FD on the CelebA test
    # split, 256 samples): nonsat 147 vs hinge 165 at 800 steps, 17.5 vs 18.8 at 6000 (both at the
    # real-faces floor, 20.6): close, but nonsat was ahead both times.
    loss: str = "nonsat"
    ema: bool = True
    bf16: bool = False  # bfloat16 autocast of the forwards (losses, weights and optimiser stay float32)


@dataclass
class CGANConfig(GANConfig):
    cond_names: list[str] = field(default_factory=lambda: ["Smiling", "Young", "Male", "Eyeglasses"])
    n_cond: int = 0  # 0: len(cond_names)

    def __post_init__(self) -> None:
        settle_cond_names(self)


class GANFamily(FamilyBase):
    Config = GANConfig
    family = "gan"
    data = DataKind.images

    def __init__(self, config: GANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or self.Config()
        n_cond = getattr(config, "n_cond", 0)
        self.generator = Generator(config.image_size, config.z_dim, tuple(config.g_channels), n_cond)
        self.discriminator = Discriminator(config.image_size, tuple(config.d_channels), n_cond)
        gan_d_loss(torch.zeros(1), torch.zeros(1), config.loss)  # validates config.loss early

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.config.adam_betas)
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr_d, betas=betas),
        }

    def _cond(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return None

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        real = batch["image"]
        cond = self._cond(batch)
        z = torch.randn(len(real), self.config.z_dim, device=real.device)
        with autocast(real.device, self.config.bf16):
            fake = self.generator(z, cond)

        opt_d = optimizers["discriminator"]
        with autocast(real.device, self.config.bf16):
            d_both = self.discriminator(
                torch.cat([real, fake.detach()]), None if cond is None else torch.cat([cond, cond])
            ).float()
        d_real, d_fake = d_both.chunk(2)
        loss_d = gan_d_loss(d_real, d_fake, self.config.loss)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        opt_g = optimizers["generator"]
        self.discriminator.requires_grad_(False)
        with autocast(real.device, self.config.bf16):
            d_gen = self.discriminator(fake, cond).float()
        loss_g = gan_g_loss(d_gen, self.config.loss)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        self.discriminator.requires_grad_(True)
        return StepOutput(
            {
                "loss_d": loss_d.item(),
                "loss_g": loss_g.item(),
                "d_real": d_real.mean().item(),
                "d_fake": d_fake.mean().item(),
            },
            len(real),
        )

    @torch.no_grad()
    def generate(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Images from noise ``(B, z_dim)`` (and ``cond``), eval mode (BatchNorm running statistics)."""
        with eval_mode(self):
            return self.generator(z.to(self.device), None if cond is None else cond.to(self.device))

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(GRID_SEED)
        cond = self._cond(batch)
        n = n if cond is None else min(n, len(cond))
        z = torch.randn(n, self.config.z_dim, generator=generator)
        return self.generate(z, None if cond is None else cond[:n])

    @torch.no_grad()
    def sample(
        self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any
    ) -> torch.Tensor:
        return self.generate(torch.randn(n, self.config.z_dim, generator=generator))

    def ema_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator} if self.config.ema else {}


class CGANFamily(GANFamily):
    """Conditional GAN: ``generate(z, cond)``; projection discriminator."""

    Config = CGANConfig
    family = "cgan"
    data = DataKind.attributes

    def __init__(self, config: CGANConfig | None = None) -> None:
        super().__init__(config or CGANConfig())
        self.register_buffer("cond_prior", torch.full((self.config.n_cond,), 0.5))

    @property
    def cond_names(self) -> list[str]:
        return list(self.config.cond_names)

    def _cond(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return batch["cond"]

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        with torch.no_grad():
            self.cond_prior.lerp_(batch["cond"].float().mean(0), 0.01)
        return super().training_step(batch, optimizers)

    @torch.no_grad()
    def sample(
        self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any
    ) -> torch.Tensor:
        cond = fill_unspecified_cond(cond, n, self.cond_prior.cpu(), generator)
        return self.generate(torch.randn(n, self.config.z_dim, generator=generator), cond)
