"""Never lose or replace a user's file (issue 16, data loss): every path a command writes is
checked against the paths it reads (symlinks and hard links included) before any work; --overwrite
replaces a file or a folder stitchtime made, never another folder; temporaries name their process,
so two runs never share one and a cleanup removes only those of dead processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.batch import remove_stale_partials
from stitchtime.errors import InputError
from stitchtime.io import paths
from stitchtime.io.paths import FOLDER_MARK, check_output_path, partial_path
from tests.pipelines.test_roundtrip import astronaut_clip  # noqa: F401 (the clip fixture)

runner = CliRunner()


def _refused(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and needle in lines[0], result.stderr


@pytest.fixture()
def clip_dir(astronaut_clip, tmp_path):
    d = tmp_path / "clip_dir"
    d.mkdir()
    shutil.copy(astronaut_clip, d / "clip.mp4")
    (d / "notes.txt").write_text("mine")
    return d


def test_align_never_deletes_the_folder_holding_its_input(clip_dir):
    _refused(["align", str(clip_dir / "clip.mp4"), "-o", str(clip_dir), "--overwrite", "-q"], "holds an input")
    assert (clip_dir / "clip.mp4").is_file() and (clip_dir / "notes.txt").read_text() == "mine"


def test_align_overwrite_replaces_only_a_folder_stitchtime_made(clip_dir, tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    _refused(
        ["align", str(clip_dir / "clip.mp4"), "-o", str(other), "--overwrite", "-q"], "not a folder stitchtime made"
    )
    assert (other / "keep.txt").read_text() == "keep"
    monkeypatch.chdir(other)  # `-o .`: the current folder is not one stitchtime made either
    _refused(["align", str(clip_dir / "clip.mp4"), "-o", ".", "--overwrite", "-q"], "not a folder stitchtime made")
    assert (other / "keep.txt").read_text() == "keep"
    crops = tmp_path / "crops"
    assert runner.invoke(app, ["align", str(clip_dir / "clip.mp4"), "-o", str(crops), "-q"]).exit_code == 0
    assert (crops / FOLDER_MARK).is_file()
    again = runner.invoke(app, ["align", str(clip_dir / "clip.mp4"), "-o", str(crops), "--overwrite", "-q"])
    assert again.exit_code == 0, again.stderr  # its own output folder: replaced


def test_preview_never_replaces_the_input(clip_dir):
    src = clip_dir / "clip.preview.mp4"
    os.replace(clip_dir / "clip.mp4", src)
    before = src.read_bytes()
    out = clip_dir / "clip.mp4"
    _refused(["edit", str(src), "-o", str(out), "--attr", "none", "--preview", "--overwrite", "-q"], "replace an input")
    assert src.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_that_is_the_input_by_another_name_is_refused(clip_dir, link):
    src = clip_dir / "clip.mp4"
    alias = clip_dir / "alias.mp4"
    (os.symlink if link == "symlink" else os.link)(src, alias)
    before = src.read_bytes()
    _refused(["edit", str(src), "-o", str(alias), "--attr", "none", "--overwrite", "-q"], "input")
    assert src.read_bytes() == before


def test_evaluate_json_never_replaces_a_video(clip_dir):
    src = clip_dir / "clip.mp4"
    before = src.read_bytes()
    _refused(["evaluate", str(src), str(src), "-o", str(src), "--overwrite", "-q"], "replace an input")
    assert src.read_bytes() == before


def test_batch_pattern_cannot_reach_outside_the_input_folder(clip_dir, tmp_path):
    out = tmp_path / "out"
    _refused(["batch", str(clip_dir), str(out), "--attr", "none", "--pattern", "../*/*.mp4", "-q"], "--pattern")
    assert not out.exists() or not any(p.suffix == ".mp4" for p in out.rglob("*"))


def test_temporaries_are_unique_and_name_their_process(tmp_path):
    a, b = partial_path(tmp_path / "o.mp4"), partial_path(tmp_path / "o.mp4")
    assert a != b and ".partial-" in a.name and f"-{os.getpid()}-" in a.name and a.suffix == ".mp4"


def test_an_output_a_live_process_writes_is_refused_and_cleanup_spares_it(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        out = tmp_path / "o.mp4"
        tag = paths._HOST_TAG  # this host's
        mine = tmp_path / f".o.partial-{tag}-{live.pid}-abcd.mp4"
        stale = tmp_path / f".p.partial-{tag}-{dead.pid}-abcd.mp4"
        mine.write_bytes(b"x")
        stale.write_bytes(b"x")
        with pytest.raises(InputError, match=f"pid {live.pid}"):
            check_output_path(out)
        check_output_path(tmp_path / "p.mp4")  # its writer is dead: free
        assert remove_stale_partials(tmp_path) == 1 and mine.exists() and not stale.exists()
    finally:
        live.kill()
        live.wait()


def test_batch_with_an_unknown_attribute_fails_once_up_front(clip_dir, tmp_path):
    out = tmp_path / "out"
    _refused(["batch", str(clip_dir), str(out), "--attr", "wings", "-q"], "unknown attribute")
    assert not (out / "report.json").exists()


def test_files_stitchtime_writes_get_the_users_umask(tmp_path):
    from stitchtime.io.paths import atomic_directory, atomic_write_bytes

    mask = os.umask(0)
    os.umask(mask)
    atomic_write_bytes(tmp_path / "r.json", b"{}")
    with atomic_directory(tmp_path / "crops") as d:
        (d / "x").write_text("x")
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert (tmp_path / "crops").stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's 0700


def test_a_face_index_beyond_the_faces_says_how_many_there_are(clip_dir, tmp_path):
    result = runner.invoke(
        app,
        ["edit", str(clip_dir / "clip.mp4"), "-o", str(tmp_path / "o.mp4"), "--attr", "none"]
        + ["--face-index", "5", "-q"],
    )
    assert result.exit_code != 0 and "--face-index 5" in result.stderr and "at most 1" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["o", "o.txt", "o.webm", "x" * 240 + ".mp4"])
def test_an_output_the_writer_cannot_make_is_refused_before_any_work(clip_dir, tmp_path, name):
    result = runner.invoke(app, ["edit", str(clip_dir / "clip.mp4"), "-o", str(tmp_path / name), "--attr", "none"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and ("container" in lines[0] or "too long" in lines[0]), lines
    assert not list(tmp_path.glob("*.partial*"))


def test_a_device_as_output_is_refused(clip_dir):
    _refused(["edit", str(clip_dir / "clip.mp4"), "-o", "/dev/null", "--attr", "none", "--overwrite"], "/dev/null")


def test_mkv_output_works(clip_dir, tmp_path):
    out = tmp_path / "o.mkv"
    result = runner.invoke(app, ["edit", str(clip_dir / "clip.mp4"), "-o", str(out), "--attr", "none", "-q"])
    assert result.exit_code == 0 and out.stat().st_size > 0, result.stderr
