"""Variational autoencoder and conditional VAE (the face editor's latent model).

Convention as in ``autoencoder.py``: flat latents ``(B, latent_dim)``; images ``(B, 3, S, S)`` in
``[-1, 1]``; ``cond`` is ``(B, n_cond)`` float in ``{0, 1}`` ordered as ``config.cond_names``.

Loss per step: ``pixel + perceptual_weight * perceptual + beta(t) * KL / (3 * S * S)``, where
``pixel`` is the mean absolute (or squared) error per pixel value and ``KL`` is the per-image KL in
nats. With L1 this is the ELBO of a Laplace likelihood of scale ``beta`` (in ``[-1, 1]`` units), so
small ``beta`` = sharp reconstructions, larger = smoother latent space. ``beta(t)`` ramps linearly
from 0 over ``kl_warmup_steps``.

cVAE: the attributes go into the encoder (concatenated to its flattened features, so the latent can
drop what the attributes already say) and into the decoder (concatenated to the latent and added in
every residual block). Editing = decode the same latent with a changed attribute vector, or add a
linear direction to the latent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from generative.models.autoencoder import (
    ConvDecoder,
    ConvEncoder,
    EncoderOutput,
    ReconstructionLoss,
    _inputs_over_reconstructions,
)
from generative.models.gan import Discriminator
from generative.nn.losses import gan_d_loss, gan_g_loss, gaussian_kl
from generative.nn.optim import autocast
from generative.training.family import (
    DataKind,
    FamilyBase,
    StepOutput,
    eval_mode,
    fill_unspecified_cond,
    settle_cond_names,
)

LOGVAR_RANGE = (-30.0, 20.0)  # clamp the encoder's log-variance for numerical safety
COND_PRIOR_MOMENTUM = 0.01  # running attribute frequencies, used for unspecified attributes when sampling
DEFAULT_FACE_ATTRIBUTES = (
    "Smiling", "Young", "Male", "Eyeglasses", "Blond_Hair", "Black_Hair", "Bangs",
    "No_Beard", "Mouth_Slightly_Open", "Heavy_Makeup", "Wearing_Lipstick", "Pale_Skin",
)  # fmt: skip


@dataclass
class VAEEncoderOutput(EncoderOutput):
    """Diagonal Gaussian posterior. ``latent`` is its mean (what editing uses)."""

    logvar: torch.Tensor  # (B, latent_dim)

    @property
    def mean(self) -> torch.Tensor:
        return self.latent

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.latent.shape, generator=generator, device=self.latent.device, dtype=self.latent.dtype)
        return self.latent + self.std * noise

    def kl(self) -> torch.Tensor:
        """KL to N(0, I) per image, ``(B,)`` nats."""
        return gaussian_kl(self.latent, self.logvar)


@dataclass(frozen=True)
class LatentAdversaryInputs:
    """What the latent adversary's own step trains on, made by the VAE step (detached from its graph)."""

    z: torch.Tensor  # (B, latent_dim) float32 posterior means
    cond: torch.Tensor  # (B, n_cond) float their true attributes


@dataclass(frozen=True)
class ImageAdversaryInputs:
    """What the image discriminator's own step trains on, made by the VAE step (detached)."""

    fake: torch.Tensor  # (B, 3, S, S) float32 decodes with flipped attributes
    target: torch.Tensor  # (B, n_cond) float the attributes they were decoded with
    real: torch.Tensor  # (B, 3, S, S) what counts as real: the images or their reconstructions (adv_real)


@dataclass(frozen=True)
class ExtraLoss:
    """Further loss terms of a subclass for one VAE step, and the inputs of its adversaries' steps
    (``None``: that adversary is off)."""

    loss: torch.Tensor  # () added to the VAE loss
    metrics: dict[str, float]
    latent_adversary: LatentAdversaryInputs | None = None
    image_adversary: ImageAdversaryInputs | None = None


