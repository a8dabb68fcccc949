"""Noise schedule: x0 / eps from each kind of network output, and the inverse DDIM step (by property);
the DDPM family's inversion and generation loops wired to them."""

from __future__ import annotations

import pytest
import torch

from generative.models.ddpm import DDPMFamily
from generative.schedulers.ddpm import NoiseSchedule, ddim_timesteps

PREDICTIONS = ["epsilon", "v_prediction", "sample"]


def double(s: NoiseSchedule) -> NoiseSchedule:
    """The same schedule in float64, so property checks test the maths, not float32 rounding."""
    return NoiseSchedule(s.betas.double(), s.alphas.double(), s.alphas_cumprod.double(), s.clip_sample)


def noisy(s: NoiseSchedule, t: int, scale: float = 1.0, seed: int = 0):
    """``x0`` in ``[-scale, scale]``, the true noise and ``x_t = add_noise(x0, eps, t)``, ``(3, 3, 4, 4)``."""
    g = torch.Generator().manual_seed(seed)
    dtype = s.alphas_cumprod.dtype
    x0 = (torch.rand(3, 3, 4, 4, generator=g, dtype=dtype) * 2 - 1) * scale
    eps = torch.randn(x0.shape, generator=g, dtype=dtype)
    return x0, eps, s.add_noise(x0, eps, torch.full((3,), t))


