"""`stitchtime edit` with real attributes, `attrs`, `evaluate`, and model-file errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.synth import make_astronaut_clip
from stitchtime.editors.contract import CropEditor
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.evaluate import _face_region, evaluate, temporal_identity
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker
from stitchtime.io import probe, read_frames
from tests.conftest import shared_video

runner = CliRunner()
FAST = ["--tune-steps", "10", "-q", "--experimental"]  # (every attribute but the geometry smile)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("clip") / "astronaut.mp4", seconds=1.2, fps=25, size=(288, 288))


def _edit(src: Path, out: Path, *args: str) -> None:
    result = runner.invoke(app, ["edit", str(src), "-o", str(out), *args])
    assert result.exit_code == 0, result.output + result.stderr


def _face_and_background(src: Path, out: Path) -> tuple[float, float, float]:
    """Mean |change| inside the face, PSNR outside the dilated face region, and outside-face max change."""
    _, a = read_frames(src)
    _, b = read_frames(out)
    tracker = FaceTracker(make_backend())
    inside, se, n = [], 0.0, 0
    for fa, fb in zip(a, b):
        obs = tracker.update(fa)
        region = _face_region(obs.landmarks, fa.shape[:2]) if obs is not None else np.zeros(fa.shape[:2], bool)
        d = fa.astype(np.float64) - fb
        if region.any():
            inside.append(np.abs(d[region]).mean())
        se += (d[~region] ** 2).sum()
        n += (~region).sum() * 3
    return float(np.mean(inside)), 10 * np.log10(255**2 / max(se / n, 1e-12)), 0.0


def test_edit_changes_the_face_and_keeps_background_and_audio(clip, tmp_path):
    out = tmp_path / "male.mp4"  # the astronaut already smiles: test an attribute she does not have
    _edit(clip, out, "--attr", "gender", *FAST)
    face_change, bg_psnr, _ = _face_and_background(clip, out)
    print(f"mean face change {face_change:.2f}")
    assert face_change > 2.0, f"the edit is not visible: mean face change {face_change:.2f}"
    assert bg_psnr >= 40, bg_psnr
    m_in, m_out = probe(clip), probe(out)
    assert m_out.n_frames == m_in.n_frames and m_out.has_audio and m_out.audio_codec == m_in.audio_codec


def test_real_clip_edit(tmp_path):
    src = shared_video("retalking_face_3.mp4")
    out = tmp_path / "glasses.mp4"
    _edit(src, out, "--attr", "glasses", *FAST)
    face_change, bg_psnr, _ = _face_and_background(src, out)
    print(f"mean face change {face_change:.2f}, background PSNR {bg_psnr:.1f}")
    assert face_change > 2.0 and bg_psnr >= 40
    m_in, m_out = probe(src), probe(out)
    assert (m_out.n_frames, m_out.width, m_out.height, m_out.has_audio) == (
        m_in.n_frames,
        m_in.width,
        m_in.height,
        True,
    )


def test_strength_zero_is_the_round_trip(clip, tmp_path):
    zero, none = tmp_path / "zero.mp4", tmp_path / "none.mp4"
    _edit(clip, zero, "--attr", "smile", "--strength", "0", *FAST)
    _edit(clip, none, "--attr", "none", "-q")
    _, a = read_frames(zero)
    _, b = read_frames(none)
    assert np.array_equal(a, b)


def test_opposite_strengths_change_the_face_differently(clip, tmp_path):
    plus, minus = tmp_path / "p.mp4", tmp_path / "m.mp4"
    _edit(clip, plus, "--attr", "age", "--strength", "1", *FAST)
    _edit(clip, minus, "--attr", "age", "--strength", "-1", *FAST)
    _, a = read_frames(plus)
    _, b = read_frames(minus)
    assert np.abs(a.astype(float) - b).mean() > 0.2


def test_preview_files(clip, tmp_path):
    out = tmp_path / "e.mp4"
    _edit(clip, out, "--attr", "smile", "--preview", *FAST)
    assert probe(tmp_path / "e.preview.mp4").n_frames == probe(clip).n_frames
    sheet = cv2.imread(str(tmp_path / "e.preview.png"))
    assert sheet is not None and sheet.shape[0] > 300


def test_preview_sheet_shows_the_whole_aligned_crop():
    """Each sheet tile is the pipeline's aligned crop at preview size (not its top-left corner)."""
    from stitchtime.faces.align import crops_from_frames
    from stitchtime.render.preview import PREVIEW_CROP
    from stitchtime.render.preview import preview_sheet as _preview_sheet
    from stitchtime.types import CropPlan

    rng = np.random.default_rng(0)
    frame = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_CUBIC)
    size = 256
    mat = np.array([[[1.6, 0.1, -60.0], [-0.1, 1.6, -40.0]]])  # frame -> 256-px crop
    plan = CropPlan(
        matrices=mat,
        crop_landmarks=np.zeros((1, 68, 2)),
        valid=np.ones(1, bool),
        detected=np.ones(1, bool),
        crop_size=size,
    )
    sheet = _preview_sheet({0: (frame, frame)}, plan)
    want = crops_from_frames([frame], mat, size)[0].permute(1, 2, 0).numpy()
    want = cv2.resize(want, (PREVIEW_CROP, PREVIEW_CROP), interpolation=cv2.INTER_AREA)
    tile = sheet[2 : 2 + PREVIEW_CROP, 2 : 2 + PREVIEW_CROP].astype(float)
    below_label = slice(PREVIEW_CROP // 4, None)  # the label sits in the top-left corner
    assert np.abs(tile[below_label] - want[below_label]).mean() < 6


def test_unknown_attribute_lists_valid_ones(clip, tmp_path):
    result = runner.invoke(app, ["edit", str(clip), "--attr", "wings", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code != 0
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "valid:" in line and "smile" in line and "age" in line
    assert not (tmp_path / "o.mp4").exists()


def test_attrs_lists_at_least_ten_attributes():
    result = runner.invoke(app, ["attrs", "--experimental"])
    assert result.exit_code == 0
    names = [ln.split()[0] for ln in result.stdout.splitlines()]
    assert {"smile", "age", "glasses", "gender", "beard", "none"} <= set(names) and len(names) >= 11


def test_evaluate_video_against_itself_gives_identity_values(clip, tmp_path):
    metrics = evaluate(clip, clip)
    assert metrics.tl_id == 1.0 and metrics.tg_id == 1.0
    assert metrics.identity_distance == 0.0 and metrics.flicker_ratio == 1.0
    assert metrics.background_psnr == float("inf") and metrics.integrity.ok
    result = runner.invoke(app, ["evaluate", str(clip), str(clip), "--json", str(tmp_path / "m.json"), "-q"])
    assert result.exit_code == 0 and "TL-ID" in result.stdout
    assert json.loads((tmp_path / "m.json").read_text())["tl_id"] == 1.0


def test_temporal_identity_sees_a_change_of_person():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=128), rng.normal(size=128)
    src = np.stack([a + 0.01 * rng.normal(size=128) for _ in range(6)])
    edit = src.copy()
    edit[3:] = b  # identity switches halfway
    tl, tg = temporal_identity(src, edit)
    assert tl < 1.0 and tg < tl


# -- model files ----------------------------------------------------------------------------------


def _fails(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], result.stderr


def test_missing_model(clip, tmp_path):
    _fails(
        ["edit", str(clip), "--attr", "smile", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "o.mp4")],
        "not found",
    )


def test_truncated_model(clip, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "cvae", run)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    _fails(["edit", str(clip), "--attr", "smile", "--model", str(run), "-o", str(tmp_path / "o.mp4")], str(run))
    assert not (tmp_path / "o.mp4").exists()


def test_model_of_the_wrong_family(clip, tmp_path):
    _fails(
        [
            "edit",
            str(clip),
            "--attr",
            "smile",
            "--model",
            str(WEIGHTS_DIR / "classifier"),
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        "expected cvae",
    )


def test_foreign_file_as_model(clip, tmp_path):
    bogus = tmp_path / "model.safetensors"
    bogus.write_bytes(b"PK\x03\x04 this is a zip, not weights" * 10)
    _fails(["edit", str(clip), "--attr", "smile", "--model", str(bogus), "-o", str(tmp_path / "o.mp4")], "model")


class _Scramble(CropEditor):
    """Moves the crop's content 40 px sideways inside the face mask (``scale`` x 40 px for a smaller
    edit): a different-looking face."""

    def delta(self, batch, scale=1.0):
        crops = batch.crops
        return crops.roll(round(40 * scale), dims=-1) - crops

    def edited(self, batch):
        return batch.crops + self.delta(batch)


def test_identity_guard_scales_an_edit_that_changes_the_person(clip, tmp_path):
    from dataclasses import replace

    from pipelines.edit_video import edit_video
    from stitchtime.config import PipelineConfig

    config = PipelineConfig(progress=False)
    free = edit_video(clip, tmp_path / "free.mp4", _Scramble(), replace(config, identity_limit=0.0))
    assert not any("identity guard" in n for n in free.notes)
    assert evaluate(clip, free.output).identity_distance > 0.35
    guarded = edit_video(clip, tmp_path / "guarded.mp4", _Scramble(), config)
    note = next(n for n in guarded.notes if "identity guard" in n)
    scale = float(note.split(" at ")[1].split()[0])
    assert 0.0 < scale < 1.0, note
    distance = evaluate(clip, guarded.output).identity_distance
    assert distance <= 0.35, (note, distance)
    print(note, f"-> identity distance {distance:.3f}")
