"""pix2pix (Isola et al. 2017): paired image-to-image translation A -> B.

U-Net generator with skip connections and dropout in the decoder, conditional PatchGAN
discriminator on ``concat(A, B)``, loss ``GAN + lambda_l1 * L1`` (lambda 100), Adam 2e-4,
betas (0.5, 0.999). Defaults follow junyanz/pytorch-CycleGAN-and-pix2pix (``pix2pix_model.py``),
scaled to 64 px: 6 down-samplings (64 -> 1, as ``unet_256`` has 8 for 256 px) and a 2-layer
PatchGAN (34x34 patches; the 3-layer 70x70 one would see the whole 64 px image).

Convention: ``batch["a"]``, ``batch["b"]`` are ``(B, 3, H, W)`` in ``[-1, 1]``; ``H = W`` divisible by
``2 ** num_downs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from generative.nn.blocks_translation import (
    LEAKY_SLOPE,
    GANLoss,
    ImagePool,
    Norm,
    PatchDiscriminator,
    conv_bias,
    gan_loss,
    grid_rows,
    init_weights,
    norm_layer,
)
from generative.nn.optim import adam, autocast
from generative.training.family import DataKind, FamilyBase, StepOutput, eval_mode

UNET_KERNEL = 4
MAX_GEN_MULT = 8  # generator widths stop growing at 8 * ngf
DROPOUT_P = 0.5
D_LOSS_SCALE = 0.5  # halve D's loss so it learns slower than G (the papers' convention)


@dataclass
class Pix2PixConfig:
    image_size: int = 64
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    ndf: int = 64
    num_downs: int = 6  # 64 px -> 1x1 bottleneck
    n_layers_d: int = 2
    norm: str = Norm.BATCH.value
    n_dropout_layers: int = 3  # decoder layers after the bottleneck with dropout 0.5
    gan_loss: str = GANLoss.VANILLA.value
    lambda_l1: float = 100.0
    pool_size: int = 0  # pix2pix uses no image pool
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    bf16: bool = False  # bfloat16 autocast for the training forwards (1.8-2.7x on AMX CPUs)

    def __post_init__(self) -> None:
        Norm(self.norm)
        GANLoss(self.gan_loss)
        if self.num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {self.num_downs}")
        if self.image_size % (2**self.num_downs):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**num_downs = {2**self.num_downs}")


class UNetGenerator(nn.Module):
    """Encoder C64-C128-C256-C512-... (4x4 stride-2 convs, LeakyReLU 0.2), mirrored decoder of
    transposed convs (ReLU) taking the encoder feature of the same size as a skip connection.

    Activations are in place, as in the reference: the next encoder layer's LeakyReLU also
    rewrites the stored skip feature, so skips carry ``LeakyReLU(feature)`` exactly like junyanz's
    ``UnetSkipConnectionBlock`` (and no extra copy of every feature map is made)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_downs: int,
        ngf: int = 64,
        norm: Norm | str = Norm.BATCH,
        n_dropout_layers: int = 3,
    ) -> None:
        super().__init__()
        bias = conv_bias(norm)
        widths = [ngf * min(2**i, MAX_GEN_MULT) for i in range(num_downs)]
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            if i == 0:  # outermost: no activation before, no norm after
                self.down.append(nn.Conv2d(in_channels, width, UNET_KERNEL, 2, 1, bias=bias))
                continue
            innermost = i == num_downs - 1
            self.down.append(
                nn.Sequential(
                    nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                    nn.Conv2d(widths[i - 1], width, UNET_KERNEL, 2, 1, bias=bias),
                    nn.Identity() if innermost else norm_layer(norm, width),
                )
            )
        # decoder, innermost first; input is the previous decoder output concatenated with the skip
        self.up = nn.ModuleList()
        for j, i in enumerate(reversed(range(num_downs))):
            in_ch = widths[i] if i == num_downs - 1 else 2 * widths[i]
            if i == 0:
                self.up.append(
                    nn.Sequential(
                        nn.ReLU(inplace=True), nn.ConvTranspose2d(in_ch, out_channels, UNET_KERNEL, 2, 1), nn.Tanh()
                    )
                )
                continue
            dropout = 1 <= j <= n_dropout_layers
            self.up.append(
                nn.Sequential(
                    nn.ReLU(inplace=True),
                    nn.ConvTranspose2d(in_ch, widths[i - 1], UNET_KERNEL, 2, 1, bias=bias),
                    norm_layer(norm, widths[i - 1]),
                    nn.Dropout(DROPOUT_P) if dropout else nn.Identity(),
                )
            )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the bottleneck feeds the decoder directly
        for layer in self.up[:-1]:
            x = torch.cat([skips.pop(), layer(x)], dim=1)
        return self.up[-1](x)


