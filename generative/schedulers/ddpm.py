"""DDPM / DDIM noise schedule: parameter-free tensor maths, no network.

Convention
----------
* Timesteps are integers ``t`` in ``[0, T)`` (``T = num_train_timesteps``); ``t = 0`` is the
  least noisy step. ``alpha_bar[t] = prod_{s <= t} (1 - beta[s])``.
* Forward process (closed form): ``x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps``.
* The network predicts ``eps`` (the noise), as in Ho et al. 2020 and diffusers' default, or ``v``
  (``"v_prediction"``) or ``x0`` (``"sample"``); :meth:`NoiseSchedule.predict` turns any of them into
  the implied ``(x0, eps)`` pair, and the step functions take that ``eps``.
* ``step`` functions take one timestep for the whole batch (a Python ``int``), as sampling loops do;
  ``add_noise`` takes a per-sample ``(B,)`` tensor of timesteps, as training does. A timestep
  ``t < 0`` stands for the clean image (``alpha_bar = 1``, diffusers' ``set_alpha_to_one``).
* Images live in ``[-1, 1]``; with ``clip_sample`` the predicted ``x0`` is clamped to that range.

Follows the maths of diffusers' ``DDPMScheduler`` (``variance_type="fixed_small"``) and
``DDIMScheduler`` (Song et al. 2021, ``set_alpha_to_one=True``), plus the deterministic inverse
DDIM step of ``DDIMInverseScheduler``, written as a frozen dataclass of tensors plus pure functions
(no network), so the sampling and inversion loops live in the model family in a few lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

COSINE_OFFSET_S = 0.008  # Nichol & Dhariwal 2021, eq. 17: keeps beta small near t = 0
MAX_BETA = 0.999  # cap on cosine betas so alpha_bar never collapses to exactly 0 before T
MIN_VARIANCE = 1e-20  # floor on the posterior variance (it is 0 at t = 0)
SAMPLE_RANGE = 1.0  # images are in [-SAMPLE_RANGE, SAMPLE_RANGE]


class BetaSchedule(str, Enum):
    LINEAR = "linear"  # Ho et al. 2020
    COSINE = "cosine"  # Nichol & Dhariwal 2021 ("squaredcos_cap_v2" in diffusers)


class TimestepSpacing(str, Enum):
    LEADING = "leading"  # diffusers' DDIM default: 0, k, 2k, ... (last step never reaches T - 1)
    TRAILING = "trailing"  # T - 1, T - 1 - k, ...: starts from pure noise, better with few steps


def linear_betas(num_train_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """``(T,)`` float64 betas spaced linearly from ``beta_start`` to ``beta_end``."""
    _check_timesteps(num_train_timesteps)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)


def cosine_betas(num_train_timesteps: int, s: float = COSINE_OFFSET_S, max_beta: float = MAX_BETA) -> torch.Tensor:
    """``(T,)`` float64 betas such that ``alpha_bar(t) ~ cos^2(((t/T) + s) / (1 + s) * pi/2)``."""
    _check_timesteps(num_train_timesteps)

    def alpha_bar(u: torch.Tensor) -> torch.Tensor:
        return torch.cos((u + s) / (1.0 + s) * math.pi / 2.0) ** 2

    u = torch.arange(num_train_timesteps + 1, dtype=torch.float64) / num_train_timesteps
    ab = alpha_bar(u)
    return (1.0 - ab[1:] / ab[:-1]).clamp(max=max_beta)


@dataclass(frozen=True)
class ReverseStep:
    """One reverse step: the less noisy sample and the network's current guess of the clean image."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


@dataclass(frozen=True)
class InverseStep:
    """One inverse DDIM step: the noisier sample and the clean image it was extrapolated from."""

    next_sample: torch.Tensor
    pred_original_sample: torch.Tensor


@dataclass(frozen=True)
class PredictedSample:
    """What a network output implies at ``x_t``: the clean image and the noise, both ``x_t``'s shape,
    related by the closed form ``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps``."""

    pred_original_sample: torch.Tensor  # x0_hat
    pred_epsilon: torch.Tensor  # eps_hat


