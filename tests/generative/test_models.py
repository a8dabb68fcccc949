from __future__ import annotations

import pytest
import torch

from generative.models.autoencoder import EncoderOutput
from generative.models.vae import VAEEncoderOutput
from generative.registry import FAMILIES, build_family, family_class
from generative.training.family import DataKind, Family
from tests.generative.helpers import ATTRS, TINY_AE, TINY_GAN

OURS = {
    "ae": TINY_AE,
    "vae": TINY_AE,
    "cvae": {**TINY_AE, "cond_names": ATTRS},
    "gan": TINY_GAN,
    "cgan": {**TINY_GAN, "cond_names": ATTRS},
}


def _batch(n: int = 8, size: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1  # smooth images: learnable with a tiny latent
    image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return {"image": image, "cond": torch.randint(0, 2, (n, len(ATTRS)), generator=g).float()}


def test_registry_names_and_lazy_classes():
    assert set(FAMILIES) == {"ae", "vae", "cvae", "gan", "cgan", "pix2pix", "cyclegan", "ddpm", "classifier"}
    for name in OURS:
        cls = family_class(name.upper())
        assert cls.family == name and hasattr(cls, "Config")
        config = cls.Config()
        assert config.image_size == 64
    with pytest.raises(KeyError, match="valid: ae"):
        family_class("nope")


@pytest.mark.parametrize("name", sorted(OURS))
def test_family_shapes_and_protocol(name):
    torch.manual_seed(0)
    family = build_family(name, OURS[name])
    assert isinstance(family, Family)
    batch = _batch()
    if family.data is not DataKind.attributes:
        del batch["cond"]
    out = family.training_step(batch, family.configure_optimizers())
    assert out.n_images == 8 and all(isinstance(v, float) for v in out.losses.values())
    assert family.sample_grid(batch, 4).shape[1:] == (3, 16, 16)
    samples = family.sample(5, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (5, 3, 16, 16) and samples.abs().max() <= 1
    assert family.training  # sampling restored train mode


def test_encode_decode_typed_outputs():
    torch.manual_seed(0)
    ae, vae, cvae = (build_family(n, OURS[n]) for n in ("ae", "vae", "cvae"))
    x, cond = _batch()["image"], _batch()["cond"]
    e = ae.encode(x)
    assert type(e) is EncoderOutput and e.latent.shape == (8, 8)
    assert ae.decode(e.latent).shape == x.shape
    v = vae.encode(x)
    assert isinstance(v, VAEEncoderOutput) and v.latent.shape == v.logvar.shape == (8, 8)
    assert v.kl().shape == (8,) and (v.kl() >= 0).all()
    c = cvae.encode(x, cond)
    assert cvae.decode(c.latent, cond).shape == x.shape
    with pytest.raises(ValueError, match="cond must have shape"):
        cvae.decode(c.latent, cond[:, :2])


@pytest.mark.parametrize("name", ["ae", "vae", "cvae"])
def test_a_few_steps_lower_the_loss(name):
    torch.manual_seed(0)
    family = build_family(name, {**OURS[name], "lr": 2e-3})
    batch = _batch()
    optimizers = family.configure_optimizers()
    first = family.training_step(batch, optimizers).losses["recon"]
    for _ in range(25):
        last = family.training_step(batch, optimizers).losses["recon"]
    assert last < 0.8 * first


def test_gan_discriminator_learns_on_fixed_batch():
    torch.manual_seed(0)
    family = build_family("gan", {**TINY_GAN, "lr": 0.0})  # G frozen (lr 0): D alone must separate real/fake
    optimizers = family.configure_optimizers()
    batch = {"image": _batch()["image"]}
    first = family.training_step(batch, optimizers).losses["loss_d"]
    for _ in range(20):
        last = family.training_step(batch, optimizers).losses["loss_d"]
    assert last < 0.7 * first


@pytest.mark.parametrize("name", ["cvae", "cgan"])
def test_conditioning_changes_the_output(name):
    torch.manual_seed(0)
    family = build_family(name, OURS[name]).eval()
    z_dim = family.config.latent_dim if name == "cvae" else family.config.z_dim
    z = torch.randn(4, z_dim)
    off, on = torch.zeros(4, 3), torch.zeros(4, 3)
    on[:, 0] = 1
    run = family.decode if name == "cvae" else family.generate
    with torch.no_grad():
        assert (run(z, on) - run(z, off)).abs().mean() > 1e-3
        assert torch.equal(run(z, off), run(z, off.clone()))


def test_sample_honours_specified_attributes_and_fills_nan():
    torch.manual_seed(0)
    family = build_family("cvae", OURS["cvae"])
    cond = torch.full((6, 3), float("nan"))
    cond[:, 0] = 1.0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(family.sample(6, cond, generator=g1), family.sample(6, cond, generator=g2))
    all_on = torch.ones(6, 3)
    assert not torch.equal(
        family.sample(6, cond, generator=torch.Generator().manual_seed(3)),
        family.sample(6, all_on * 0, generator=torch.Generator().manual_seed(3)),
    )
