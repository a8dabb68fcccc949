"""`train --set KEY=VALUE`: values are checked against the config field types before any work, and a
bad one ends in one `stitchtime: error:` line and exit code 2 (no traceback)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from commands.set_values import parse_sets as _parse_sets
from generative.models.ddpm import DDPMConfig
from generative.models.vae import CVAEConfig, VAEConfig
from stitchtime.errors import InputError

runner = CliRunner()
TINY = ["--image-size", "16", "--batch-size", "4", "--sample-every", "0", "--ckpt-every", "0"]


def train(tmp_path, data, *args: str):
    return runner.invoke(
        app, ["train", "vae", "--data", str(data), "--steps", "1", "--out", str(tmp_path / "run"), *TINY, *args]
    )


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stitchtime: error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("channels=5", "--set channels=5: channels expects tuple[int, ...], got int"),
        ("channels=x", "channels expects tuple[int, ...], got str"),
        ('channels=[8,"a"]', "channels expects tuple[int, ...], got [int, str]"),
        ("res_blocks=1.5", "res_blocks expects tuple[int, ...], got float"),
        ("adam_betas=[0.9,0.9,0.9]", "adam_betas expects tuple[float, float], got [float, float, float]"),
        ("latent_dim=2.5", "latent_dim expects int, got float"),
        ("latent_dim=null", "latent_dim expects int, got null"),
        ("lr=fast", "lr expects float, got str"),
        ("beta=true", "beta expects float, got bool"),
        ("ema=1", "ema expects bool, got int"),
        ('channels={"a":1}', "channels expects tuple[int, ...], got object"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_field_and_its_type(tmp_path, synthetic_celeba, setting, message):
    assert message in one_error_line(train(tmp_path, synthetic_celeba, "--set", setting))
    assert not (tmp_path / "run").exists()  # nothing was started


def test_an_unknown_field_or_a_missing_value_names_the_valid_fields(tmp_path, synthetic_celeba):
    line = one_error_line(train(tmp_path, synthetic_celeba, "--set", "channel=[8,16]"))
    assert "unknown field 'channel'" in line and "valid: adam_betas, beta, bf16, channels," in line
    line = one_error_line(train(tmp_path, synthetic_celeba, "--set", "channels"))
    assert "--set channels: expected KEY=VALUE" in line and "latent_dim" in line


def test_set_is_checked_before_data_or_init_weights_are_loaded(tmp_path):
    """An empty data folder or a missing --init run would fail later; the bad --set is reported first."""
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(train(tmp_path, empty, "--set", "channels=5"))
    assert "channels expects tuple[int, ...]" in line
    line = one_error_line(train(tmp_path, empty, "--init", str(tmp_path / "no_such_run"), "--set", "nope=1"))
    assert "unknown field 'nope'" in line
    assert train(tmp_path, empty, "--set", "channels=[8,16]").exit_code != 0  # well-typed: on to the data


def test_good_values_still_train(tmp_path, synthetic_celeba):
    result = train(
        tmp_path,
        synthetic_celeba,
        "--set",
        "channels=[8,16]",
        "--set",
        "res_blocks=[0,1]",
        "--set",
        "latent_dim=8",
        "--set",
        "beta=1",
        "--set",
        "recon=l1",
        "--set",
        "ema=false",
    )
    assert result.exit_code == 0, result.output


def test_parse_sets_converts_to_the_field_types():
    sets = _parse_sets(
        [
            "channels=[8,16]",
            "adam_betas=[0.5,1]",
            "beta=1",
            "recon=l1",
            'perceptual="none"',
            "ema=false",
            "latent_dim=4",
        ],
        VAEConfig,
    )
    assert sets == {
        "channels": (8, 16),
        "adam_betas": (0.5, 1.0),
        "beta": 1.0,
        "recon": "l1",
        "perceptual": "none",
        "ema": False,
        "latent_dim": 4,
    }
    assert isinstance(sets["beta"], float)
    # a str field takes the text as given, also when it reads as JSON of another kind
    assert _parse_sets(["attr_classifier=123", 'cond_names=["Smiling"]'], CVAEConfig) == {
        "attr_classifier": "123",
        "cond_names": ["Smiling"],
    }
    ddpm = _parse_sets(["attention_levels=[]", "sampler=ddpm"], DDPMConfig)
    assert ddpm == {"attention_levels": (), "sampler": "ddpm"}
    with pytest.raises(InputError, match=r"cond_names expects list\[str\], got \[int\]"):
        _parse_sets(["cond_names=[1]"], CVAEConfig)