@dataclass
class VAEConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)
    res_blocks: tuple[int, ...] = (0, 1, 1, 1)  # per level; none at full size (half the CPU cost)
    latent_dim: int = 256
    lr: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.99)
    beta: float = 0.1  # KL weight (see module docstring)
    kl_warmup_steps: int = 2000
    recon: str = "l1"
    perceptual: str = "laplacian"  # "laplacian" | "random" | "none"
    perceptual_weight: float = 1.0
    ema: bool = True
    bf16: bool = False  # bfloat16 autocast of the training forwards (CPU with AMX/AVX512-BF16, CUDA)


@dataclass
class CVAEConfig(VAEConfig):
    cond_names: list[str] = field(default_factory=lambda: list(DEFAULT_FACE_ATTRIBUTES))
    n_cond: int = 0  # 0: len(cond_names)
    # Attribute loss (AttGAN-style, no adversary): decode each latent with some attributes flipped
    # and ask a frozen attribute classifier (a `classifier` run folder) to see the flipped values.
    # It makes the decoder use its condition strongly, so edits are visible. 0: off.
    attr_weight: float = 0.0
    attr_classifier: str = ""
    attr_flip_prob: float = 0.25  # chance that each attribute is flipped in the attribute-loss decode
    # Show the classifier randomly shifted, rotated, blurred, noisy, colour-jittered copies of the
    # decode (expectation over transformations): patterns that only fool one classifier at one exact
    # pixel grid stop paying off, changes that read as the attribute under any of them still do.
    attr_augment: bool = False
    # Adversarial term (AttGAN's third loss): a conditional discriminator (projection, spectral
    # norm) sees real faces with their attributes and the flipped-attribute decodes with theirs,
    # so an edit must look like a real face with those attributes, not like a pattern that only
    # fools the frozen classifier. Needs attr_weight > 0 (it judges that decode). 0: off.
    adv_weight: float = 0.0
    adv_loss: str = "nonsat"
    # What the discriminator takes as "real": "image" (the training faces) or "reconstruction"
    # (this model's decode of the same latent with its true attributes). With "reconstruction"
    # blur is no cue, so the adversary looks only for what the attribute change adds that a
    # decode of a real face with those attributes would not have (classifier-fooling patterns).
    adv_real: str = "image"
    disc_channels: tuple[int, ...] = (32, 64, 128, 256)
    disc_lr: float = 2e-4
    # Latent adversary (Fader Networks): an MLP reads the attributes off the posterior mean and the
    # encoder is trained to make it read the opposite, meant to stop the latent carrying them so
    # the decoder takes them from its condition (measured on the shipped recipe: the encoder hid
    # them from the MLP rather than dropping them; see the MODEL_CARD). The weight ramps up
    # linearly over latent_adv_warmup steps from the step the adversary was added (kept across
    # --resume). 0: off.
    latent_adv_weight: float = 0.0
    latent_adv_warmup: int = 500
    latent_disc_hidden: int = 512
    latent_disc_lr: float = 2e-4

    def __post_init__(self) -> None:
        settle_cond_names(self)
        if self.adv_real not in ("image", "reconstruction"):
            raise ValueError(f"unknown adv_real {self.adv_real!r}; valid: image, reconstruction")
        if self.adv_weight > 0 and self.attr_weight <= 0:
            raise ValueError("adv_weight > 0 needs attr_weight > 0 (the adversary judges the attribute-loss decode)")


@functools.cache
def _augmentations() -> nn.Module:
    import kornia.augmentation as K

    return nn.Sequential(
        K.RandomAffine(degrees=6.0, translate=(0.06, 0.06), scale=(0.92, 1.08), padding_mode="reflection", p=1.0),
        K.RandomGaussianBlur((5, 5), (0.1, 1.5), p=0.5),
        K.ColorJiggle(0.15, 0.15, 0.0, 0.0, p=0.5),
        K.RandomGaussianNoise(std=0.03, p=0.5),
    )


def _augment(x: torch.Tensor) -> torch.Tensor:
    """Random, differentiable views of images in ``[-1, 1]`` (kornia): small affine moves, blur,
    noise, brightness and contrast jitter (no hue or saturation: their HSV round trip gives NaN
    gradients on grey pixels)."""
    return (_augmentations().to(x.device)((x + 1) / 2).clamp(0, 1) * 2 - 1).to(x.dtype)


