from __future__ import annotations

import json

import cv2
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
TINY = ["--image-size", "16", "--batch-size", "4", "--sample-every", "0", "--ckpt-every", "0"]


def test_train_then_sample_conditional(tmp_path, synthetic_celeba):
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "CVAE",
            "--data",
            str(synthetic_celeba),
            "--steps",
            "2",
            "--out",
            str(run),
            "--attrs",
            "smile,Male",
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((run / "config.json").read_text())
    assert record["family"] == "cvae" and record["cond_names"] == ["Smiling", "Male"]

    grid = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", str(run), "-n", "4", "-o", str(grid), "--attr", "smile=1"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(grid)).shape[:2] == (2 * 16 + 3 * 2, 2 * 16 + 3 * 2)

    again = runner.invoke(app, ["sample", str(run), "-n", "4", "-o", str(grid)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    bad = runner.invoke(app, ["sample", str(run), "-n", "4", "-o", str(tmp_path / "x.png"), "--attr", "Bald=1"])
    assert bad.exit_code != 0 and "valid: Smiling, Male" in bad.output


def test_train_resume_and_errors(tmp_path, synthetic_celeba):
    run = tmp_path / "run"
    args = ["train", "ae", "--data", str(synthetic_celeba), "--out", str(run), *TINY]
    assert runner.invoke(app, [*args, "--steps", "1"]).exit_code == 0
    refused = runner.invoke(app, [*args, "--steps", "2"])
    assert refused.exit_code != 0 and "--resume" in refused.output
    resumed = runner.invoke(app, [*args, "--steps", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "config.json").read_text())["step"] == 2

    (run / "model.safetensors").write_bytes(b"garbage")
    broken = runner.invoke(app, ["sample", str(run), "-o", str(tmp_path / "g.png")])
    assert broken.exit_code == 5 and "safetensors" in broken.output
    unknown = runner.invoke(
        app, ["train", "nope", "--data", str(synthetic_celeba), "--steps", "1", "--out", str(tmp_path / "n")]
    )
    assert unknown.exit_code != 0
    not_cond = runner.invoke(
        app,
        [
            "train",
            "vae",
            "--data",
            str(synthetic_celeba),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "v"),
            "--attrs",
            "Smiling",
        ],
    )
    assert not_cond.exit_code == 2 and "not one" in not_cond.output


def test_init_fine_tunes_from_a_run_with_the_attribute_loss(tmp_path, synthetic_celeba):
    """`--init` starts from a finished run's weights (same family); the cVAE's attribute loss asks
    a frozen classifier run to see flipped attributes in the decodes."""
    import torch

    from generative.training.checkpoint import load_family

    base, clf, tuned = tmp_path / "base", tmp_path / "clf", tmp_path / "tuned"
    data = ["--data", str(synthetic_celeba), "--attrs", "Smiling,Male", *TINY]
    assert runner.invoke(app, ["train", "cvae", *data, "--steps", "2", "--out", str(base)]).exit_code == 0
    assert runner.invoke(app, ["train", "classifier", *data, "--steps", "2", "--out", str(clf)]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "train",
            "cvae",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--out",
            str(tuned),
            "--init",
            str(base),
            "--lr",
            "0",
            "--set",
            "attr_weight=0.5",
            "--set",
            f"attr_classifier={clf}",
        ],
    )
    assert result.exit_code == 0, result.output
    header = (tuned / "metrics.csv").read_text().splitlines()[0]
    assert "attr" in header and "flip_hit" in header
    a, b = load_family(base), load_family(tuned)
    assert b.config.attr_weight == 0.5 and list(b.config.cond_names) == ["Smiling", "Male"]
    for (name, pa), pb in zip(a.decoder.state_dict().items(), b.decoder.state_dict().values()):
        assert torch.equal(pa, pb), name  # lr 0: the weights are the initial ones
    wrong = runner.invoke(
        app,
        [
            "train",
            "vae",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--out",
            str(tmp_path / "w"),
            "--init",
            str(base),
        ],
    )
    assert wrong.exit_code != 0 and "cvae" in wrong.output


