"""--start / --end: only a stretch of the clip is edited (the rest passes through untouched, the
edit fades in and out), and --mask-blur / --mask-padding change the blend's mask."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.api import edit_file
from stitchtime.config import EditSpan, MaskConfig, PipelineConfig
from stitchtime.errors import InputError
from stitchtime.io import encode as encode_module
from stitchtime.io import probe, read_frames
from stitchtime.render.mask import face_masks
from stitchtime.span import parse_point, span_weights
from tests.conftest import shared_video

runner = CliRunner()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("120", ("frame", 120)),
        ("0", ("frame", 0)),
        ("2s", ("time", 2.0)),
        ("2.5", ("time", 2.5)),
        ("2.5s", ("time", 2.5)),
        ("00:00:02", ("time", 2.0)),
        ("1:02.5", ("time", 62.5)),
        ("01:00:00", ("time", 3600.0)),
    ],
)
def test_points(text, expected):
    assert parse_point(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "abc", "1:2:3:4", "00:61", "2m", "nan", "inf", "1e9"])
def test_bad_points(text):
    with pytest.raises(ValueError):
        parse_point(text)


def _meta(n=100, fps=25.0):
    from pathlib import Path

    from stitchtime.types import VideoMeta

    return VideoMeta(Path("x.mp4"), 64, 64, n, fps, tuple(i / fps for i in range(n)), n / fps)


def test_weights_fade_inside_the_stretch():
    w = span_weights(EditSpan("1s", "2s", fade=0.2), _meta())  # frames 25..49, 5-frame ramps
    assert (w[:25] == 0).all() and (w[50:] == 0).all()
    assert 0 < w[25] < w[26] < w[27] < w[28] < w[29] < 1 and (w[30:45] == 1).all()
    assert 0 < w[49] < w[48] < 1
    np.testing.assert_allclose(w[25:30], w[49:44:-1])  # the same ramp in and out
    hard = span_weights(EditSpan("25", "50", fade=0), _meta())
    assert (hard[25:50] == 1).all() and hard.sum() == 25
    # no fade at the clip's own ends; None: the whole clip
    assert span_weights(EditSpan(None, "10"), _meta())[0] == 1
    assert span_weights(EditSpan(), _meta()) is None


@pytest.mark.parametrize(
    "span, message",
    [
        (EditSpan("5s"), "ends before it"),
        (EditSpan("150"), "ends before it"),
        (EditSpan("50", "50"), "empty stretch"),
        (EditSpan("2s", "1s"), "empty stretch"),
        (EditSpan("x"), "--start"),
        (EditSpan(None, "x"), "--end"),
    ],
)
def test_bad_stretches(span, message):
    with pytest.raises(InputError, match=message):
        span_weights(span, _meta())


def test_cli_refuses_a_bad_point_in_one_line(tmp_path):
    clip = shared_video("retalking_face_3.mp4")
    out = tmp_path / "o.mp4"
    for args in (["--start", "soon"], ["--end", "1:2:3:4"], ["--mask-blur", "2"], ["--mask-padding", "nan"]):
        result = runner.invoke(app, ["edit", str(clip), "--attr", "none", "-o", str(out), "-q", *args])
        assert result.exit_code == 2, result.output
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("stitchtime: error:"), result.output
    result = runner.invoke(app, ["edit", str(clip), "--attr", "none", "-o", str(out), "-q", "--start", "00:00:09"])
    assert result.exit_code == 2 and "ends before it" in result.output
    assert not out.exists()


def test_only_the_stretch_is_edited(tmp_path, monkeypatch):
    """The frames the encoder receives: outside the stretch exactly the decoded input; inside, the
    smile, growing over the fade and full in the middle."""
    clip = shared_video("retalking_face_3.mp4")  # 125 frames at 25 fps
    written: list[np.ndarray] = []
    write = encode_module.VideoWriter.write
    monkeypatch.setattr(encode_module.VideoWriter, "write", lambda self, f: (written.append(f.copy()), write(self, f)))
    pipeline = PipelineConfig(progress=False, span=EditSpan("40", "2.4s", fade=0.2))  # frames 40..59
    result = edit_file(clip, tmp_path / "out.mp4", "smile", pipeline=pipeline)
    assert result.frames == 125 and any("edited frames 40 to 59" in n for n in result.notes)
    _, source = read_frames(clip)
    assert len(written) == 125 and probe(tmp_path / "out.mp4").n_frames == 125
    change = np.array([np.abs(w.astype(int) - s).sum() for w, s in zip(written, source)])
    assert (change[:40] == 0).all() and (change[60:] == 0).all(), np.flatnonzero(change[:40]).tolist()
    assert (change[40:60] > 0).all()
    assert change[40] < change[42] < change[44] < change[50]  # fading in (a moving face adds noise)
    assert change[59] < change[57] < change[50]


def test_mask_blur_and_padding():
    from skimage import data

    from stitchtime.faces.detect import make_backend

    backend = make_backend()
    image = data.astronaut()
    face = backend.detect(image)[0]
    # landmarks in a 256 crop around the face (a plain scale is enough for the mask)
    x0, y0, x1, y1 = face.box
    s = 256 / (2.2 * (x1 - x0))
    lm = (face.landmarks - [(x0 + x1) / 2, (y0 + y1) / 2]) * s + 128
    base = face_masks(lm[None], 256, MaskConfig())[0, 0].numpy()
    grown = face_masks(lm[None], 256, MaskConfig(padding=0.1))[0, 0].numpy()
    shrunk = face_masks(lm[None], 256, MaskConfig(padding=-0.1))[0, 0].numpy()
    assert (grown > 0.5).sum() > 1.15 * (base > 0.5).sum() > 1.3 * (shrunk > 0.5).sum()
    soft = face_masks(lm[None], 256, MaskConfig(blur=1.0))[0, 0].numpy()
    hard = face_masks(lm[None], 256, MaskConfig(blur=0.0))[0, 0].numpy()
    edge = lambda m: ((m > 0.05) & (m < 0.95)).sum()
    assert edge(hard) < 0.3 * edge(base) < 0.3 * edge(soft)
    # unset: exactly the old mask
    np.testing.assert_array_equal(face_masks(lm[None], 256, MaskConfig(blur=None, padding=0.0))[0, 0].numpy(), base)
