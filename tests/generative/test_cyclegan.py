"""CycleGAN: ResNet generator shapes, instance norm, two optimisers, losses, training, save/load, sampling."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from generative.models.cyclegan import CycleGANFamily, ResnetBlock, ResnetGenerator
from generative.training.family import DataKind, Family

TINY = dict(image_size=16, ngf=8, ndf=8, n_blocks=2, n_layers_d=2, pool_size=4)


def tiny_family(**overrides) -> CycleGANFamily:
    torch.manual_seed(0)
    return CycleGANFamily(CycleGANFamily.Config(**{**TINY, **overrides}))


def unpaired_batch(n: int = 4, size: int = 16) -> dict[str, torch.Tensor]:
    """Two smooth-image domains: A reddish, B bluish (no pairing between rows)."""
    g = torch.Generator().manual_seed(0)

    def smooth(shift: torch.Tensor) -> torch.Tensor:
        coarse = torch.rand(n, 3, size // 4, size // 4, generator=g) * 0.6 - 0.3
        return (F.interpolate(coarse, size=size, mode="bilinear", align_corners=False) + shift).clamp(-1, 1)

    return {
        "a": smooth(torch.tensor([0.5, 0.0, -0.5])[:, None, None]),
        "b": smooth(torch.tensor([-0.5, 0.0, 0.5])[:, None, None]),
    }


def save_load(family: CycleGANFamily, tmp_path) -> CycleGANFamily:
    save_file(family.state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(family.config)))
    loaded = CycleGANFamily(CycleGANFamily.Config(**json.loads((tmp_path / "config.json").read_text())))
    loaded.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    return loaded


def test_resnet_generator_shape_blocks_and_instance_norm():
    g = ResnetGenerator(3, 3, ngf=8, n_blocks=6)
    y = g(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 3, 64, 64) and y.min() >= -1 and y.max() <= 1
    assert sum(isinstance(m, ResnetBlock) for m in g.modules()) == 6
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and not any(m.affine or m.track_running_stats for m in norms)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in g.modules())


def test_resnet_generator_has_no_running_state():
    """Instance norm keeps no statistics: eval and train outputs agree."""
    g = ResnetGenerator(3, 3, ngf=8, n_blocks=1)
    x = torch.randn(1, 3, 16, 16)
    assert torch.allclose(g.train()(x), g.eval()(x))


def test_defaults_match_reference():
    c = CycleGANFamily.Config()
    assert (c.lambda_cycle, c.lambda_identity, c.pool_size, c.gan_loss, c.norm, c.n_blocks) == (
        10.0,
        0.5,
        50,
        "lsgan",
        "instance",
        6,
    )
    with pytest.raises(ValueError, match="divisible"):
        CycleGANFamily.Config(image_size=30)


def test_family_protocol_and_two_disjoint_optimisers():
    fam = tiny_family()
    assert isinstance(fam, Family)
    assert fam.data is DataKind.unpaired and fam.family == "cyclegan"
    opts = fam.configure_optimizers()
    assert set(opts) == {"generator", "discriminator"}
    g_params = {id(p) for group in opts["generator"].param_groups for p in group["params"]}
    d_params = {id(p) for group in opts["discriminator"].param_groups for p in group["params"]}
    assert g_params == {id(p) for p in [*fam.g_a.parameters(), *fam.g_b.parameters()]}
    assert d_params == {id(p) for p in [*fam.d_a.parameters(), *fam.d_b.parameters()]}
    assert opts["generator"].defaults["betas"] == (0.5, 0.999)


def test_training_lowers_cycle_loss_and_fills_pools():
    fam = tiny_family(lr=1e-3)
    batch = unpaired_batch()
    opts = fam.configure_optimizers()

    def cycle() -> float:
        with torch.no_grad():
            return float(F.l1_loss(fam.g_b(fam.g_a(batch["a"])), batch["a"]))

    before = cycle()
    for _ in range(20):
        out = fam.training_step(batch, opts)
    assert set(out.losses) == {"idt_a", "idt_b", "g_a", "g_b", "cycle_a", "cycle_b", "d_a", "d_b"}
    assert cycle() < 0.7 * before
    assert len(fam.fake_a_pool) == len(fam.fake_b_pool) == 4
    assert all(p.requires_grad for p in fam.d_a.parameters())


def test_identity_weight_zero_drops_identity_losses():
    fam = tiny_family(lambda_identity=0.0)
    out = fam.training_step(unpaired_batch(), fam.configure_optimizers())
    assert "idt_a" not in out.losses and "cycle_a" in out.losses


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    fam = tiny_family()
    fam.training_step(unpaired_batch(), fam.configure_optimizers())
    loaded = save_load(fam, tmp_path)
    assert loaded.config == fam.config
    batch = unpaired_batch()
    for direction in ("a2b", "b2a"):
        assert torch.equal(
            fam.sample(4, batch=batch, direction=direction), loaded.sample(4, batch=batch, direction=direction)
        )


def test_sample_directions_and_grid():
    fam = tiny_family()
    batch = unpaired_batch()
    with torch.no_grad():
        assert torch.equal(fam.sample(2, batch=batch), fam.g_a(batch["a"][:2]))
        assert torch.equal(fam.sample(2, batch=batch, direction="b2a"), fam.g_b(batch["b"][:2]))
        assert torch.equal(fam.sample(2, batch=batch["b"], direction="b2a"), fam.g_b(batch["b"][:2]))
    grid = fam.sample_grid(batch, 3)
    assert grid.shape == (18, 3, 16, 16)
    assert torch.equal(grid[:3], batch["a"][:3]) and torch.equal(grid[9:12], batch["b"][:3])
    assert fam.training
    with pytest.raises(ValueError, match="batch"):
        fam.sample(2)
    with pytest.raises(ValueError):
        fam.sample(2, batch=batch, direction="sideways")


def test_shared_forward_equals_separate_forwards_with_instance_norm():
    """The step runs G(A) and G(B) as one batch: with instance norm that is the same maths."""
    fam = tiny_family()
    batch = unpaired_batch()
    with torch.no_grad():
        joint_a, joint_b = fam._run(fam.g_a, batch["a"], batch["b"])
        assert torch.allclose(joint_a, fam.g_a(batch["a"]), atol=1e-6)
        assert torch.allclose(joint_b, fam.g_a(batch["b"]), atol=1e-6)
    assert not tiny_family(norm="batch")._batchable(batch["a"], batch["b"])


def test_bf16_autocast_step_keeps_float32_weights_and_pool():
    fam = tiny_family(bf16=True)
    out = fam.training_step(unpaired_batch(), fam.configure_optimizers())
    assert all(torch.isfinite(torch.tensor(v)) for v in out.losses.values())
    assert all(p.dtype == torch.float32 for p in fam.parameters())
    assert all(img.dtype == torch.float32 for img in fam.fake_a_pool.images)
