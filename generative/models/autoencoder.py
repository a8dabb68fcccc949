"""Convolutional autoencoder family, and the encoder/decoder networks the VAEs share.

Convention: images ``(B, 3, S, S)`` in ``[-1, 1]``; latents are flat vectors ``(B, latent_dim)``
(no spatial map, so a linear attribute direction in latent space is meaningful); ``decode`` returns
un-clamped images (about ``[-1, 1]``); ``sample``/``reconstruct`` clamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generative.nn.blocks import Downsample, ResBlock, Upsample, check_image_size, group_norm
from generative.nn.losses import RandomFeatureLoss, laplacian_pyramid_loss
from generative.training.family import DataKind, FamilyBase, StepOutput, eval_mode

LATENT_STATS_MOMENTUM = 0.01  # running mean/std of AE latents (for sampling from a fitted Gaussian)
GRID_ROWS = 4  # sample grid: rows of inputs above rows of reconstructions


def per_level(value: int | tuple[int, ...] | list[int], levels: int) -> tuple[int, ...]:
    """An int for every level, or one entry per level."""
    if isinstance(value, int):
        return (value,) * levels
    if len(value) != levels:
        raise ValueError(f"res_blocks needs one entry per level ({levels}), got {tuple(value)}")
    return tuple(int(v) for v in value)


class ConvEncoder(nn.Module):
    """``(B, 3, S, S) [+ cond (B, n_cond)] -> (B, out_dim)``: residual conv pyramid then one linear layer.

    Level ``i`` runs ``res_blocks[i]`` residual blocks at ``channels[i]`` and halves the size, so the last
    feature map is ``S / 2**len(channels)`` square. ``cond`` (if ``n_cond``) is concatenated to the
    flattened features.
    """

    def __init__(
        self,
        image_size: int,
        channels: tuple[int, ...],
        res_blocks: int | tuple[int, ...],
        out_dim: int,
        n_cond: int = 0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        res_blocks = per_level(res_blocks, len(channels))
        self.bottom = check_image_size(image_size, len(channels))
        self.n_cond = n_cond
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        blocks: list[nn.Module] = []
        prev = channels[0]
        for i, ch in enumerate(channels):
            for _ in range(res_blocks[i]):
                blocks.append(ResBlock(prev, ch))
                prev = ch
            blocks.append(Downsample(ch, channels[min(i + 1, len(channels) - 1)]))
            prev = channels[min(i + 1, len(channels) - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.norm = group_norm(prev)
        self.head = nn.Linear(prev * self.bottom**2 + n_cond, out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = F.silu(self.norm(self.blocks(self.stem(x)))).flatten(1)
        if self.n_cond:
            if cond is None:
                raise ValueError("this encoder is conditional: pass cond (B, n_cond)")
            h = torch.cat([h, cond.to(h.dtype)], dim=1)
        return self.head(h)


class ConvDecoder(nn.Module):
    """``(B, latent_dim) [+ cond] -> (B, 3, S, S)``: the mirror of :class:`ConvEncoder`.

    ``cond`` is concatenated to the latent and, through a small MLP, added inside every residual block.
    """

    def __init__(
        self,
        image_size: int,
        channels: tuple[int, ...],
        res_blocks: int | tuple[int, ...],
        latent_dim: int,
        n_cond: int = 0,
        out_channels: int = 3,
        cond_embed_dim: int = 128,
    ) -> None:
        super().__init__()
        res_blocks = per_level(res_blocks, len(channels))
        self.bottom = check_image_size(image_size, len(channels))
        self.n_cond = n_cond
        self.top_channels = channels[-1]
        self.fc = nn.Linear(latent_dim + n_cond, channels[-1] * self.bottom**2)
        emb = cond_embed_dim if n_cond else 0
        self.cond_embed = nn.Sequential(nn.Linear(n_cond, emb), nn.SiLU(), nn.Linear(emb, emb)) if n_cond else None
        self.ups = nn.ModuleList()
        self.levels = nn.ModuleList()
        prev = channels[-1]
        for ch, n_blocks in zip(reversed(channels), reversed(res_blocks)):
            self.ups.append(Upsample(prev, ch))
            self.levels.append(nn.ModuleList(ResBlock(ch, ch, emb_dim=emb) for _ in range(n_blocks)))
            prev = ch
        self.norm = group_norm(prev)
        self.out = nn.Conv2d(prev, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        emb = None
        if self.n_cond:
            if cond is None:
                raise ValueError("this decoder is conditional: pass cond (B, n_cond)")
            cond = cond.to(z.dtype)
            z = torch.cat([z, cond], dim=1)
            emb = self.cond_embed(cond)
        h = self.fc(z).view(len(z), self.top_channels, self.bottom, self.bottom)
        for up, blocks in zip(self.ups, self.levels):
            h = up(h)
            for block in blocks:
                h = block(h, emb)
        return self.out(F.silu(self.norm(h)))


class ReconstructionLoss(nn.Module):
    """``L1`` or ``L2`` per pixel, plus ``perceptual_weight`` x a sharpness term (no downloaded weights):

    ``"laplacian"`` (L1 between Laplacian pyramids, cheapest), ``"random"`` (features of a fixed
    random conv net), or ``"none"``.
    """

    def __init__(self, kind: str = "l1", perceptual: str = "laplacian", perceptual_weight: float = 1.0) -> None:
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ValueError(f"unknown reconstruction loss {kind!r}; choose 'l1' or 'l2'")
        if perceptual not in ("laplacian", "random", "none"):
            raise ValueError(f"unknown perceptual term {perceptual!r}; choose 'laplacian', 'random' or 'none'")
        self.kind, self.perceptual, self.weight = kind, perceptual, perceptual_weight
        self.random_features = RandomFeatureLoss() if perceptual == "random" else None

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel term, perceptual term), both scalars."""
        diff = reconstruction - target
        pixel = diff.abs().mean() if self.kind == "l1" else diff.pow(2).mean()
        if self.perceptual == "laplacian":
            extra = laplacian_pyramid_loss(reconstruction, target)
        elif self.random_features is not None:
            extra = self.random_features(reconstruction, target)
        else:
            extra = pixel.new_zeros(())
        return pixel, extra