class VAEFamily(FamilyBase):
    Config = VAEConfig
    family = "vae"
    data = DataKind.images

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or self.Config()
        n_cond = getattr(config, "n_cond", 0)
        self.encoder = ConvEncoder(
            config.image_size, tuple(config.channels), config.res_blocks, 2 * config.latent_dim, n_cond=n_cond
        )
        self.decoder = ConvDecoder(
            config.image_size, tuple(config.channels), config.res_blocks, config.latent_dim, n_cond=n_cond
        )
        self.loss = ReconstructionLoss(config.recon, config.perceptual, config.perceptual_weight)
        self.register_buffer("num_steps", torch.zeros((), dtype=torch.long))

    # -- the model ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> VAEEncoderOutput:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return VAEEncoderOutput(latent=mean, logvar=logvar.clamp(*LOGVAR_RANGE))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def _encode(self, batch: dict[str, torch.Tensor]) -> VAEEncoderOutput:
        return self.encode(batch["image"])

    def _decode(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decode(z)

    # -- training ----------------------------------------------------------------------------
    def kl_weight(self) -> float:
        warmup = max(self.config.kl_warmup_steps, 1)
        return self.config.beta * min(1.0, float(self.num_steps) / warmup)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"vae": torch.optim.Adam(params, lr=self.config.lr, betas=tuple(self.config.adam_betas))}

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        return self._vae_step(batch, optimizers)[0]

    def _vae_step(
        self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]
    ) -> tuple[StepOutput, ExtraLoss]:
        """One optimiser step of encoder and decoder; also returns the extra terms it used (what
        the adversaries of subclasses train on next)."""
        x = batch["image"]
        with autocast(x.device, self.config.bf16):
            posterior = self._encode(batch)
            reconstruction = self._decode(posterior.sample(), batch)
        posterior = VAEEncoderOutput(latent=posterior.latent.float(), logvar=posterior.logvar.float())
        pixel, extra = self.loss(reconstruction.float(), x)
        kl = posterior.kl().mean()
        beta = self.kl_weight()
        terms = self._extra_loss(posterior.latent, batch)
        loss = pixel + self.config.perceptual_weight * extra + beta * kl / x[0].numel() + terms.loss
        optimizer = optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.num_steps += 1
        losses = {"loss": loss.item(), "recon": pixel.item(), "perceptual": extra.item(), "kl": kl.item(), "beta": beta}
        return StepOutput({**losses, **terms.metrics}, len(x)), terms

    def _extra_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> ExtraLoss:
        """Further loss terms of subclasses (``z`` is the ``(B, latent_dim)`` posterior mean, with its
        gradient: detach it for terms that must not train the encoder)."""
        return ExtraLoss(torch.zeros((), device=z.device), {})

    # -- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean, clamped to ``[-1, 1]``."""
        with eval_mode(self):
            return self.decode(self.encode(x).latent).clamp(-1, 1)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        x = batch["image"][:n]
        with eval_mode(self):
            recon = self._decode(self._encode(batch).latent[:n], {k: v[:n] for k, v in batch.items()}).clamp(-1, 1)
        return _inputs_over_reconstructions(x, recon)

    @torch.no_grad()
    def sample(
        self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any
    ) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        with eval_mode(self):
            return self.decode(z).clamp(-1, 1)

    def ema_modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder} if self.config.ema else {}


