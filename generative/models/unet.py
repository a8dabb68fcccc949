"""Noise-prediction U-Net for DDPM (Ho et al. 2020 layout, as in diffusers' ``UNet2DModel``).

Convention
----------
* ``forward(x, t, cond=None, cond_keep=None)``: ``x`` is ``(B, C, H, W)``, ``t`` is ``(B,)`` integer
  (or float) timesteps, ``cond`` an optional ``(B, cond_dim)`` float attribute vector.
* Conditioning: ``Linear(cond)`` is added to the timestep embedding. A learned "null" embedding
  replaces it where ``cond_keep`` is ``False`` (or when ``cond`` is ``None``): that is the
  unconditional branch classifier-free guidance needs (Ho & Salimans 2022).
* ``H`` and ``W`` must be divisible by ``2 ** (len(channel_mults) - 1)``.

Layout: conv_in -> per level ``layers_per_block`` residual blocks (+ self-attention at
``attention_levels``) and a stride-2 conv downsample except at the last level -> middle
(res, attention, res) -> mirrored up path with ``layers_per_block + 1`` blocks per level, each taking
a skip connection, nearest-neighbour upsample + conv -> GroupNorm, SiLU, conv_out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MAX_PERIOD = 10_000  # longest wavelength of the sinusoidal timestep embedding (Vaswani et al.)
TIME_EMBED_MULT = 4  # time-embedding width = TIME_EMBED_MULT * base_channels
GROUP_NORM_EPS = 1e-5
CHANNELS_LAST_DEVICES = ("cpu", "cuda")


@dataclass
class UNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = (2, 3)  # level indices (0 = full resolution) with self-attention
    attention_head_dim: int = 32
    num_groups: int = 32
    dropout: float = 0.0
    cond_dim: int = 0  # 0: unconditional

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        bad = [lvl for lvl in self.attention_levels if not 0 <= lvl < len(self.channel_mults)]
        if bad:
            raise ValueError(f"attention_levels {bad} outside 0..{len(self.channel_mults) - 1}")
        for mult in self.channel_mults:
            ch = self.base_channels * mult
            if ch % self.num_groups:
                raise ValueError(f"channels {ch} not divisible by num_groups {self.num_groups}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: int = MAX_PERIOD) -> torch.Tensor:
    """``(B,)`` timesteps -> ``(B, dim)`` sinusoidal features ``[cos, sin]`` with geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the embedding added between, and a residual path."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, num_groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups, in_ch, eps=GROUP_NORM_EPS)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(num_groups, out_ch, eps=GROUP_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the ``H*W`` positions, pre-GroupNorm, residual.

    Works on ``(B, HW, C)`` tokens with linear projections; with channels-last activations the
    token view costs no copy."""

    def __init__(self, channels: int, head_dim: int, num_groups: int) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"channels {channels} not divisible by attention_head_dim {head_dim}")
        self.heads = channels // head_dim
        self.norm = nn.GroupNorm(num_groups, channels, eps=GROUP_NORM_EPS)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c)
        q, k, v = self.qkv(tokens).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, head_dim)
        y = self.out(y.transpose(1, 2).reshape(b, h * w, c))
        return x + y.reshape(b, h, w, c).permute(0, 3, 1, 2)


class _Level(nn.Module):
    """Residual blocks (each optionally followed by attention) at one resolution."""

    def __init__(self, chans: list[tuple[int, int]], emb_dim: int, cfg: UNetConfig, attention: bool) -> None:
        super().__init__()
        self.res = nn.ModuleList(ResBlock(i, o, emb_dim, cfg.num_groups, cfg.dropout) for i, o in chans)
        self.attn = nn.ModuleList(
            SelfAttention(o, cfg.attention_head_dim, cfg.num_groups) if attention else nn.Identity() for _, o in chans
        )


class UNet(nn.Module):
    """Predicts the noise ``eps`` in ``x_t`` (see module docstring for shapes)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = cfg = config
        ch0 = cfg.base_channels
        emb_dim = TIME_EMBED_MULT * ch0
        self.time_mlp = nn.Sequential(nn.Linear(ch0, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if cfg.cond_dim > 0:
            self.cond_proj = nn.Linear(cfg.cond_dim, emb_dim)
            self.null_cond = nn.Parameter(torch.zeros(emb_dim))
        self.conv_in = nn.Conv2d(cfg.in_channels, ch0, 3, padding=1)

        widths = [ch0 * m for m in cfg.channel_mults]
        n_levels = len(widths)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_widths = [ch0]
        prev = ch0
        for level, width in enumerate(widths):
            chans = []
            for _ in range(cfg.layers_per_block):
                chans.append((prev, width))
                prev = width
                skip_widths.append(width)
            self.down.append(_Level(chans, emb_dim, cfg, level in cfg.attention_levels))
            last = level == n_levels - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(width, width, 3, stride=2, padding=1))
            if not last:
                skip_widths.append(width)

        self.mid_res1 = ResBlock(prev, prev, emb_dim, cfg.num_groups, cfg.dropout)
        self.mid_attn = SelfAttention(prev, cfg.attention_head_dim, cfg.num_groups)
        self.mid_res2 = ResBlock(prev, prev, emb_dim, cfg.num_groups, cfg.dropout)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(n_levels)):
            width = widths[level]
            chans = []
            for _ in range(cfg.layers_per_block + 1):
                chans.append((prev + skip_widths.pop(), width))
                prev = width
            self.up.append(_Level(chans, emb_dim, cfg, level in cfg.attention_levels))
            self.upsample.append(nn.Identity() if level == 0 else nn.Conv2d(width, width, 3, padding=1))

        self.norm_out = nn.GroupNorm(cfg.num_groups, prev, eps=GROUP_NORM_EPS)
        self.conv_out = nn.Conv2d(prev, cfg.out_channels, 3, padding=1)

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.config.channel_mults) - 1)

    def embed(self, t: torch.Tensor, cond: torch.Tensor | None, cond_keep: torch.Tensor | None) -> torch.Tensor:
        """Timestep (+ condition or null) embedding ``(B, emb_dim)``."""
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
        if self.config.cond_dim == 0:
            if cond is not None:
                raise ValueError("this U-Net is unconditional (cond_dim=0) but got cond")
            return emb
        if cond is None:
            return emb + self.null_cond
        if cond.ndim != 2 or cond.shape[1] != self.config.cond_dim:
            raise ValueError(f"cond must be (B, {self.config.cond_dim}), got {tuple(cond.shape)}")
        c = self.cond_proj(cond.to(emb.dtype))
        if cond_keep is not None:
            c = torch.where(cond_keep[:, None], c, self.null_cond.expand_as(c))
        return emb + c

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor | None = None,
        cond_keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"x must be (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % self.downscale or x.shape[-2] % self.downscale:
            raise ValueError(f"H and W must be divisible by {self.downscale}, got {tuple(x.shape[-2:])}")
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.embed(t, cond, cond_keep)
        if x.device.type in CHANNELS_LAST_DEVICES:
            # channels-last activations: faster oneDNN convolutions on CPU, copy-free attention tokens
            x = x.contiguous(memory_format=torch.channels_last)

        h = self.conv_in(x)
        skips = [h]
        for level, down in zip(self.down, self.downsample):
            for res, attn in zip(level.res, level.attn):
                h = attn(res(h, emb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)

        h = self.mid_res2(self.mid_attn(self.mid_res1(h, emb)), emb)

        for level, up in zip(self.up, self.upsample):
            for res, attn in zip(level.res, level.attn):
                h = attn(res(torch.cat([h, skips.pop()], dim=1), emb))
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))

        return self.conv_out(F.silu(self.norm_out(h)))
