"""DDPM: noise schedule maths (by property), U-Net shapes and conditioning, training, save/load, sampling."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from generative.models.ddpm import DDPMFamily
from generative.models.unet import UNet, UNetConfig, timestep_embedding
from generative.schedulers.ddpm import NoiseSchedule, cosine_betas, ddim_timesteps, linear_betas
from generative.training.family import DataKind, Family

TINY = dict(
    image_size=8,
    base_channels=8,
    channel_mults=(1, 2),
    layers_per_block=1,
    attention_levels=(1,),
    attention_head_dim=8,
    num_groups=4,
    dropout=0.0,
    num_train_timesteps=100,
    sample_steps=5,
)


def tiny_family(**overrides) -> DDPMFamily:
    torch.manual_seed(0)
    return DDPMFamily(DDPMFamily.Config(**{**TINY, **overrides}))


def fixed_batch(n: int = 8, n_cond: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    # smooth, structured images (not noise) so there is something to learn
    ramp = torch.linspace(-1, 1, 8)
    base = torch.stack([ramp[None, :].expand(8, 8), ramp[:, None].expand(8, 8), -ramp[None, :].expand(8, 8)])
    image = (base[None] * torch.rand(n, 1, 1, 1, generator=g)).clamp(-1, 1)
    cond = (torch.rand(n, n_cond, generator=g) > 0.5).float()
    return {"image": image, "cond": cond}


def mean_loss(family: DDPMFamily, batch: dict[str, torch.Tensor]) -> float:
    """The loss over four fixed draws of timesteps and noise (comparable before/after training)."""
    with torch.no_grad():
        return sum(float(family.loss(batch, torch.Generator().manual_seed(s))) for s in range(4)) / 4


def save_load(family: DDPMFamily, tmp_path) -> DDPMFamily:
    save_file(family.state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(family.config)))
    loaded = DDPMFamily(DDPMFamily.Config(**json.loads((tmp_path / "config.json").read_text())))
    loaded.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    return loaded


# --------------------------------------------------------------------------- schedule maths


def test_linear_betas_shape_and_range():
    betas = linear_betas(1000)
    assert betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert torch.all(betas[1:] > betas[:-1])


def test_cosine_schedule_alpha_bar_monotone_and_capped():
    betas = cosine_betas(1000)
    assert betas.shape == (1000,)
    assert torch.all(betas > 0) and torch.all(betas <= 0.999)
    schedule = NoiseSchedule.create(1000, "cosine")
    ab = schedule.alphas_cumprod
    assert torch.all(ab[1:] < ab[:-1])
    assert ab[0] > 0.999 and ab[-1] < 1e-3  # starts almost clean, ends almost pure noise


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alphas_cumprod_is_product_of_alphas(kind):
    s = NoiseSchedule.create(200, kind)
    assert torch.allclose(s.alphas, 1 - s.betas)
    assert torch.allclose(s.alphas_cumprod[57], torch.prod(1 - s.betas[:58].double()).float(), rtol=1e-5)


def test_bad_schedule_arguments_raise():
    with pytest.raises(ValueError, match="beta_start"):
        linear_betas(10, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError):
        NoiseSchedule.create(10, "quadratic")
    with pytest.raises(ValueError, match="timestep"):
        NoiseSchedule.create(10).ddpm_step(torch.zeros(1), 10, torch.zeros(1))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_add_noise_matches_iterated_forward_process(kind):
    """q(x_t | x0) in closed form has the mean and variance of t + 1 single noising steps."""
    s = NoiseSchedule.create(50, kind)
    t = 30
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-0.8, 0.1, 0.9]).repeat(40_000, 1)
    x = x0.clone()
    for step in range(t + 1):
        beta = s.betas[step]
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g)
    closed = s.add_noise(x0, torch.randn(x0.shape, generator=g), torch.full((x0.shape[0],), t))
    ab = s.alphas_cumprod[t]
    for samples in (x, closed):
        assert torch.allclose(samples.mean(0), ab.sqrt() * x0[0], atol=0.02)
        assert torch.allclose(samples.var(0), (1 - ab).expand(3), atol=0.02)


def test_add_noise_rejects_mismatched_shapes():
    s = NoiseSchedule.create(10)
    with pytest.raises(ValueError, match="timesteps"):
        s.add_noise(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


def test_ddpm_step_at_t0_returns_predicted_x0():
    s = NoiseSchedule.create(100)
    x = torch.randn(4, 3, 8, 8)
    eps = torch.randn(4, 3, 8, 8)
    out = s.ddpm_step(eps, 0, x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.prev_sample, out.pred_original_sample, atol=1e-6)
    assert torch.allclose(out.pred_original_sample, s.predict_x0(x, eps, 0))


@pytest.mark.parametrize("step", ["ddim", "ddpm"])
def test_step_with_true_noise_recovers_x0(step):
    """Given the exact noise, the predicted x0 is the clean image; DDIM (eta 0) lands exactly on
    the closed-form x_prev made with the same noise."""
    s = NoiseSchedule.create(100, clip_sample=False)
    x0 = torch.rand(2, 3, 4, 4) * 2 - 1
    eps = torch.randn_like(x0)
    t, prev_t = 80, 60
    x_t = s.add_noise(x0, eps, torch.full((2,), t))
    if step == "ddim":
        out = s.ddim_step(eps, t, prev_t, x_t, eta=0.0)
        assert torch.allclose(out.prev_sample, s.add_noise(x0, eps, torch.full((2,), prev_t)), atol=1e-5)
    else:
        out = s.ddpm_step(eps, t, x_t, prev_t=prev_t, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.pred_original_sample, x0, atol=1e-4)


def test_ddim_eta0_is_deterministic_and_eta1_is_not():
    s = NoiseSchedule.create(100)
    x = torch.randn(2, 3, 4, 4)
    eps = torch.randn_like(x)
    a = s.ddim_step(eps, 50, 40, x, eta=0.0, generator=torch.Generator().manual_seed(1)).prev_sample
    b = s.ddim_step(eps, 50, 40, x, eta=0.0, generator=torch.Generator().manual_seed(2)).prev_sample
    assert torch.equal(a, b)
    c = s.ddim_step(eps, 50, 40, x, eta=1.0, generator=torch.Generator().manual_seed(1)).prev_sample
    d = s.ddim_step(eps, 50, 40, x, eta=1.0, generator=torch.Generator().manual_seed(2)).prev_sample
    assert not torch.allclose(c, d)


def test_ddim_eta1_variance_equals_ddpm_posterior_variance():
    """DDIM with eta = 1 is ancestral DDPM: same mean and noise for the same generator."""
    s = NoiseSchedule.create(100, clip_sample=False)
    x = torch.randn(2, 3, 4, 4)
    eps = torch.randn_like(x)
    ddim = s.ddim_step(eps, 50, 40, x, eta=1.0, generator=torch.Generator().manual_seed(3)).prev_sample
    ddpm = s.ddpm_step(eps, 50, x, prev_t=40, generator=torch.Generator().manual_seed(3)).prev_sample
    assert torch.allclose(ddim, ddpm, atol=1e-5)


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_timesteps(spacing):
    steps = ddim_timesteps(1000, 50, spacing)
    assert len(steps) == 50 and len(set(steps)) == 50
    assert steps == sorted(steps, reverse=True)
    assert 0 <= steps[-1] and steps[0] <= 999
    assert steps[0] == (980 if spacing == "leading" else 999)
    with pytest.raises(ValueError):
        ddim_timesteps(10, 11)


# --------------------------------------------------------------------------- U-Net


def test_timestep_embedding_shape_and_distinct():
    emb = timestep_embedding(torch.tensor([0, 1, 500]), 32)
    assert emb.shape == (3, 32)
    assert not torch.allclose(emb[0], emb[1])


def test_unet_shapes_and_bad_input():
    net = UNet(
        UNetConfig(
            base_channels=8,
            channel_mults=(1, 2, 2),
            layers_per_block=1,
            attention_levels=(2,),
            attention_head_dim=8,
            num_groups=4,
        )
    )
    x = torch.randn(2, 3, 16, 16)
    assert net(x, torch.tensor([3, 7])).shape == x.shape
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 3, 10, 10), torch.tensor([1]))
    with pytest.raises(ValueError, match="unconditional"):
        net(x, torch.tensor([3, 7]), torch.ones(2, 2))


def test_conditioning_changes_output_and_null_matches_no_cond():
    torch.manual_seed(0)
    net = UNet(
        UNetConfig(
            base_channels=8,
            channel_mults=(1, 2),
            layers_per_block=1,
            attention_levels=(1,),
            attention_head_dim=8,
            num_groups=4,
            cond_dim=3,
        )
    ).eval()
    with torch.no_grad():
        net.null_cond.normal_()
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 10])
    c1, c2 = torch.tensor([[1.0, 0, 0]] * 2), torch.tensor([[0.0, 1, 1]] * 2)
    assert not torch.allclose(net(x, t, c1), net(x, t, c2))
    dropped = net(x, t, c1, cond_keep=torch.tensor([False, False]))
    assert torch.allclose(dropped, net(x, t, None))
    with pytest.raises(ValueError, match="cond must be"):
        net(x, t, torch.ones(2, 2))


# --------------------------------------------------------------------------- family


def test_family_protocol_and_data_kind():
    fam = tiny_family(cond_names=["Smiling", "Male"])
    assert isinstance(fam, Family)
    assert fam.config.n_cond == 2 and fam.data is DataKind.attributes
    assert tiny_family().data is DataKind.images
    assert set(fam.ema_modules()) == {"unet"}


def test_training_lowers_loss_on_fixed_batch():
    fam = tiny_family(cond_names=["a", "b"], lr=2e-3)
    batch = fixed_batch()
    opts = fam.configure_optimizers()

    before = mean_loss(fam, batch)
    for _ in range(40):
        out = fam.training_step(batch, opts)
    after = mean_loss(fam, batch)
    assert set(out.losses) == {"loss"} and out.n_images == 8
    assert after < 0.7 * before, (before, after)
    # attribute frequencies move toward the batch's
    assert torch.all((fam.cond_prior - batch["cond"].mean(0)).abs() < 0.5)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sample_shape_range_and_mode_restored(sampler):
    fam = tiny_family(cond_names=["a", "b"])
    fam.train()
    out = fam.sample(3, None, steps=4, sampler=sampler, generator=torch.Generator().manual_seed(0), unknown_kw=1)
    assert out.shape == (3, 3, 8, 8)
    assert out.min() >= -1 and out.max() <= 1
    assert fam.training and fam.unet.training


def test_sample_ddim_eta0_deterministic_given_start_noise_and_cond():
    fam = tiny_family(cond_names=["a", "b"])
    cond = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = fam.sample(2, cond, steps=5, eta=0.0, generator=torch.Generator().manual_seed(4))
    b = fam.sample(2, cond, steps=5, eta=0.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_guidance_and_condition_change_samples():
    fam = tiny_family(cond_names=["a", "b"])
    with torch.no_grad():
        fam.unet.null_cond.normal_()
        fam.unet.cond_proj.weight.normal_()

    def run(cond, scale):
        return fam.sample(2, cond, steps=3, guidance_scale=scale, generator=torch.Generator().manual_seed(0))

    c1 = torch.tensor([[1.0, 0.0]] * 2)
    c2 = torch.tensor([[0.0, 1.0]] * 2)
    assert not torch.allclose(run(c1, 1.0), run(c2, 1.0))
    assert not torch.allclose(run(c1, 1.0), run(c1, 3.0))


def test_nan_cond_filled_from_prior():
    fam = tiny_family(cond_names=["a", "b"])
    fam.cond_prior.copy_(torch.tensor([1.0, 0.0]))  # attribute a always on, b always off
    cond = torch.tensor([[float("nan"), 1.0], [0.0, float("nan")]])
    explicit = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    kw = dict(steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(
        fam.sample(2, cond, **kw), fam.sample(2, explicit, **dict(kw, generator=torch.Generator().manual_seed(0)))
    )


def test_unconditional_rejects_cond():
    fam = tiny_family()
    with pytest.raises(ValueError, match="unconditional"):
        fam.sample(2, torch.ones(2, 2), steps=2)


def test_save_load_roundtrip_gives_identical_samples(tmp_path):
    fam = tiny_family(cond_names=["a", "b"])
    fam.training_step(fixed_batch(), fam.configure_optimizers())  # non-initial weights and prior
    loaded = save_load(fam, tmp_path)
    assert loaded.config == fam.config
    assert torch.equal(loaded.cond_prior, fam.cond_prior)
    cond = torch.tensor([[1.0, float("nan")]] * 2)
    a = fam.sample(2, cond, steps=4, generator=torch.Generator().manual_seed(7))
    b = loaded.sample(2, cond, steps=4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_sample_grid_uses_batch_conditions():
    fam = tiny_family(cond_names=["a", "b"], sample_steps=2)
    grid = fam.sample_grid(fixed_batch(), 4)
    assert grid.shape == (4, 3, 8, 8)


def test_bf16_autocast_training_lowers_loss_and_keeps_float32_weights():
    fam = tiny_family(cond_names=["a", "b"], lr=2e-3, bf16=True)
    batch = fixed_batch()
    opts = fam.configure_optimizers()
    first = fam.training_step(batch, opts).losses["loss"]
    losses = [fam.training_step(batch, opts).losses["loss"] for _ in range(30)]
    assert all(p.dtype == torch.float32 for p in fam.parameters())
    assert sum(losses[-5:]) / 5 < 0.8 * first


def test_patch_size_folds_pixels_for_the_unet_and_still_learns(tmp_path):
    """patch_size=2: the U-Net runs on 2x2-pixel blocks (half the resolution, 4x the channels);
    samples keep the full size, training still lowers the loss, save -> load is exact."""
    fam = tiny_family(cond_names=["a", "b"], lr=2e-3, patch_size=2, channel_mults=(1,), attention_levels=())
    assert fam.unet.config.in_channels == 12
    batch = fixed_batch()
    opts = fam.configure_optimizers()
    before = mean_loss(fam, batch)
    for _ in range(80):
        fam.training_step(batch, opts)
    after = mean_loss(fam, batch)
    assert after < 0.8 * before, (before, after)
    out = fam.sample(2, None, steps=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 8, 8)
    loaded = save_load(fam, tmp_path)
    again = loaded.sample(2, None, steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


@pytest.mark.parametrize("prediction", ["v_prediction", "sample"])
def test_eps_from_output_inverts_each_prediction_target(prediction):
    """The exact v or x0 target, converted back, is the exact noise; so a perfect network of any
    kind steps exactly like a perfect epsilon network."""
    s = NoiseSchedule.create(100, beta_schedule="cosine", clip_sample=False)
    x0 = torch.rand(3, 3, 4, 4) * 2 - 1
    eps = torch.randn_like(x0)
    t = 70
    x_t = s.add_noise(x0, eps, torch.full((3,), t))
    target = s.get_velocity(x0, eps, torch.full((3,), t)) if prediction == "v_prediction" else x0
    assert torch.allclose(s.eps_from_output(target, x_t, t, prediction), eps, atol=1e-4)
    assert torch.equal(s.eps_from_output(eps, x_t, t, "epsilon"), eps)
    with pytest.raises(ValueError, match="prediction"):
        s.eps_from_output(eps, x_t, t, "score")


def test_velocity_closed_form_and_snr():
    s = NoiseSchedule.create(100)
    x0, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    t = torch.tensor([10, 90])
    ab = s.alphas_cumprod[t].view(2, 1, 1, 1)
    assert torch.allclose(s.get_velocity(x0, eps, t), ab.sqrt() * eps - (1 - ab).sqrt() * x0)
    snr = s.snr(t)
    assert snr[0] > snr[1] > 0  # signal fades with t
    assert torch.allclose(snr, s.alphas_cumprod[t] / (1 - s.alphas_cumprod[t]))


@pytest.mark.parametrize("prediction", ["v_prediction", "sample"])
def test_v_and_x0_prediction_with_min_snr_train_and_sample(prediction, tmp_path):
    fam = tiny_family(cond_names=["a", "b"], lr=2e-3, prediction_type=prediction, min_snr_gamma=5.0)
    batch = fixed_batch()
    opts = fam.configure_optimizers()

    before = mean_loss(fam, batch)
    for _ in range(60):
        fam.training_step(batch, opts)
    assert mean_loss(fam, batch) < 0.7 * before
    out = fam.sample(2, batch["cond"][:2], steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 8, 8) and out.abs().max() <= 1.0
    again = save_load(fam, tmp_path).sample(2, batch["cond"][:2], steps=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_min_snr_weights_follow_hang_et_al():
    """With gamma set, the epsilon loss of timestep t is scaled by min(SNR_t, gamma) / SNR_t: a
    network that is off by the same noise error everywhere loses more weight at low t."""
    fam = tiny_family(min_snr_gamma=5.0)
    plain = tiny_family()
    batch = fixed_batch()
    with torch.no_grad():
        weighted = float(fam.loss(batch, torch.Generator().manual_seed(0)))
        unweighted = float(plain.loss(batch, torch.Generator().manual_seed(0)))
    # same network and draws; every weight is <= 1 and the small-t ones are far below
    assert weighted < unweighted
    with pytest.raises(ValueError, match="min_snr_gamma"):
        tiny_family(min_snr_gamma=-1.0)
    with pytest.raises(ValueError):
        tiny_family(prediction_type="score")


def test_ddim_inversion_then_generation_comes_back_and_another_condition_moves_away():
    """DDIM inversion (no guidance) followed by DDIM generation with the same condition returns to
    the start image; a different condition from the same inverted noise gives a different image.
    A wrong inversion (e.g. adding noise the way training does) would not come back."""
    fam = tiny_family(n_cond=2, cond_names=["a", "b"], num_train_timesteps=200)
    batch = fixed_batch(4)
    opt = fam.configure_optimizers()
    for _ in range(30):  # a little training so eps is a smooth function of x (as a real model's is)
        fam.training_step(batch, opt)
    x0, c = batch["image"], batch["cond"]
    x_t = fam.ddim_invert(x0, c, t_end=180, steps=100)
    assert (x_t - x0).abs().mean() > 0.15  # it really went into the noise
    back = fam.ddim_generate(x_t, c, t_start=180, steps=100)
    naive = fam.ddim_generate(
        fam.schedule.add_noise(x0, torch.randn_like(x0), torch.full((4,), 179)), c, t_start=180, steps=100
    )
    err, err_naive = (back - x0).abs().mean(), (naive - x0).abs().mean()
    assert err < 0.05 and err < err_naive / 3, (float(err), float(err_naive))
    other = fam.ddim_generate(x_t, 1 - c, t_start=180, steps=100, guidance_scale=3.0)
    assert (other - back).abs().mean() > 1e-3
    with pytest.raises(ValueError):
        fam.ddim_invert(x0, c, t_end=200)


def test_remap_condition_keeps_known_attributes_and_starts_new_ones_at_zero():
    fam = tiny_family(n_cond=2, cond_names=["a", "b"])
    fam.cond_prior.copy_(torch.tensor([0.2, 0.7]))
    tensors = DDPMFamily.remap_condition(fam.state_dict(), ["a", "b"], ["b", "new", "a"])
    wide = tiny_family(n_cond=3, cond_names=["b", "new", "a"])
    wide.load_state_dict(tensors)
    assert torch.allclose(wide.cond_prior, torch.tensor([0.7, 0.5, 0.2]))
    x, t = torch.randn(3, 3, 8, 8), torch.tensor([5, 50, 90])
    c_old = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c_new = torch.stack(
        [c_old[:, 1], torch.rand(3), c_old[:, 0]], dim=1
    )  # the new attribute's value does not matter yet
    with torch.no_grad():
        assert torch.allclose(fam.unet(x, t, c_old), wide.unet(x, t, c_new), atol=1e-5)


def test_guidance_relative_to_a_base_condition_amplifies_only_the_change():
    """``base_cond``: guidance from that condition instead of the unconditional estimate. Guiding
    from a condition to itself is plain conditional generation at any scale; scale 1 is plain
    generation with the new condition; a larger scale moves further the same way."""
    fam = tiny_family(n_cond=2, cond_names=["a", "b"], num_train_timesteps=200)
    batch = fixed_batch(4)
    opt = fam.configure_optimizers()
    for _ in range(10):
        fam.training_step(batch, opt)
    x0, c = batch["image"], batch["cond"]
    x_t = fam.ddim_invert(x0, c, t_end=150, steps=50)
    plain = fam.ddim_generate(x_t, c, t_start=150, steps=50)
    assert torch.allclose(
        fam.ddim_generate(x_t, c, t_start=150, steps=50, guidance_scale=7.0, base_cond=c), plain, atol=1e-5
    )
    c2 = 1 - c
    assert torch.allclose(
        fam.ddim_generate(x_t, c2, 150, 50, 1.0, base_cond=c), fam.ddim_generate(x_t, c2, 150, 50), atol=1e-5
    )
    small = fam.ddim_generate(x_t, c2, 150, 50, 2.0, base_cond=c)
    big = fam.ddim_generate(x_t, c2, 150, 50, 6.0, base_cond=c)
    assert (big - plain).abs().mean() > (small - plain).abs().mean() > 0
