"""A model folder whose config.json asks for absurd, negative or ill-typed sizes is refused with
one line before anything is allocated (the network is first built on the meta device and its
shapes compared with the safetensors header)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from generative.errors import CheckpointError
from generative.training.checkpoint import load_family
from stitchtime.editors.models import WEIGHTS_DIR


@pytest.mark.parametrize(
    "field,value",
    [("channels", [1_000_000_000, 2, 2, 2]), ("channels", [-4, 8, 8, 8]), ("channels", "abc"), ("latent_dim", None)],
)
def test_a_hostile_config_is_refused_before_allocating(tmp_path, field, value):
    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "cvae", run)
    record = json.loads((run / "config.json").read_text())
    record["config"][field] = value
    (run / "config.json").write_text(json.dumps(record))
    t = time.perf_counter()
    with pytest.raises(CheckpointError) as err:
        load_family(run)
    assert time.perf_counter() - t < 10 and len(str(err.value).splitlines()) == 1
    assert "config" in str(err.value) or "shape" in str(err.value)