class Pix2PixFamily(FamilyBase):
    Config: ClassVar[type[Pix2PixConfig]] = Pix2PixConfig
    family: ClassVar[str] = "pix2pix"
    data: ClassVar[DataKind] = DataKind.paired

    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__()
        self.config = c = config
        self.generator = UNetGenerator(c.in_channels, c.out_channels, c.num_downs, c.ngf, c.norm, c.n_dropout_layers)
        self.discriminator = PatchDiscriminator(c.in_channels + c.out_channels, c.ndf, c.n_layers_d, c.norm)
        self.pool = ImagePool(c.pool_size)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = (c.beta1, c.beta2)
        return {
            "generator": adam(self.generator.parameters(), c.lr, betas),
            "discriminator": adam(self.discriminator.parameters(), c.lr, betas),
        }

    def translate(self, a: torch.Tensor) -> torch.Tensor:
        return self.generator(a)

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        """D step on (A, B) vs (A, G(A)), then G step: fool D + lambda * L1 (junyanz's order)."""
        c = self.config
        real_a, real_b = batch["a"], batch["b"]
        with autocast(real_a.device, c.bf16):
            fake_b = self.generator(real_a).float()

        opt_d = optimizers["discriminator"]
        self.discriminator.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        with autocast(real_a.device, c.bf16):
            fake_ab = self.pool.query(torch.cat([real_a, fake_b], dim=1))
            loss_d_fake = gan_loss(self.discriminator(fake_ab.detach()), False, c.gan_loss)
            loss_d_real = gan_loss(self.discriminator(torch.cat([real_a, real_b], dim=1)), True, c.gan_loss)
            loss_d = D_LOSS_SCALE * (loss_d_fake + loss_d_real)
        loss_d.backward()
        opt_d.step()

        opt_g = optimizers["generator"]
        self.discriminator.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with autocast(real_a.device, c.bf16):
            loss_g_gan = gan_loss(self.discriminator(torch.cat([real_a, fake_b], dim=1)), True, c.gan_loss)
        loss_g_l1 = F.l1_loss(fake_b, real_b)
        loss_g = loss_g_gan + c.lambda_l1 * loss_g_l1
        loss_g.backward()
        opt_g.step()
        self.discriminator.requires_grad_(True)

        losses = {"g_gan": loss_g_gan, "g_l1": loss_g_l1, "d_real": loss_d_real, "d_fake": loss_d_fake}
        return StepOutput({k: float(v.detach()) for k, v in losses.items()}, n_images=int(real_a.shape[0]))

    @torch.no_grad()
    def sample(self, n: int, cond: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """Translate the first ``n`` images of ``batch=`` (a dict with ``"a"``, or a tensor) to domain B.

        The generator runs in eval mode (dropout off, batch-norm running statistics)."""
        batch = kwargs.get("batch")
        if batch is None:
            raise ValueError("pix2pix translates images: pass batch={'a': images} (or a (B, 3, H, W) tensor)")
        a = batch["a"] if isinstance(batch, dict) else batch
        with eval_mode(self.generator):
            return self.generator(a[:n].to(self.device))

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """Rows of inputs A, translations G(A), targets B (8 per row, one above the other)."""
        a, b = batch["a"][:n], batch["b"][:n]
        return grid_rows([a, self.sample(n, batch=batch), b])
