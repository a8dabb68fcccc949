"""Building blocks shared by the image-to-image translation families (pix2pix, CycleGAN).

After Isola et al. 2017 (pix2pix) and Zhu et al. 2017 (CycleGAN), following the defaults of
junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` and ``util/image_pool.py``:
PatchGAN discriminator, normal(0, 0.02) initialisation, vanilla / least-squares GAN losses and
the history pool of generated images.
"""

from __future__ import annotations

import random
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

INIT_STD = 0.02  # N(0, 0.02) weights (DCGAN / pix2pix / CycleGAN)
LEAKY_SLOPE = 0.2
PATCH_KERNEL = 4
MAX_CHANNEL_MULT = 8  # discriminator widths stop growing at 8 * ndf
POOL_SWAP_PROB = 0.5  # chance that a full pool returns an old image (and keeps the new one)
GRID_ROW = 8  # images per row of the trainer's progress grid


class Norm(str, Enum):
    BATCH = "batch"  # pix2pix default
    INSTANCE = "instance"  # CycleGAN default (affine=False, no running stats)
    NONE = "none"


class GANLoss(str, Enum):
    VANILLA = "vanilla"  # binary cross-entropy on logits (pix2pix)
    LSGAN = "lsgan"  # least squares (CycleGAN)


def norm_layer(kind: Norm | str, channels: int) -> nn.Module:
    kind = Norm(kind)
    if kind is Norm.BATCH:
        return nn.BatchNorm2d(channels)
    if kind is Norm.INSTANCE:
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(kind: Norm | str) -> bool:
    """A conv followed by batch norm needs no bias (the norm's shift replaces it)."""
    return Norm(kind) is not Norm.BATCH


def init_weights(module: nn.Module, std: float = INIT_STD) -> None:
    """Conv / linear weights ~ N(0, std), biases 0; batch-norm scale ~ N(1, std), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def gan_loss(logits: torch.Tensor, target_is_real: bool, kind: GANLoss | str) -> torch.Tensor:
    """Mean GAN loss of the discriminator's (patch) outputs against an all-real or all-fake target."""
    logits = logits.float()  # losses in float32, also under bf16 autocast
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if GANLoss(kind) is GANLoss.VANILLA:
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(logits, target)


def patchgan_receptive_field(n_layers: int) -> int:
    """Side of the input patch one output of :class:`PatchDiscriminator` sees (70 for 3 layers)."""
    strides = [2] * n_layers + [1, 1]
    field = 1
    for stride in reversed(strides):
        field = field * stride + (PATCH_KERNEL - stride)
    return field


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 4x4 convs, then two stride-1 ones; one logit per patch.

    ``n_layers = 3`` is the 70x70 PatchGAN of the papers (for 256 px). At 64 px a 70 px patch
    covers the whole image, so ``n_layers = 2`` (34x34 patches, 14x14 outputs) keeps it a patch
    discriminator at our resolution.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: Norm | str = Norm.BATCH) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, PATCH_KERNEL, stride=2, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        ]
        mult = 1
        for i in range(1, n_layers + 1):
            prev, mult = mult, min(2**i, MAX_CHANNEL_MULT)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, PATCH_KERNEL, stride=stride, padding=1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, PATCH_KERNEL, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.receptive_field = patchgan_receptive_field(n_layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ImagePool:
    """History of generated images for the discriminator (Shrivastava et al. 2017).

    ``query(images)`` returns a batch of the same shape: while the pool fills, the new images
    themselves (and stores them); once full, each image is, with probability 1/2, swapped for a
    random stored one (which it replaces), otherwise returned as is. ``size = 0`` disables it.
    The pool holds detached copies, so it never keeps a graph alive.
    """

    def __init__(self, size: int, seed: int | None = None) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self._rng.random() < POOL_SWAP_PROB:
                idx = self._rng.randrange(self.size)
                out.append(self.images[idx])
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


def grid_rows(groups: list[torch.Tensor], row: int = GRID_ROW) -> torch.Tensor:
    """Stack image groups (inputs, outputs, targets, ...) ``row`` items at a time, so that in a grid
    ``row`` images wide each input sits directly above its outputs."""
    n = groups[0].shape[0]
    return torch.cat([g[i : i + row] for i in range(0, n, row) for g in groups])
