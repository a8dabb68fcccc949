"""The diffusion editor (DDIM inversion with the shipped conditional DDPM) on real faces."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from stitchtime.editors.diffusion import keyframes
from stitchtime.editors.models import WEIGHTS_DIR, shipped_diffusion
from stitchtime.evaluate import evaluate
from tests.conftest import shared_video
from tests.pipelines.test_edit import _edit, _face_and_background, clip  # noqa: F401 (clip: the astronaut clip fixture)

runner = CliRunner()
QUIET = ["-q", "--experimental"]  # (the diffusion edits are experimental in this release)


def test_keyframes_cover_every_face_frame():
    detected = np.array([0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0], bool)
    keys = keyframes(detected, 3)
    assert keys.tolist() == [1, 4, 9, 10]  # every third seen frame (seen: 1 2 3 4 5 8 9 10), and the last seen one
    assert detected[keys].all()
    assert keyframes(np.zeros(5, bool), 3).size == 0


def test_auto_method_uses_the_shipped_diffusion_model_where_measured_better():
    """(test_edit.py's astronaut tests run these attributes, so they run the diffusion editor.)"""
    assert shipped_diffusion() == WEIGHTS_DIR / "ddpm"
    result = runner.invoke(app, ["attrs", "--experimental"])
    lines = result.stdout.splitlines()[1:]
    methods = {ln.split()[0]: re.search(r"; (\w+)\]", ln).group(1) for ln in lines}
    assert {methods[a] for a in ("age", "gender")} == {"diffusion"}
    assert methods["smile"] == methods["mouth_open"] == "geometry"  # (the geometry editor, test_geometry.py)
    assert methods["glasses"] == "accessory"  # (drawn: test_accessory.py)


def test_fast_edits_with_the_cvae(clip, tmp_path):
    """--fast: the cVAE's attribute input (--method cond) without tuning, for an attribute whose
    default is the diffusion editor."""
    out = tmp_path / "male.mp4"
    _edit(clip, out, "--attr", "gender", "--fast", *QUIET)
    face_change, bg_psnr, _ = _face_and_background(clip, out)
    assert face_change > 2.0 and bg_psnr >= 40
    result = runner.invoke(
        app, ["edit", str(clip), "--attr", "gender", "--fast", "--method", "diffusion", "-o", str(tmp_path / "o.mp4")]
    )
    assert (
        result.exit_code != 0
        and "--fast edits with the cVAE" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "o.mp4").exists()


def test_a_diffusion_model_refuses_cvae_methods(clip, tmp_path):
    result = runner.invoke(
        app,
        [
            "edit",
            str(clip),
            "--attr",
            "age",
            "--model",
            str(WEIGHTS_DIR / "ddpm"),
            "--method",
            "cond",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
    )
    assert result.exit_code != 0 and "needs a cVAE" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow  # (44 s: the experimental diffusion editor on a whole clip; the astronaut tests run it)
def test_real_clip_with_the_model_given_by_path(tmp_path):
    """A DDPM run folder given with --model edits a real clip; the result keeps the background,
    the identity and the temporal behaviour within the issue's targets."""
    src = shared_video("retalking_face_3.mp4")
    out = tmp_path / "older.mp4"
    _edit(src, out, "--attr", "age", "--model", str(WEIGHTS_DIR / "ddpm"), *QUIET)
    face_change, bg_psnr, _ = _face_and_background(src, out)
    m = evaluate(src, out)
    print(
        f"face change {face_change:.2f}, bg {bg_psnr:.1f}, id {m.identity_distance:.3f}, "
        f"flicker {m.flicker_ratio:.3f}, TL {m.tl_id:.4f}"
    )
    assert face_change > 1.0 and bg_psnr >= 40
    assert m.identity_distance <= 0.35 and m.flicker_ratio <= 1.15 and m.tl_id >= 0.99