def target(s: NoiseSchedule, prediction: str, x0: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
    """What a perfect network of kind ``prediction`` outputs at ``add_noise(x0, eps, t)``."""
    if prediction == "epsilon":
        return eps
    if prediction == "v_prediction":
        return s.get_velocity(x0, eps, torch.full((x0.shape[0],), t))
    return x0


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("t", [0, 7, 50, 99])
def test_predict_recovers_x0_and_eps_from_a_perfect_output(kind, prediction, t):
    """add_noise with the true eps, then the network's exact target back through ``predict``: the same
    x0 and eps, for every prediction type, at low and high noise."""
    s = double(NoiseSchedule.create(100, kind, clip_sample=False))
    x0, eps, x_t = noisy(s, t)
    pred = s.predict(target(s, prediction, x0, eps, t), x_t, t, prediction)
    assert torch.allclose(pred.pred_original_sample, x0, atol=1e-8)
    assert torch.allclose(pred.pred_epsilon, eps, atol=1e-8)
    assert torch.allclose(s.eps_from_output(target(s, prediction, x0, eps, t), x_t, t, prediction), eps, atol=1e-8)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_predict_in_float32_is_close(prediction):
    s = NoiseSchedule.create(100, "cosine", clip_sample=False)
    t = 60
    x0, eps, x_t = noisy(s, t)
    pred = s.predict(target(s, prediction, x0, eps, t), x_t, t, prediction)
    assert torch.allclose(pred.pred_original_sample, x0, atol=1e-4)
    assert torch.allclose(pred.pred_epsilon, eps, atol=1e-4)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_clipping_clamps_x0_and_keeps_the_pair_consistent_with_x_t(prediction):
    """With ``clip`` (default: ``clip_sample``) x0 is clamped to [-1, 1] and eps re-derived from it,
    so ``add_noise(x0, eps, t)`` still gives ``x_t``; x0 already in range is left alone."""
    s = double(NoiseSchedule.create(100, clip_sample=True))
    t = 40
    x0, eps, x_t = noisy(s, t, scale=1.5)
    output = target(s, prediction, x0, eps, t)
    pred = s.predict(output, x_t, t, prediction)
    assert torch.allclose(pred.pred_original_sample, x0.clamp(-1, 1))
    assert pred.pred_original_sample.abs().max() <= 1.0
    assert torch.allclose(s.add_noise(pred.pred_original_sample, pred.pred_epsilon, torch.full((3,), t)), x_t)
    assert not torch.allclose(pred.pred_epsilon, eps)  # some x0 was out of range
    raw = s.predict(output, x_t, t, prediction, clip=False)
    assert torch.allclose(raw.pred_original_sample, x0) and torch.allclose(raw.pred_epsilon, eps)
    assert torch.allclose(s.predict_x0(x_t, raw.pred_epsilon, t), pred.pred_original_sample)
    inside = noisy(s, t, scale=0.9)
    assert torch.allclose(s.predict(inside[1], inside[2], t).pred_original_sample, inside[0])


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_predict_is_affine_in_the_output_so_guidance_may_combine_outputs(prediction):
    """``u + w (c - u)`` of two outputs gives ``u + w (c - u)`` of what they imply (unclipped)."""
    s = double(NoiseSchedule.create(100, "cosine"))
    t, w = 30, 4.0
    _, _, x_t = noisy(s, t)
    u, c = torch.randn_like(x_t), torch.randn_like(x_t)
    pu, pc = (s.predict(o, x_t, t, prediction, clip=False) for o in (u, c))
    mixed = s.predict(u + w * (c - u), x_t, t, prediction, clip=False)
    for field in ("pred_original_sample", "pred_epsilon"):
        a, b = getattr(pu, field), getattr(pc, field)
        assert torch.allclose(getattr(mixed, field), a + w * (b - a), atol=1e-9)


def test_predict_rejects_an_unknown_prediction_type():
    s = NoiseSchedule.create(10)
    with pytest.raises(ValueError, match="prediction type 'score'"):
        s.predict(torch.zeros(1), torch.zeros(1), 3, "score")


# --------------------------------------------------------------------------- inverse DDIM step


@pytest.mark.parametrize("clip_sample", [True, False])
@pytest.mark.parametrize(("t", "next_t"), [(-1, 0), (-1, 60), (10, 11), (20, 80), (0, 99)])
def test_inverse_step_then_ddim_step_back_returns_the_input(clip_sample, t, next_t):
    """A constant-eps network (the ideal case of DDIM inversion): inverting ``t -> next_t`` then the
    DDIM step ``next_t -> t`` with the same eps gives the input back."""
    s = double(NoiseSchedule.create(100, "cosine", clip_sample=clip_sample))
    x0, eps, x_t = noisy(s, max(t, 0), scale=0.8)
    start = x0 if t < 0 else x_t
    up = s.ddim_inverse_step(eps, t, next_t, start)
    assert not torch.allclose(up.next_sample, start)
    back = s.ddim_step(eps, next_t, t, up.next_sample, eta=0.0)
    assert torch.allclose(back.prev_sample, start, atol=1e-9)
    assert torch.allclose(back.pred_original_sample, up.pred_original_sample, atol=1e-9)


def test_inverse_step_round_trip_in_float32():
    s = NoiseSchedule.create(1000, clip_sample=False)
    _, eps, x_t = noisy(s, 100)
    up = s.ddim_inverse_step(eps, 100, 700, x_t)
    assert torch.allclose(s.ddim_step(eps, 700, 100, up.next_sample).prev_sample, x_t, atol=1e-5)


def test_inverse_step_with_the_true_noise_is_the_forward_process():
    """From the clean image (``t = -1``) or from ``x_t``, a step with the true eps lands on
    ``add_noise(x0, eps, next_t)`` exactly and extrapolates the true x0 (it never clips)."""
    s = double(NoiseSchedule.create(100))
    x0, eps, x_t = noisy(s, 25, scale=1.3)
    for t, sample in [(-1, x0), (25, x_t)]:
        up = s.ddim_inverse_step(eps, t, 70, sample)
        assert torch.allclose(up.next_sample, s.add_noise(x0, eps, torch.full((3,), 70)), atol=1e-9)
        assert torch.allclose(up.pred_original_sample, x0, atol=1e-9)


def test_inverse_steps_along_a_schedule_and_ddim_back_along_it():
    """The chain a DDIM inversion runs (ascending trailing timesteps from the clean image) and the
    DDIM chain back down (to ``-1``) are inverses for a constant-eps network."""
    s = double(NoiseSchedule.create(100, "cosine", clip_sample=False))
    x0, eps, _ = noisy(s, 0)
    ts = sorted(ddim_timesteps(100, 10, "trailing"))
    x, prev = x0, -1
    for t in ts:
        x, prev = s.ddim_inverse_step(eps, prev, t, x).next_sample, t
    down = ts[::-1] + [-1]
    for t, prev_t in zip(down, down[1:]):
        x = s.ddim_step(eps, t, prev_t, x).prev_sample
    assert torch.allclose(x, x0, atol=1e-9)


def test_inverse_step_rejects_bad_timesteps():
    s = NoiseSchedule.create(10)
    x = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match="above"):
        s.ddim_inverse_step(x, 5, 5, x)
    with pytest.raises(ValueError, match="timestep"):
        s.ddim_inverse_step(x, 5, 10, x)


# --------------------------------------------------------------------------- the family's loops


TINY = dict(
    image_size=8, base_channels=8, channel_mults=(1, 2), layers_per_block=1, attention_levels=(1,),
    attention_head_dim=8, num_groups=4, dropout=0.0, num_train_timesteps=100,
)  # fmt: skip


def test_family_inversion_with_a_constant_eps_network_is_exact(monkeypatch):
    """``ddim_invert`` / ``ddim_generate`` only combine network and schedule: with a network that
    always says the same eps, inversion is the closed-form forward process and generation returns
    the start image."""
    torch.manual_seed(0)
    fam = DDPMFamily(DDPMFamily.Config(**TINY, clip_sample=False))
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    eps = torch.randn(x0.shape, generator=g)
    monkeypatch.setattr(fam, "_unet", lambda x, t, cond=None, keep=None: eps)
    x_t = fam.ddim_invert(x0, None, t_end=80, steps=10)
    t_last = max(t for t in ddim_timesteps(100, 10, "trailing") if t <= 80)
    assert torch.allclose(x_t, fam.schedule.add_noise(x0, eps, torch.full((2,), t_last)), atol=1e-5)
    assert torch.allclose(fam.ddim_generate(x_t, None, t_start=80, steps=10), x0, atol=1e-5)
