"""pix2pix: U-Net generator and PatchGAN shapes, dropout placement, image pool, training, save/load."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from generative.models.pix2pix import Pix2PixFamily, UNetGenerator
from generative.nn.blocks_translation import ImagePool, PatchDiscriminator, grid_rows, patchgan_receptive_field
from generative.training.family import DataKind, Family

TINY = dict(image_size=16, ngf=8, ndf=8, num_downs=4, n_layers_d=2)


def tiny_family(**overrides) -> Pix2PixFamily:
    torch.manual_seed(0)
    return Pix2PixFamily(Pix2PixFamily.Config(**{**TINY, **overrides}))


def paired_batch(n: int = 4, size: int = 16) -> dict[str, torch.Tensor]:
    """Smooth images A; B is a fixed, learnable function of A (colour inversion + channel swap)."""
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g) * 2 - 1
    a = F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return {"a": a, "b": -a.flip(1)}


def save_load(family: Pix2PixFamily, tmp_path) -> Pix2PixFamily:
    save_file(family.state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(family.config)))
    loaded = Pix2PixFamily(Pix2PixFamily.Config(**json.loads((tmp_path / "config.json").read_text())))
    loaded.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    return loaded


def test_patchgan_receptive_field():
    assert patchgan_receptive_field(3) == 70  # the papers' 70x70 PatchGAN
    assert patchgan_receptive_field(2) == 34
    assert PatchDiscriminator(6, 8, n_layers=3).receptive_field == 70


@pytest.mark.parametrize(("size", "n_layers", "out"), [(64, 2, 14), (64, 3, 6), (256, 3, 30)])
def test_patch_discriminator_output_grid(size, n_layers, out):
    d = PatchDiscriminator(6, 4, n_layers=n_layers)
    assert d(torch.randn(1, 6, size, size)).shape == (1, 1, out, out)


def test_generator_shape_range_and_decoder_dropout():
    g = UNetGenerator(3, 3, num_downs=6, ngf=8, n_dropout_layers=3)
    y = g(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 3, 64, 64)
    assert y.min() >= -1 and y.max() <= 1
    assert sum(isinstance(m, nn.Dropout) for m in g.down.modules()) == 0
    assert sum(isinstance(m, nn.Dropout) for m in g.up.modules()) == 3


def test_generator_skip_connection_carries_fine_detail():
    """The outermost skip lets a one-pixel change reach the output even through a 1x1 bottleneck."""
    g = UNetGenerator(3, 3, num_downs=4, ngf=8).eval()
    x = torch.zeros(1, 3, 16, 16)
    x2 = x.clone()
    x2[0, :, 5, 5] = 1.0
    diff = (g(x2) - g(x)).abs().sum(1)[0]
    assert diff[4:7, 4:7].sum() > 0
    assert g.down[0](x).shape[-1] == 8  # first encoder output is half resolution


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        Pix2PixFamily.Config(image_size=48, num_downs=6)
    with pytest.raises(ValueError):
        Pix2PixFamily.Config(norm="layer")


def test_family_protocol_and_optimisers():
    fam = tiny_family()
    assert isinstance(fam, Family)
    assert fam.data is DataKind.paired and fam.family == "pix2pix"
    opts = fam.configure_optimizers()
    assert set(opts) == {"generator", "discriminator"}
    assert opts["generator"].defaults["lr"] == 2e-4 and opts["generator"].defaults["betas"] == (0.5, 0.999)
    assert fam.config.lambda_l1 == 100.0 and fam.config.gan_loss == "vanilla"
    assert all(opt.defaults["fused"] for opt in opts.values())  # parameters on CPU: fused Adam


def test_training_lowers_l1_on_fixed_batch():
    fam = tiny_family(lr=1e-3)
    batch = paired_batch()
    opts = fam.configure_optimizers()

    def l1() -> float:
        return float((fam.sample(4, batch=batch) - batch["b"]).abs().mean())

    before = l1()
    for _ in range(40):
        out = fam.training_step(batch, opts)
    assert set(out.losses) == {"g_gan", "g_l1", "d_real", "d_fake"}
    assert l1() < 0.8 * before
    assert all(p.requires_grad for p in fam.discriminator.parameters())  # D unfrozen after the step


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    fam = tiny_family()
    fam.training_step(paired_batch(), fam.configure_optimizers())  # moves batch-norm running stats
    loaded = save_load(fam, tmp_path)
    assert loaded.config == fam.config
    batch = paired_batch()
    assert torch.equal(fam.sample(4, batch=batch), loaded.sample(4, batch=batch))


def test_sample_and_grid():
    fam = tiny_family()
    batch = paired_batch()
    fam.train()
    out = fam.sample(2, batch=batch, steps=5)  # unknown keywords are ignored
    assert out.shape == (2, 3, 16, 16) and fam.generator.training
    assert torch.equal(fam.sample(2, batch=batch["a"]), out)  # a bare tensor works too
    grid = fam.sample_grid(batch, 3)
    assert grid.shape == (9, 3, 16, 16)
    assert torch.equal(grid[:3], batch["a"][:3]) and torch.equal(grid[6:], batch["b"][:3])
    with pytest.raises(ValueError, match="batch"):
        fam.sample(2)


# --------------------------------------------------------------------------- image pool


def test_image_pool_disabled_returns_input():
    pool = ImagePool(0)
    x = torch.randn(3, 3, 4, 4)
    assert pool.query(x) is x and len(pool) == 0


def test_image_pool_fills_then_mixes_history():
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the images themselves
    assert len(pool) == 4
    seen_old = seen_new = False
    for step in range(1, 20):
        before = sorted(torch.stack(pool.images).flatten().tolist())
        new = torch.full((4, 1, 1, 1), 100.0 + step)
        out = pool.query(new)
        after = sorted(torch.stack(pool.images).flatten().tolist())
        values = out.flatten().tolist()
        assert out.shape == new.shape and len(pool) == 4
        # every output is new or came out of the pool; what came out was replaced by a new image
        returned_old = [v for v in values if v != 100.0 + step]
        assert all(v in before for v in returned_old)
        assert sorted(before + [100.0 + step] * len(returned_old)) == sorted(after + returned_old)
        seen_old |= bool(returned_old)
        seen_new |= len(returned_old) < 4
    assert seen_old and seen_new  # a full pool returns both old and new images


def test_image_pool_detaches():
    pool = ImagePool(2, seed=0)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    pool.query(x * 2)
    assert not any(img.requires_grad for img in pool.images)
    with pytest.raises(ValueError):
        ImagePool(-1)


def test_bf16_autocast_step_keeps_float32_weights_and_finite_losses():
    fam = tiny_family(bf16=True)
    out = fam.training_step(paired_batch(), fam.configure_optimizers())
    assert all(torch.isfinite(torch.tensor(v)) for v in out.losses.values())
    assert all(p.dtype == torch.float32 for p in fam.parameters())
    assert fam.sample(2, batch=paired_batch()).dtype == torch.float32


def test_grid_rows_put_outputs_under_their_inputs():
    a, b = torch.arange(10.0), -torch.arange(10.0)
    out = grid_rows([a, b], row=4)
    assert out.tolist() == [0, 1, 2, 3, 0, -1, -2, -3, 4, 5, 6, 7, -4, -5, -6, -7, 8, 9, -8, -9]