def test_adversarial_fine_tune_trains_a_discriminator_that_is_not_shipped(tmp_path, synthetic_celeba, monkeypatch):
    """AttGAN's adversarial term: `--init` adds a fresh discriminator to a run that had none; it
    trains on the flipped-attribute decodes; the exported editor weights leave it out."""
    import torch

    import pipelines.export_weights as export
    from generative.training.checkpoint import load_family

    base, clf, tuned = tmp_path / "base", tmp_path / "clf", tmp_path / "tuned"
    data = ["--data", str(synthetic_celeba), "--attrs", "Smiling,Male", *TINY]
    assert runner.invoke(app, ["train", "cvae", *data, "--steps", "1", "--out", str(base)]).exit_code == 0
    assert runner.invoke(app, ["train", "classifier", *data, "--steps", "1", "--out", str(clf)]).exit_code == 0
    sets = [
        "--set",
        "attr_weight=0.3",
        "--set",
        f"attr_classifier={clf}",
        "--set",
        "adv_weight=0.1",
        "--set",
        "disc_channels=[8,16]",
        "--set",
        'adv_real="reconstruction"',
    ]
    tune = ["train", "cvae", "--data", str(synthetic_celeba), *TINY, "--steps", "2", "--init", str(base), *sets]
    result = runner.invoke(app, [*tune, "--out", str(tuned)])
    assert result.exit_code == 0, result.output
    header = (tuned / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"adv", "loss_d", "d_real", "d_fake"} <= set(header)
    # the same run (same seed, so the same fresh discriminator) with the discriminator's lr at 0
    frozen = tmp_path / "frozen"
    assert runner.invoke(app, [*tune, "--out", str(frozen), "--set", "disc_lr=0"]).exit_code == 0
    weights = lambda run: {
        k: v for k, v in load_family(run).discriminator.state_dict().items() if k.endswith(".original") or "logit" in k
    }
    trained, still = weights(tuned), weights(frozen)
    assert trained.keys() == still.keys() and trained
    assert any(not torch.equal(trained[k], still[k]) for k in trained)  # the discriminator learned

    monkeypatch.setattr(export, "WEIGHTS_DIR", tmp_path / "weights")
    shipped = load_family(export.export_weights(tuned, "cvae"))
    assert not hasattr(shipped, "discriminator") and shipped.config.adv_weight == 0
    assert not any(k.startswith("discriminator.") for k in shipped.state_dict())
    plain = runner.invoke(
        app,
        [
            "train",
            "cvae",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--out",
            str(tmp_path / "p"),
            "--init",
            str(tuned),
            "--set",
            "adv_weight=0",
        ],
    )
    assert plain.exit_code == 0, plain.output  # on from an adversarial run without its discriminator
    bad = runner.invoke(
        app,
        [
            "train",
            "cvae",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--out",
            str(tmp_path / "x"),
            "--init",
            str(base),
            "--set",
            "adv_weight=0.1",
        ],
    )
    assert bad.exit_code != 0 and "attr_weight" in bad.output


def test_init_with_more_attributes_widens_a_ddpm(tmp_path, synthetic_celeba):
    """A DDPM fine-tuned to more attributes keeps what it knew (`--init` with other `--attrs`);
    families that cannot remap their condition refuse."""
    import torch

    from generative.training.checkpoint import load_family

    base, wide = tmp_path / "base", tmp_path / "wide"
    ddpm = [
        "--set",
        "base_channels=8",
        "--set",
        "channel_mults=[1,2]",
        "--set",
        "num_groups=4",
        "--set",
        "attention_levels=[]",
        "--set",
        "attention_head_dim=8",
    ]
    first = runner.invoke(
        app,
        [
            "train",
            "ddpm",
            "--data",
            str(synthetic_celeba),
            "--attrs",
            "Smiling",
            *TINY,
            *ddpm,
            "--steps",
            "2",
            "--out",
            str(base),
        ],
    )
    assert first.exit_code == 0, first.output
    result = runner.invoke(
        app,
        [
            "train",
            "ddpm",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--lr",
            "0",
            "--out",
            str(wide),
            "--init",
            str(base),
            "--attrs",
            "male,smile",
        ],
    )
    assert result.exit_code == 0, result.output
    a, b = load_family(base), load_family(wide)
    assert list(b.config.cond_names) == ["Male", "Smiling"]
    wa, wb = a.unet.cond_proj.weight, b.unet.cond_proj.weight
    assert torch.equal(wb[:, 1], wa[:, 0]) and not wb[:, 0].any()
    cvae = tmp_path / "cvae"
    assert (
        runner.invoke(
            app,
            [
                "train",
                "cvae",
                "--data",
                str(synthetic_celeba),
                "--attrs",
                "Smiling",
                *TINY,
                "--steps",
                "1",
                "--out",
                str(cvae),
            ],
        ).exit_code
        == 0
    )
    refused = runner.invoke(
        app,
        [
            "train",
            "cvae",
            "--data",
            str(synthetic_celeba),
            *TINY,
            "--steps",
            "1",
            "--out",
            str(tmp_path / "c2"),
            "--init",
            str(cvae),
            "--attrs",
            "Male",
        ],
    )
    assert refused.exit_code != 0 and "cannot change its attributes" in refused.output
