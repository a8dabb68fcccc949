"""DDPM family: a U-Net trained with the simple epsilon loss (Ho et al. 2020), or to predict
``v`` (Salimans & Ho 2022) or ``x0``, optionally with Min-SNR-gamma loss weights (Hang et al. 2023);
optionally conditioned on an attribute vector with classifier-free guidance (Ho & Salimans 2022).

Training: ``x_t = add_noise(x0, eps, t)`` with ``t ~ U[0, T)``; loss ``|| target - unet(x_t, t, c) ||^2``
where the target is ``eps``, ``v`` or ``x0`` (``prediction_type``); the condition is dropped
(replaced by the learned null embedding) with probability ``cond_drop_prob`` so the same network
also learns ``p(x)``.

Sampling (:meth:`DDPMFamily.sample`): ancestral DDPM over the given number of (strided) steps, or
DDIM with ``eta``; guidance ``eps = eps_uncond + s * (eps_cond - eps_uncond)``. DDIM inversion and
generation from an inverted sample (:meth:`DDPMFamily.ddim_invert`, :meth:`DDPMFamily.ddim_generate`)
for editing. As in diffusers, the loops here only call the network and the noise schedule
(``generative.schedulers.ddpm``), which holds all the tensor maths (output -> eps / x0, the steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from generative.models.unet import UNet, UNetConfig
from generative.nn.optim import adam, autocast
from generative.schedulers.ddpm import BetaSchedule, NoiseSchedule, TimestepSpacing, ddim_timesteps
from generative.training.family import DataKind, FamilyBase, StepOutput, eval_mode, fill_unspecified_cond

PRIOR_MOMENTUM = 0.01  # running estimate of attribute frequencies (used for unspecified cond at sampling)
DEFAULT_PRIOR = 0.5  # attribute frequency before any training batch


class Sampler(str, Enum):
    DDPM = "ddpm"
    DDIM = "ddim"


class Prediction(str, Enum):
    EPSILON = "epsilon"
    V = "v_prediction"
    SAMPLE = "sample"


@dataclass
class DDPMConfig:
    image_size: int = 64
    # U-Net
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = (2, 3)  # 16x16 and 8x8 at 64 px
    attention_head_dim: int = 32
    num_groups: int = 32
    # The U-Net sees the image folded into patch_size x patch_size pixel blocks (pixel unshuffle:
    # 64 px -> 32 x 32 x 12 at 2), ~4x cheaper per image at the cost of some fine detail;
    # samples are still full size. 1: plain pixels (DDPM as published).
    patch_size: int = 1
    dropout: float = 0.1
    # conditioning (0 attributes: unconditional)
    cond_names: list[str] = field(default_factory=list)
    n_cond: int = 0
    cond_drop_prob: float = 0.1  # classifier-free guidance: train the unconditional branch this often
    # noise schedule
    num_train_timesteps: int = 1000
    beta_schedule: str = BetaSchedule.LINEAR.value
    beta_start: float = 1e-4
    beta_end: float = 0.02
    clip_sample: bool = True
    # what the U-Net predicts: "epsilon" (DDPM as published), "v_prediction" or "sample" (x0)
    prediction_type: str = Prediction.EPSILON.value
    # Min-SNR-gamma loss weights (Hang et al. 2023; they use 5): each timestep's loss is scaled so its
    # x0-error weight is min(SNR, gamma); 0 = unweighted
    min_snr_gamma: float = 0.0
    # optimiser (diffusers' train_unconditional example: AdamW 1e-4, betas (0.95, 0.999), wd 1e-6)
    lr: float = 1e-4
    beta1: float = 0.95
    beta2: float = 0.999
    weight_decay: float = 1e-6
    bf16: bool = False  # bfloat16 autocast for the training forward (1.8x on AMX CPUs)
    # sampling defaults
    sample_steps: int = 50
    sampler: str = Sampler.DDIM.value
    eta: float = 0.0
    guidance_scale: float = 2.0  # only used when conditional; 1.0 = no guidance
    timestep_spacing: str = TimestepSpacing.TRAILING.value
    grid_steps: int = 20  # DDIM steps for the trainer's progress grid (kept cheap: it runs often)

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        self.cond_names = list(self.cond_names)
        self.n_cond = len(self.cond_names)
        BetaSchedule(self.beta_schedule)
        Sampler(self.sampler)
        Prediction(self.prediction_type)
        if self.min_snr_gamma < 0:
            raise ValueError(f"min_snr_gamma must be >= 0, got {self.min_snr_gamma}")
        TimestepSpacing(self.timestep_spacing)
        down = 2 ** (len(self.channel_mults) - 1)
        if self.image_size % down:
            raise ValueError(f"image_size {self.image_size} must be divisible by {down} (channel_mults)")
        if not 0.0 <= self.cond_drop_prob < 1.0:
            raise ValueError(f"cond_drop_prob must be in [0, 1), got {self.cond_drop_prob}")

    def unet_config(self) -> UNetConfig:
        return UNetConfig(
            in_channels=3 * self.patch_size**2,
            out_channels=3 * self.patch_size**2,
            base_channels=self.base_channels,
            channel_mults=self.channel_mults,
            layers_per_block=self.layers_per_block,
            attention_levels=self.attention_levels,
            attention_head_dim=self.attention_head_dim,
            num_groups=self.num_groups,
            dropout=self.dropout,
            cond_dim=self.n_cond,
        )


class DDPMFamily(FamilyBase):
    Config: ClassVar[type[DDPMConfig]] = DDPMConfig
    family: ClassVar[str] = "ddpm"
    data: ClassVar[DataKind] = DataKind.attributes  # an unconditional instance switches to images

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__()
        self.config = config
        if config.n_cond == 0:
            self.data = DataKind.images
        self.unet = UNet(config.unet_config())
        self.schedule = NoiseSchedule.create(
            config.num_train_timesteps, config.beta_schedule, config.beta_start, config.beta_end, config.clip_sample
        )
        # attribute frequencies seen in training: fills NaN ("unspecified") entries of cond at sampling
        self.register_buffer("cond_prior", torch.full((config.n_cond,), DEFAULT_PRIOR))

    def _unet(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The U-Net output (epsilon, v or x0) for full-size ``x`` (folded into patches when ``patch_size > 1``)."""
        p = self.config.patch_size
        if p == 1:
            return self.unet(x, t, cond, keep).float()
        # float32 out, also under bf16 autocast: guidance subtracts two close outputs
        return F.pixel_shuffle(self.unet(F.pixel_unshuffle(x, p), t, cond, keep), p).float()

    @staticmethod
    def remap_condition(tensors: dict[str, torch.Tensor], old: list[str], new: list[str]) -> dict[str, torch.Tensor]:
        """Weights trained on attributes ``old``, rearranged for ``new`` (fine-tuning to more or
        other attributes): the condition projection keeps the column of every attribute both
        know and starts new ones at zero (so the start model behaves as before until they are
        learned); the attribute frequencies likewise, new ones at the default prior."""
        out = dict(tensors)
        key = "unet.cond_proj.weight"
        if key in tensors:
            w_old = tensors[key]
            w_new = w_old.new_zeros((w_old.shape[0], len(new)))
            prior = tensors["cond_prior"].new_full((len(new),), DEFAULT_PRIOR)
            for j, name in enumerate(new):
                if name in old:
                    w_new[:, j] = w_old[:, old.index(name)]
                    prior[j] = tensors["cond_prior"][old.index(name)]
            out[key] = w_new
            out["cond_prior"] = prior
        return out

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"unet": adam(self.unet.parameters(), c.lr, (c.beta1, c.beta2), c.weight_decay, decoupled=True)}

    def ema_modules(self) -> dict[str, torch.nn.Module]:
        return {"unet": self.unet}

    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
        """Epsilon-prediction MSE for one batch (random timesteps, noise and condition dropout)."""
        x0 = batch["image"]
        b = x0.shape[0]
        dev = x0.device
        t = torch.randint(0, self.schedule.num_train_timesteps, (b,), device=dev, generator=generator)
        noise = torch.randn(x0.shape, device=dev, generator=generator, dtype=x0.dtype)
        x_t = self.schedule.add_noise(x0, noise, t)
        cond, keep = None, None
        if self.config.n_cond:
            cond = batch["cond"]
            keep = torch.rand(b, device=dev, generator=generator) >= self.config.cond_drop_prob
        with autocast(x0.device, self.config.bf16):
            pred = self._unet(x_t, t, cond, keep)
        kind = Prediction(self.config.prediction_type)
        if kind is Prediction.EPSILON:
            target = noise
        elif kind is Prediction.V:
            target = self.schedule.get_velocity(x0, noise, t)
        else:
            target = x0
        gamma = self.config.min_snr_gamma
        if not gamma:
            return F.mse_loss(pred.float(), target)
        # per-sample weight making every target's loss equal min(SNR, gamma) * ||x0 error||^2
        snr = self.schedule.snr(t)
        clipped = snr.clamp(max=gamma)
        weight = {Prediction.EPSILON: clipped / snr, Prediction.V: clipped / (snr + 1.0), Prediction.SAMPLE: clipped}[
            kind
        ]
        per_sample = (pred.float() - target).pow(2).flatten(1).mean(dim=1)
        return (weight * per_sample).mean()

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        opt = optimizers["unet"]
        opt.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        opt.step()
        if self.config.n_cond:
            with torch.no_grad():
                freq = batch["cond"].float().mean(dim=0)
                self.cond_prior.lerp_(freq.to(self.cond_prior.device), PRIOR_MOMENTUM)
        return StepOutput(losses={"loss": float(loss.detach())}, n_images=int(batch["image"].shape[0]))

    # ------------------------------------------------------------------ sampling
    def _guided_eps(
        self, x: torch.Tensor, t: int, cond: torch.Tensor | None, scale: float, base: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The noise estimate at ``t``, guided ``scale`` times from the unconditional estimate
        towards ``cond`` (classifier-free guidance), or from condition ``base`` when it is given
        (the guidance then only amplifies what differs between ``base`` and ``cond``)."""
        ts = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        if cond is None or scale == 1.0:
            out = self._unet(x, ts, cond)
        elif base is not None:
            out_base, out_cond = self._unet(torch.cat([x, x]), torch.cat([ts, ts]), torch.cat([base, cond])).chunk(2)
            out = out_base + scale * (out_cond - out_base)
        else:
            # one batched forward for both branches, as diffusers' pipelines do
            keep = torch.cat([torch.zeros(x.shape[0], dtype=torch.bool), torch.ones(x.shape[0], dtype=torch.bool)])
            out_uncond, out_cond = self._unet(
                torch.cat([x, x]), torch.cat([ts, ts]), torch.cat([cond, cond]), keep.to(x.device)
            ).chunk(2)
            out = out_uncond + scale * (out_cond - out_uncond)
        return self.schedule.eps_from_output(out, x, t, self.config.prediction_type)

    @torch.no_grad()
    def sample(self, n: int, cond: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``n`` images ``(n, 3, H, W)`` in ``[-1, 1]``.

        Keywords: ``steps`` (default ``config.sample_steps``), ``sampler`` ("ddpm" | "ddim"), ``eta``
        (DDIM), ``guidance_scale``, ``timestep_spacing`` ("leading" | "trailing"), ``generator``.
        ``cond`` is ``(n, n_cond)``; NaN entries (or ``cond=None``) are drawn from the attribute
        frequencies seen in training. Other keywords are ignored.
        """
        c = self.config

        def option(name: str, default: Any) -> Any:  # a keyword given as None means "the default"
            value = kwargs.get(name)
            return default if value is None else value

        steps = int(option("steps", c.sample_steps))
        sampler = Sampler(option("sampler", c.sampler))
        eta = float(option("eta", c.eta))
        scale = float(option("guidance_scale", c.guidance_scale))
        spacing = option("timestep_spacing", c.timestep_spacing)
        generator: torch.Generator | None = kwargs.get("generator")
        dev = self.device
        if c.n_cond:
            cond = fill_unspecified_cond(cond, n, self.cond_prior, generator=_same_device(generator, dev)).to(dev)
        elif cond is not None and cond.numel():
            raise ValueError("this DDPM is unconditional (n_cond=0) but got cond")
        else:
            cond = None

        schedule = self.schedule.to(dev)
        timesteps = ddim_timesteps(schedule.num_train_timesteps, steps, spacing)
        shape = (n, 3, c.image_size, c.image_size)
        x = torch.randn(shape, generator=generator, device=generator.device if generator else dev).to(dev)
        with eval_mode(self.unet):
            for i, t in enumerate(timesteps):
                eps = self._guided_eps(x, t, cond, scale)
                prev_t = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                if sampler is Sampler.DDIM:
                    x = schedule.ddim_step(eps, t, prev_t, x, eta=eta, generator=generator).prev_sample
                else:
                    x = schedule.ddpm_step(eps, t, x, prev_t=prev_t, generator=generator).prev_sample
        return x.clamp(-1.0, 1.0)

    def _inversion_timesteps(self, steps: int, t_end: int) -> list[int]:
        """The DDIM timesteps (``steps`` over the whole schedule, trailing) up to ``t_end``, ascending."""
        if not 0 <= t_end < self.schedule.num_train_timesteps:
            raise ValueError(f"t_end must be in [0, {self.schedule.num_train_timesteps}), got {t_end}")
        ts = [
            t
            for t in ddim_timesteps(self.schedule.num_train_timesteps, steps, TimestepSpacing.TRAILING.value)
            if t <= t_end
        ]
        return sorted(ts)

    @torch.no_grad()
    def ddim_invert(self, x0: torch.Tensor, cond: torch.Tensor | None, t_end: int, steps: int = 20) -> torch.Tensor:
        """Deterministic DDIM inversion (Song et al. 2021, sec. 4.3; the "DDIM inversion" of image
        editing): run the DDIM update backwards from clean images ``x0`` up to timestep ``t_end``,
        without guidance. :meth:`ddim_generate` with the same ``cond`` and no guidance comes back to
        about ``x0``; with another ``cond`` it gives the same picture changed by the condition."""
        schedule = self.schedule.to(x0.device)
        x, prev = x0, -1  # -1: the clean image
        with eval_mode(self.unet):
            for t in self._inversion_timesteps(steps, t_end):
                # eps is estimated at the less noisy point (the usual first-order approximation; the
                # network's lowest timestep 0 stands in for the clean image)
                eps = self._guided_eps(x, max(prev, 0), cond, 1.0)
                x = schedule.ddim_inverse_step(eps, prev, t, x).next_sample
                prev = t
        return x

    @torch.no_grad()
    def ddim_generate(
        self,
        x_t: torch.Tensor,
        cond: torch.Tensor | None,
        t_start: int,
        steps: int = 20,
        guidance_scale: float = 1.0,
        base_cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Deterministic DDIM from ``x_t`` at timestep ``t_start`` (as :meth:`ddim_invert` left it)
        down to clean images in ``[-1, 1]``, with classifier-free guidance ``guidance_scale``
        (relative to ``base_cond`` when given: an edit from ``base_cond`` to ``cond``, amplified)."""
        schedule = self.schedule.to(x_t.device)
        ts = self._inversion_timesteps(steps, t_start)[::-1]
        x = x_t
        with eval_mode(self.unet):
            for i, t in enumerate(ts):
                eps = self._guided_eps(x, t, cond, guidance_scale, base_cond)
                prev_t = ts[i + 1] if i + 1 < len(ts) else -1
                x = schedule.ddim_step(eps, t, prev_t, x, eta=0.0).prev_sample
        return x.clamp(-1.0, 1.0)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """``n`` samples with the batch's first ``n`` attribute vectors (fixed seed, so grids are comparable)."""
        cond = batch["cond"][:n] if self.config.n_cond and "cond" in batch else None
        n = cond.shape[0] if cond is not None else n
        generator = torch.Generator(device="cpu").manual_seed(0)
        return self.sample(n, cond, steps=self.config.grid_steps, sampler=Sampler.DDIM.value, generator=generator)


def _same_device(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    return generator if generator is not None and generator.device == device else None