@dataclass
class EncoderOutput:
    """What ``encode`` returns. ``latent`` is the code to decode / edit (for a VAE: the posterior mean)."""

    latent: torch.Tensor  # (B, latent_dim)


@dataclass
class AutoencoderConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one entry per down-sampling level
    res_blocks: tuple[int, ...] = (0, 1, 1, 1)  # residual blocks per level (none at full size: CPU cost)
    latent_dim: int = 256
    lr: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.99)
    recon: str = "l1"  # "l1" | "l2"
    perceptual: str = "laplacian"  # "laplacian" | "random" | "none"
    perceptual_weight: float = 1.0
    ema: bool = True  # export EMA weights of encoder and decoder


class AutoencoderFamily(FamilyBase):
    """A deterministic autoencoder. ``sample`` decodes draws from a diagonal Gaussian fitted (running
    mean/std) to the training latents."""

    Config = AutoencoderConfig
    family = "ae"
    data = DataKind.images

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        self.encoder = ConvEncoder(config.image_size, tuple(config.channels), config.res_blocks, config.latent_dim)
        self.decoder = ConvDecoder(config.image_size, tuple(config.channels), config.res_blocks, config.latent_dim)
        self.loss = ReconstructionLoss(config.recon, config.perceptual, config.perceptual_weight)
        self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
        self.register_buffer("latent_std", torch.ones(config.latent_dim))

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        return EncoderOutput(latent=self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"ae": torch.optim.Adam(params, lr=self.config.lr, betas=tuple(self.config.adam_betas))}

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        x = batch["image"]
        z = self.encoder(x)
        pixel, extra = self.loss(self.decoder(z), x)
        loss = pixel + self.config.perceptual_weight * extra
        optimizer = optimizers["ae"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            self.latent_mean.lerp_(z.mean(0), LATENT_STATS_MOMENTUM)
            if len(z) > 1:
                self.latent_std.lerp_(z.std(0), LATENT_STATS_MOMENTUM)
        return StepOutput({"loss": loss.item(), "recon": pixel.item(), "perceptual": extra.item()}, len(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        with eval_mode(self):
            return self.decode(self.encode(x).latent).clamp(-1, 1)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        return _inputs_over_reconstructions(batch["image"][:n], self.reconstruct(batch["image"][:n]))

    @torch.no_grad()
    def sample(
        self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any
    ) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        with eval_mode(self):
            return self.decode(self.latent_mean + self.latent_std * z).clamp(-1, 1)

    def ema_modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder} if self.config.ema else {}


def _inputs_over_reconstructions(inputs: torch.Tensor, recons: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """Interleave rows: a row of inputs, then the row of their reconstructions, and so on."""
    rows = []
    for start in range(0, len(inputs), per_row):
        rows += [inputs[start : start + per_row], recons[start : start + per_row]]
    return torch.cat(rows).clamp(-1, 1)