@dataclass(frozen=True)
class NoiseSchedule:
    """Betas and their cumulative products (float32, on one device)."""

    betas: torch.Tensor  # (T,)
    alphas: torch.Tensor  # (T,)  1 - beta
    alphas_cumprod: torch.Tensor  # (T,)  alpha_bar
    clip_sample: bool = True

    @classmethod
    def create(
        cls,
        num_train_timesteps: int = 1000,
        beta_schedule: BetaSchedule | str = BetaSchedule.LINEAR,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        clip_sample: bool = True,
    ) -> "NoiseSchedule":
        kind = BetaSchedule(beta_schedule)
        if kind is BetaSchedule.LINEAR:
            betas = linear_betas(num_train_timesteps, beta_start, beta_end)
        else:
            betas = cosine_betas(num_train_timesteps)
        alphas = 1.0 - betas
        # cumulative product in float64, then store float32 (what the network sees)
        return cls(
            betas=betas.float(),
            alphas=alphas.float(),
            alphas_cumprod=torch.cumprod(alphas, dim=0).float(),
            clip_sample=clip_sample,
        )

    @property
    def num_train_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        return NoiseSchedule(
            self.betas.to(device), self.alphas.to(device), self.alphas_cumprod.to(device), self.clip_sample
        )

    # ---------------------------------------------------------------- forward process
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Closed-form ``q(x_t | x0)``: ``sqrt(ab_t) x0 + sqrt(1 - ab_t) noise`` per sample."""
        if x0.shape != noise.shape:
            raise ValueError(f"x0 {tuple(x0.shape)} and noise {tuple(noise.shape)} must have the same shape")
        if timesteps.ndim != 1 or timesteps.shape[0] != x0.shape[0]:
            raise ValueError(f"timesteps must be (B,) = ({x0.shape[0]},), got {tuple(timesteps.shape)}")
        ab = self._gather(self.alphas_cumprod, timesteps, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def get_velocity(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The v-prediction target ``sqrt(ab_t) noise - sqrt(1 - ab_t) x0`` (Salimans & Ho 2022)."""
        ab = self._gather(self.alphas_cumprod, timesteps, x0)
        return ab.sqrt() * noise - (1.0 - ab).sqrt() * x0

    def snr(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio ``ab_t / (1 - ab_t)`` per timestep."""
        ab = self.alphas_cumprod.to(timesteps.device)[timesteps.long()]
        return ab / (1.0 - ab)

    def alpha_bar(self, t: int) -> torch.Tensor:
        """``alpha_bar[t]`` as a 0-d tensor; ``1`` for ``t < 0`` (the clean image)."""
        ab = self.alphas_cumprod
        return ab[t] if t >= 0 else ab.new_tensor(1.0)

    def predict(
        self, output: torch.Tensor, sample: torch.Tensor, t: int, prediction: str = "epsilon", clip: bool | None = None
    ) -> PredictedSample:
        """The clean image ``x0`` and noise ``eps`` implied by a network ``output`` of kind
        ``prediction`` ("epsilon" | "v_prediction" | "sample") at ``x_t = sample``, timestep ``t``.

        ``clip`` (default ``clip_sample``): clamp ``x0`` to ``[-1, 1]`` and re-derive ``eps`` from the
        clamped ``x0``, as diffusers' DDIM does with ``use_clipped_model_output``. Unclipped, both are
        linear in ``output``, so guidance may combine either side of it."""
        ab = self.alpha_bar(t)
        if prediction == "epsilon":
            eps = output
            x0 = (sample - (1.0 - ab).sqrt() * eps) / ab.sqrt()
        elif prediction == "v_prediction":
            eps = ab.sqrt() * output + (1.0 - ab).sqrt() * sample
            x0 = ab.sqrt() * sample - (1.0 - ab).sqrt() * output
        elif prediction == "sample":
            x0 = output
            eps = self._eps_from_x0(sample, x0, ab)
        else:
            raise ValueError(f"unknown prediction type {prediction!r}; valid: epsilon, v_prediction, sample")
        clip = self.clip_sample if clip is None else clip
        if clip:
            x0 = x0.clamp(-SAMPLE_RANGE, SAMPLE_RANGE)
            eps = self._eps_from_x0(sample, x0, ab)
        return PredictedSample(pred_original_sample=x0, pred_epsilon=eps)

    def eps_from_output(self, output: torch.Tensor, sample: torch.Tensor, t: int, prediction: str) -> torch.Tensor:
        """The (unclipped) noise implied by a network ``output`` of kind ``prediction`` at ``x_t = sample``:
        ``predict(..., clip=False).pred_epsilon``. Linear in ``output``."""
        return self.predict(output, sample, t, prediction, clip=False).pred_epsilon

    def predict_x0(self, sample: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """Invert the closed form for ``x0`` given the predicted noise (clamped if ``clip_sample``)."""
        return self.predict(eps, sample, t).pred_original_sample

    # ---------------------------------------------------------------- reverse process
    def ddpm_step(
        self,
        eps: torch.Tensor,
        t: int,
        sample: torch.Tensor,
        prev_t: int | None = None,
        generator: torch.Generator | None = None,
    ) -> ReverseStep:
        """Ancestral sampling ``x_t -> x_{prev_t}`` (default ``prev_t = t - 1``) from the posterior
        ``q(x_prev | x_t, x0_hat)`` with variance ``beta_tilde`` (diffusers' "fixed_small").
        With strided steps the effective ``beta = 1 - alpha_bar_t / alpha_bar_prev``, as in diffusers.
        ``prev_t < 0`` (i.e. the last step) returns ``x0_hat`` exactly, with no noise."""
        self._check_t(t)
        prev_t = t - 1 if prev_t is None else prev_t
        if prev_t >= t:
            raise ValueError(f"prev_t ({prev_t}) must be below t ({t})")
        ab_t, ab_prev = self.alpha_bar(t), self.alpha_bar(prev_t)
        alpha_t = ab_t / ab_prev
        beta_t = 1.0 - alpha_t
        x0 = self.predict(eps, sample, t).pred_original_sample
        # posterior mean (Ho et al. eq. 7)
        coef_x0 = ab_prev.sqrt() * beta_t / (1.0 - ab_t)
        coef_xt = alpha_t.sqrt() * (1.0 - ab_prev) / (1.0 - ab_t)
        prev = coef_x0 * x0 + coef_xt * sample
        if prev_t >= 0:
            variance = ((1.0 - ab_prev) / (1.0 - ab_t) * beta_t).clamp(min=MIN_VARIANCE)
            prev = prev + variance.sqrt() * _randn_like(sample, generator)
        return ReverseStep(prev_sample=prev, pred_original_sample=x0)

    def ddim_step(
        self,
        eps: torch.Tensor,
        t: int,
        prev_t: int,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> ReverseStep:
        """DDIM update ``x_t -> x_{prev_t}`` (Song et al. eq. 12). ``eta = 0``: deterministic;
        ``eta = 1``: DDPM-like variance. ``prev_t < 0`` means "to the clean image" (alpha_bar = 1)."""
        self._check_t(t)
        if prev_t >= t:
            raise ValueError(f"prev_t ({prev_t}) must be below t ({t})")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        ab_t, ab_prev = self.alpha_bar(t), self.alpha_bar(prev_t)
        pred = self.predict(eps, sample, t)  # with clip_sample: eps re-derived from the clipped x0
        x0, eps = pred.pred_original_sample, pred.pred_epsilon
        variance = (1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev)
        std = eta * variance.clamp(min=0.0).sqrt()
        direction = (1.0 - ab_prev - std**2).clamp(min=0.0).sqrt() * eps
        prev = ab_prev.sqrt() * x0 + direction
        if eta > 0 and prev_t >= 0:
            prev = prev + std * _randn_like(sample, generator)
        return ReverseStep(prev_sample=prev, pred_original_sample=x0)

    def ddim_inverse_step(self, eps: torch.Tensor, t: int, next_t: int, sample: torch.Tensor) -> InverseStep:
        """Deterministic inverse DDIM ``x_t -> x_{next_t}`` with ``next_t > t`` (diffusers'
        ``DDIMInverseScheduler.step``; the "DDIM inversion" of Song et al. 2021, sec. 4.3):
        ``x_next = sqrt(ab_next) x0_hat + sqrt(1 - ab_next) eps`` with ``x0_hat`` from ``x_t`` and ``eps``.
        ``t < 0`` starts from the clean image (``x0_hat = sample``). ``x0_hat`` is never clipped, so
        :meth:`ddim_step` ``next_t -> t`` with the same ``eps`` undoes it exactly (up to float rounding)
        whenever ``x0_hat`` lies in ``[-1, 1]`` or ``clip_sample`` is off."""
        self._check_t(next_t)
        if next_t <= t:
            raise ValueError(f"next_t ({next_t}) must be above t ({t})")
        x0 = self.predict(eps, sample, t, clip=False).pred_original_sample
        ab_next = self.alpha_bar(next_t)
        return InverseStep(next_sample=ab_next.sqrt() * x0 + (1.0 - ab_next).sqrt() * eps, pred_original_sample=x0)

    # ---------------------------------------------------------------- helpers
    def _check_t(self, t: int) -> None:
        if not 0 <= t < self.num_train_timesteps:
            raise ValueError(f"timestep {t} outside [0, {self.num_train_timesteps})")

    @staticmethod
    def _eps_from_x0(sample: torch.Tensor, x0: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return (sample - ab.sqrt() * x0) / (1.0 - ab).sqrt()

    @staticmethod
    def _gather(values: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        out = values.to(like.device)[timesteps.to(like.device).long()].to(like.dtype)
        return out.reshape(-1, *([1] * (like.ndim - 1)))


def ddim_timesteps(
    num_train_timesteps: int, num_inference_steps: int, spacing: TimestepSpacing | str = TimestepSpacing.LEADING
) -> list[int]:
    """Descending timesteps for a ``num_inference_steps``-step DDIM (or strided DDPM) run."""
    _check_timesteps(num_train_timesteps)
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in [1, {num_train_timesteps}], got {num_inference_steps}")
    kind = TimestepSpacing(spacing)
    if kind is TimestepSpacing.LEADING:
        ratio = num_train_timesteps // num_inference_steps
        steps = [i * ratio for i in range(num_inference_steps)]
    else:
        ratio = num_train_timesteps / num_inference_steps
        steps = [round(num_train_timesteps - i * ratio) - 1 for i in range(num_inference_steps)][::-1]
    return steps[::-1]


def _check_timesteps(num_train_timesteps: int) -> None:
    if num_train_timesteps < 1:
        raise ValueError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}")


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(x)
    # draw on the generator's device, then move (CPU generators work for any target device)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device).to(x.device)
