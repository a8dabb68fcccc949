"""The cVAE's Fader-style latent adversary: what it trains, its warm-up, and that it does remove
an attribute from the latent."""

from __future__ import annotations

import torch

from generative.models.vae import CVAEConfig, CVAEFamily
from generative.training.trainer import TrainConfig, Trainer
from tests.generative.helpers import BatchDataset


def _stand_in_judge(fam) -> None:
    """A stand-in frozen classifier for the attribute loss: one logit per image."""
    judge = torch.nn.Sequential(torch.nn.Conv2d(3, 1, 16), torch.nn.Flatten())
    judge.logits = judge.forward
    judge.requires_grad_(False)
    object.__setattr__(fam, "_judge", (judge, torch.tensor([0])))


def _tiny(weight: float, warmup: int = 4, lr: float = 2e-4) -> CVAEFamily:
    torch.manual_seed(0)
    return CVAEFamily(
        CVAEConfig(
            image_size=16,
            channels=(8, 16),
            res_blocks=(0, 1),
            latent_dim=8,
            cond_names=["Bright"],
            kl_warmup_steps=1,
            latent_adv_weight=weight,
            latent_adv_warmup=warmup,
            latent_disc_hidden=32,
            latent_disc_lr=lr,
        )
    )


def _batch(n: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random textures, half of them brightened: "Bright" is plain to see and must reach the latent
    unless something keeps it out."""
    g = torch.Generator().manual_seed(seed)
    bright = (torch.rand(n, generator=g) < 0.5).float()
    x = (torch.rand(n, 3, 16, 16, generator=g) * 0.6 - 0.8 + bright.view(-1, 1, 1, 1)).clamp(-1, 1)
    return {"image": x, "cond": bright[:, None]}


def _train(fam: CVAEFamily, out, steps: int) -> None:
    """A few Trainer steps on 16 in-memory images, saved as a run folder at ``out``."""
    config = TrainConfig(out=out, steps=steps, batch_size=8, sample_every=0, ckpt_every=0, progress=False)
    Trainer(fam, BatchDataset(_batch(16), ["Bright"]), config).run()


def test_the_fool_term_trains_the_encoder_only_after_its_warm_up():
    fam = _tiny(1.0, warmup=4)
    assert fam.latent_adv_ramp() == 0.0  # the first step of a run: off
    batch = _batch(8)
    z = fam.encode(batch["image"], batch["cond"]).latent
    fam._extra_loss(z, batch).loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in fam.encoder.parameters())  # weight 0: no push yet
    fam.encoder.zero_grad(set_to_none=True)
    fam.num_steps += 2
    assert fam.latent_adv_ramp() == 0.5
    fam.num_steps += 10
    assert fam.latent_adv_ramp() == 1.0
    z = fam.encode(batch["image"], batch["cond"]).latent
    extra = fam._extra_loss(z, batch)
    total, metrics = extra.loss, extra.metrics
    total.backward()
    assert "latent_fool" in metrics
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fam.encoder.parameters())
    assert all(p.grad is None for p in fam.decoder.parameters())  # no attribute loss here: the decoder is untouched
    assert all(p.grad is None for p in fam.latent_discriminator.parameters())  # it learns in its own step


def _probe_accuracy(fam: CVAEFamily, batch: dict[str, torch.Tensor]) -> float:
    """A fresh linear probe's held-out accuracy at reading "Bright" off the posterior means."""
    with torch.no_grad():
        fam.eval()
        z = fam.encode(batch["image"], batch["cond"]).latent
    y = batch["cond"][:, 0]
    half = len(z) // 2
    torch.manual_seed(1)
    probe = torch.nn.Linear(z.shape[1], 1)
    opt = torch.optim.Adam(probe.parameters(), lr=0.05)
    mean, std = z[:half].mean(0), z[:half].std(0) + 1e-6
    zn = (z - mean) / std
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(probe(zn[:half])[:, 0], y[:half]).backward()
        opt.step()
    return ((probe(zn[half:])[:, 0] > 0).float() == y[half:]).float().mean().item()


def test_the_latent_adversary_keeps_the_attribute_out_of_the_latent():
    """Same data, same seed, 300 steps: without the adversary a linear probe reads "Bright" off the
    latent; with it the probe does little better than chance. (The adversary must keep up with the
    encoder: at this toy scale that takes a high learning rate; with 2e-4 the probe still read 1.0.)"""
    accuracy = {}
    for weight in (0.0, 1.0):
        fam = _tiny(weight, warmup=20, lr=1e-2)
        opt = fam.configure_optimizers()
        for step in range(300):
            out = fam.training_step(_batch(64, seed=step), opt)
        accuracy[weight] = _probe_accuracy(fam, _batch(400, seed=10_000))
        if weight:
            assert {"latent_fool", "loss_ld", "latent_acc"} <= set(out.losses)
    assert accuracy[0.0] > 0.9, accuracy
    assert accuracy[1.0] < 0.75, accuracy


def test_the_latent_discriminator_is_not_shipped(tmp_path, monkeypatch):
    import pipelines.export_weights as export
    from generative.training.checkpoint import load_family

    fam = _tiny(1.0)
    _train(fam, tmp_path / "run", steps=2)
    assert hasattr(load_family(tmp_path / "run"), "latent_discriminator")
    monkeypatch.setattr(export, "WEIGHTS_DIR", tmp_path / "weights")
    shipped = load_family(export.export_weights(tmp_path / "run", "cvae"))
    assert not hasattr(shipped, "latent_discriminator") and shipped.config.latent_adv_weight == 0
    assert not any(k.startswith("latent_discriminator.") for k in shipped.state_dict())
    x = _batch(4)
    assert torch.allclose(
        shipped.reconstruct(x["image"], x["cond"]), fam.reconstruct(x["image"], x["cond"]), atol=2e-2
    )  # fp16


def test_the_attribute_loss_does_not_train_the_encoder():
    """_extra_loss gets the latent with its gradient (for the adversary); the attribute loss must
    still train only the decoder."""
    torch.manual_seed(0)
    fam = CVAEFamily(
        CVAEConfig(
            image_size=16, channels=(8, 16), res_blocks=(0, 1), latent_dim=8, cond_names=["Bright"], attr_weight=1.0
        )
    )
    _stand_in_judge(fam)
    batch = _batch(8)
    z = fam.encode(batch["image"], batch["cond"]).latent
    extra = fam._extra_loss(z, batch)
    total, metrics = extra.loss, extra.metrics
    total.backward()
    assert "attr" in metrics
    assert all(p.grad is None for p in fam.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fam.decoder.parameters())


def test_the_warm_up_survives_a_resume(tmp_path):
    from generative.training.checkpoint import load_family

    fam = _tiny(1.0, warmup=10)
    _train(fam, tmp_path / "run", steps=4)
    again = load_family(tmp_path / "run")
    assert int(again.latent_discriminator.start_step) == 0 and int(again.num_steps) == 4
    assert again.latent_adv_ramp() == 0.4  # not back to 0


def test_the_adversaries_inputs_are_returned_not_kept_on_the_model():
    """``_extra_loss`` hands the adversaries' step inputs back (detached, float32) with its loss; the
    training step passes them on, so no step state is left on the instance."""
    torch.manual_seed(0)
    config = CVAEConfig(
        image_size=16,
        channels=(8, 16),
        res_blocks=(0, 1),
        latent_dim=8,
        cond_names=["Bright"],
        attr_weight=1.0,
        adv_weight=0.5,
        disc_channels=(8, 16),
        latent_adv_weight=1.0,
        latent_disc_hidden=16,
    )
    fam = CVAEFamily(config)
    _stand_in_judge(fam)
    batch = _batch(8)
    z = fam.encode(batch["image"], batch["cond"]).latent
    extra = fam._extra_loss(z, batch)
    latents, images = extra.latent_adversary, extra.image_adversary
    assert latents.z.shape == (8, 8) and not latents.z.requires_grad and torch.equal(latents.cond, batch["cond"])
    assert images.fake.shape == images.real.shape == (8, 3, 16, 16) and not images.fake.requires_grad
    assert images.target.shape == (8, 1) and torch.equal(images.real, batch["image"])
    assert {"latent_fool", "attr", "adv"} <= set(extra.metrics)
    before = set(vars(fam))
    out = fam.training_step(batch, fam.configure_optimizers())
    assert {"loss_d", "loss_ld", "latent_acc"} <= set(out.losses)
    assert set(vars(fam)) == before
    plain = _tiny(0.0)
    none = plain._extra_loss(plain.encode(batch["image"], batch["cond"]).latent, batch)
    assert none.latent_adversary is None and none.image_adversary is None and float(none.loss) == 0.0
