from __future__ import annotations

import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from generative.data import build_dataset
from generative.errors import CheckpointError
from generative.registry import build_family
from generative.training.checkpoint import load_family
from generative.training.ema import EMA
from generative.training.trainer import TrainConfig, Trainer
from tests.conftest import free_port
from tests.generative.helpers import ATTRS, TINY_AE, TINY_GAN

CVAE = {**TINY_AE, "cond_names": ATTRS}


def _train(tmp_dir, name, overrides, data, steps, resume=False, batch_size=4, seed=0, flip=True, sgd=False, **kw):
    torch.manual_seed(seed)
    family = build_family(name, overrides)
    if sgd:  # plain SGD: the update is linear in the gradient (Adam amplifies rounding noise of ~0 gradients)
        family.configure_optimizers = lambda: {
            "ae": torch.optim.SGD(list(family.encoder.parameters()) + list(family.decoder.parameters()), lr=0.5)
        }
    dataset = build_dataset(family.data, data, 16, cond_names=getattr(family.config, "cond_names", None), flip=flip)
    config = TrainConfig(
        out=tmp_dir,
        steps=steps,
        batch_size=batch_size,
        sample_every=0,
        ckpt_every=2,
        log_every=1,
        progress=False,
        resume=resume,
        seed=seed,
        **kw,
    )
    return Trainer(family, dataset, config).run()


def test_train_writes_run_folder_and_load_gives_identical_outputs(tmp_path, synthetic_celeba):
    result = _train(tmp_path / "run", "cvae", CVAE, synthetic_celeba, steps=3)
    run = tmp_path / "run"
    assert result.step == 3 and result.model_path == run / "model.safetensors"
    record = json.loads((run / "config.json").read_text())
    assert record["family"] == "cvae" and record["cond_names"] == ATTRS and record["step"] == 3
    assert (run / "samples" / "step_0000003.png").is_file()
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,time,img_per_s") and len(lines) == 4

    a, b = load_family(run), load_family(run / "model.safetensors")
    assert not a.training
    x, cond = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    assert torch.equal(a.reconstruct(x, cond), b.reconstruct(x, cond))
    # the export holds the EMA weights, which differ from the live ones after training
    live = load_file(run / "checkpoint" / "model.safetensors")
    exported = load_file(run / "model.safetensors")
    assert not torch.equal(live["decoder.out.weight"], exported["decoder.out.weight"])


def test_resume_continues_steps_and_rng_exactly(tmp_path, synthetic_celeba):
    _train(tmp_path / "a", "vae", TINY_AE, synthetic_celeba, steps=6)
    _train(tmp_path / "b", "vae", TINY_AE, synthetic_celeba, steps=3)
    resumed = _train(tmp_path / "b", "vae", TINY_AE, synthetic_celeba, steps=6, resume=True)
    assert resumed.step == 6
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wb["num_steps"].item() == 6
    for key in wa:  # VAE noise, flips, data order and Adam state all continued exactly
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-6, msg=key)


def test_existing_run_needs_resume(tmp_path, synthetic_celeba):
    _train(tmp_path / "r", "ae", TINY_AE, synthetic_celeba, steps=2)
    with pytest.raises(CheckpointError, match="--resume"):
        _train(tmp_path / "r", "ae", TINY_AE, synthetic_celeba, steps=4)
    with pytest.raises(CheckpointError, match="different config"):
        _train(tmp_path / "r", "ae", {**TINY_AE, "latent_dim": 4}, synthetic_celeba, steps=4, resume=True)


def test_gan_trains_with_two_optimisers_and_ema(tmp_path, synthetic_celeba):
    result = _train(tmp_path / "g", "cgan", {**TINY_GAN, "cond_names": ATTRS}, synthetic_celeba, steps=2)
    assert {"loss_d", "loss_g"} <= set(result.losses)
    family = load_family(tmp_path / "g")
    assert family.sample(3, torch.tensor([[1.0, float("nan"), 0]] * 3)).shape == (3, 3, 16, 16)


@pytest.fixture
def trained_run(tmp_path, synthetic_celeba):
    _train(tmp_path / "run", "ae", TINY_AE, synthetic_celeba, steps=2)
    return tmp_path / "run"


def test_bad_checkpoints_raise_checkpoint_error(trained_run, tmp_path):
    weights = trained_run / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_family(trained_run)
    weights.write_bytes(b"\x00" * 64)  # garbage
    with pytest.raises(CheckpointError):
        load_family(trained_run)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"name": "something else"}')
    (foreign / "model.safetensors").write_bytes(data)
    with pytest.raises(CheckpointError, match="not a generative model config"):
        load_family(foreign)
    (foreign / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_family(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_family(tmp_path / "missing")


def test_weights_of_another_family_are_rejected(trained_run, tmp_path, synthetic_celeba):
    _train(tmp_path / "v", "vae", {**TINY_AE, "latent_dim": 4}, synthetic_celeba, steps=2)
    (trained_run / "model.safetensors").write_bytes((tmp_path / "v" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not match an? ae model|does not match a ae model"):
        load_family(trained_run)


def test_ema_tracks_and_swaps():
    layer = torch.nn.Linear(2, 2)
    holder = torch.nn.Module()
    holder.layer = layer
    ema = EMA({"layer": layer}, decay=0.5)
    before = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(1.0)
    ema.update(step=10**6)  # decay 0.5: halfway
    torch.testing.assert_close(ema.shadow["layer.weight"], before + 0.5)
    with ema.applied(holder):
        torch.testing.assert_close(layer.weight, before + 0.5)
    torch.testing.assert_close(layer.weight, before + 1.0)


# -- data parallel: two gloo processes == one process with the same global batch ---------------


def _ddp_worker(rank: int, world: int, port: int, out: str, data: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    _train(out, "ae", {**TINY_AE, "ema": False}, data, steps=2, batch_size=8, device="cpu", flip=False, sgd=True)


def test_two_process_gloo_equals_one_process(tmp_path, synthetic_celeba):
    port = free_port()
    mp.start_processes(
        _ddp_worker,
        args=(2, port, str(tmp_path / "ddp"), str(synthetic_celeba)),
        nprocs=2,
        join=True,
        start_method="spawn",
    )
    _train(
        tmp_path / "single",
        "ae",
        {**TINY_AE, "ema": False},
        synthetic_celeba,
        steps=2,
        batch_size=8,
        device="cpu",
        flip=False,
        sgd=True,
    )
    ddp, single = (
        load_file(tmp_path / "ddp" / "model.safetensors"),
        load_file(tmp_path / "single" / "model.safetensors"),
    )
    params = [k for k in single if "latent_" not in k]  # running latent statistics are per process
    start = build_family("ae", {**TINY_AE, "ema": False}) if torch.manual_seed(0) else None
    moved = [k for k in params if not torch.allclose(start.state_dict()[k], single[k])]
    assert len(moved) > len(params) // 2  # the steps changed the weights
    for key in params:
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-5, atol=1e-6, msg=key)