class CVAEFamily(VAEFamily):
    """Conditional VAE: ``encode(x, cond)``, ``decode(z, cond)``; ``cond`` ordered as ``config.cond_names``."""

    Config = CVAEConfig
    family = "cvae"
    data = DataKind.attributes

    def __init__(self, config: CVAEConfig | None = None) -> None:
        super().__init__(config or CVAEConfig())
        self.register_buffer("cond_prior", torch.full((self.config.n_cond,), 0.5))
        if self.config.adv_weight > 0:
            gan_d_loss(torch.zeros(1), torch.zeros(1), self.config.adv_loss)  # validates adv_loss early
            self.discriminator = Discriminator(
                self.config.image_size, tuple(self.config.disc_channels), self.config.n_cond
            )
        if self.config.latent_adv_weight > 0:
            h = self.config.latent_disc_hidden
            self.latent_discriminator = nn.Sequential(
                nn.Linear(self.config.latent_dim, h),
                nn.LeakyReLU(0.2),
                nn.Dropout(0.3),
                nn.Linear(h, h),
                nn.LeakyReLU(0.2),
                nn.Dropout(0.3),
                nn.Linear(h, self.config.n_cond),
            )
            # the step the adversary joined (-1: not yet); inside the module, so it is saved with it
            # and left out with it
            self.latent_discriminator.register_buffer("start_step", torch.tensor(-1, dtype=torch.long))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = super().configure_optimizers()
        if self.config.adv_weight > 0:
            optimizers["disc"] = torch.optim.Adam(
                self.discriminator.parameters(), lr=self.config.disc_lr, betas=(0.5, 0.99)
            )
        if self.config.latent_adv_weight > 0:
            optimizers["latent_disc"] = torch.optim.Adam(
                self.latent_discriminator.parameters(), lr=self.config.latent_disc_lr, betas=(0.5, 0.99)
            )
        return optimizers

    def latent_adv_ramp(self) -> float:
        """The latent adversary's weight now: 0 at this run's first step, full after the warm-up."""
        start = self.latent_discriminator.start_step
        if int(start) < 0:
            start.fill_(int(self.num_steps))
        done = int(self.num_steps) - int(start)
        return self.config.latent_adv_weight * min(1.0, done / max(self.config.latent_adv_warmup, 1))

    @property
    def cond_names(self) -> list[str]:
        return list(self.config.cond_names)

    def _check_cond(self, cond: torch.Tensor | None, batch: int) -> torch.Tensor:
        if cond is None or cond.shape != (batch, self.config.n_cond):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(
                f"cond must have shape ({batch}, {self.config.n_cond}) "
                f"for attributes {self.config.cond_names}, got {got}"
            )
        return cond

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> VAEEncoderOutput:  # type: ignore[override]
        mean, logvar = self.encoder(x, self._check_cond(cond, len(x))).chunk(2, dim=1)
        return VAEEncoderOutput(latent=mean, logvar=logvar.clamp(*LOGVAR_RANGE))

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return self.decoder(z, self._check_cond(cond, len(z)))

    def _encode(self, batch: dict[str, torch.Tensor]) -> VAEEncoderOutput:
        return self.encode(batch["image"], batch["cond"])

    def _decode(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decode(z, batch["cond"][: len(z)])

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        with torch.no_grad():
            self.cond_prior.lerp_(batch["cond"].float().mean(0), COND_PRIOR_MOMENTUM)
        out, terms = self._vae_step(batch, optimizers)
        if (seen := terms.image_adversary) is not None:  # discriminator step on the decodes the VAE step just made
            fake, target, real = seen.fake, seen.target, seen.real
            with autocast(real.device, self.config.bf16):
                logits = self.discriminator(torch.cat([real, fake]), torch.cat([batch["cond"].float(), target])).float()
            d_real, d_fake = logits.chunk(2)
            loss_d = gan_d_loss(d_real, d_fake, self.config.adv_loss)
            opt = optimizers["disc"]
            opt.zero_grad(set_to_none=True)
            loss_d.backward()
            opt.step()
            out.losses.update({"loss_d": loss_d.item(), "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()})
        if (latents := terms.latent_adversary) is not None:  # learns to read the attributes off the latents just made
            z, cond = latents.z, latents.cond
            logits = self.latent_discriminator(z)
            loss_ld = nn.functional.binary_cross_entropy_with_logits(logits, cond)
            opt = optimizers["latent_disc"]
            opt.zero_grad(set_to_none=True)
            loss_ld.backward()
            opt.step()
            acc = ((logits > 0).float() == (cond > 0.5).float()).float().mean()
            out.losses.update({"loss_ld": loss_ld.item(), "latent_acc": acc.item()})
        return out

    def _attribute_judge(self) -> tuple[nn.Module, torch.Tensor]:
        """The frozen classifier of ``config.attr_classifier`` (not part of this model's weights)
        and the columns of its outputs that match ``cond_names``."""
        if getattr(self, "_judge", None) is None:
            from generative.training.checkpoint import load_family

            if not self.config.attr_classifier:
                raise ValueError("attr_weight > 0 needs attr_classifier (a classifier run folder)")
            clf = load_family(self.config.attr_classifier).eval().requires_grad_(False)
            names = list(clf.config.cond_names)
            missing = [a for a in self.config.cond_names if a not in names]
            if missing:
                raise ValueError(f"{self.config.attr_classifier} does not classify {missing}")
            object.__setattr__(self, "_judge", (clf, torch.tensor([names.index(a) for a in self.config.cond_names])))
        return self._judge

    def _extra_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> ExtraLoss:
        """The latent adversary's fool term, the attribute loss and the image adversary's generator
        term (each when its weight is set), with the inputs of the two adversaries' own steps."""
        base = super()._extra_loss(z, batch)
        total, metrics = base.loss, dict(base.metrics)
        latent_adversary = image_adversary = None
        if self.config.latent_adv_weight > 0:
            cond = batch["cond"].float()
            self.latent_discriminator.requires_grad_(False)
            fool = nn.functional.binary_cross_entropy_with_logits(self.latent_discriminator(z.float()), 1 - cond)
            self.latent_discriminator.requires_grad_(True)
            latent_adversary = LatentAdversaryInputs(z=z.detach().float(), cond=cond)
            total = total + self.latent_adv_ramp() * fool
            metrics["latent_fool"] = fool.item()
        if self.config.attr_weight <= 0:
            return ExtraLoss(total, metrics, latent_adversary)
        z = z.detach()  # the attribute loss trains the decoder to follow its condition, not the encoder
        clf, cols = self._attribute_judge()
        clf.to(z.device)
        cond = batch["cond"].float()
        flip = torch.rand_like(cond) < self.config.attr_flip_prob
        target = torch.where(flip, 1 - cond, cond)
        with autocast(z.device, self.config.bf16):
            edited = self.decode(z, target)
        seen = edited.float().clamp(-1, 1)
        if self.config.attr_augment:
            seen = _augment(seen)
        with autocast(z.device, self.config.bf16):
            logits = clf.logits(seen)[:, cols.to(z.device)].float()
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        hit = ((logits > 0).float() == target)[flip].float().mean() if flip.any() else torch.ones(())
        metrics.update({"attr": loss.item(), "flip_hit": hit.item()})
        total = total + self.config.attr_weight * loss
        if self.config.adv_weight > 0:
            self.discriminator.requires_grad_(False)
            with autocast(z.device, self.config.bf16):
                adv = gan_g_loss(self.discriminator(edited, target).float(), self.config.adv_loss)
            self.discriminator.requires_grad_(True)
            if self.config.adv_real == "reconstruction":
                with torch.no_grad(), autocast(z.device, self.config.bf16):
                    real = self.decode(z, cond).float()
            else:
                real = batch["image"]
            image_adversary = ImageAdversaryInputs(fake=edited.detach().float(), target=target, real=real)
            total = total + self.config.adv_weight * adv
            metrics["adv"] = adv.item()
        return ExtraLoss(total, metrics, latent_adversary, image_adversary)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        with eval_mode(self):
            return self.decode(self.encode(x, cond).latent, cond).clamp(-1, 1)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """Inputs, reconstructions, then the same latents with the first attribute flipped."""
        x, cond = batch["image"][:n], batch["cond"][:n]
        with eval_mode(self):
            z = self.encode(x, cond).latent
            recon = self.decode(z, cond).clamp(-1, 1)
            flipped = cond.clone()
            flipped[:, 0] = 1 - flipped[:, 0]
            edited = self.decode(z, flipped).clamp(-1, 1)
        return torch.cat([_inputs_over_reconstructions(x, recon), edited])

    @torch.no_grad()
    def sample(
        self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any
    ) -> torch.Tensor:
        cond = fill_unspecified_cond(cond, n, self.cond_prior.cpu(), generator).to(self.device)
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        with eval_mode(self):
            return self.decode(z, cond).clamp(-1, 1)
