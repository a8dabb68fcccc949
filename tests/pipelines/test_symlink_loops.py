"""Symbolic link loops: an input that is one (``ln -s a b; ln -s b a``), an output path through
one, and a batch input folder holding loops or a folder cycle (``ln -s .. loop``). Each is one
``stitchtime: error:`` line before any work (batch: the entries are skipped, with a note in its
report), never a traceback (Python 3.11's ``Path.resolve`` raises RuntimeError on a loop) and
never an endless walk."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.batch import scan_videos
from pipelines.synth import make_astronaut_clip
from stitchtime.errors import InputError
from stitchtime.io import probe
from stitchtime.io.paths import check_output_dir, check_output_path, loop_in, same_file

runner = CliRunner()
LOOP = "symbolic link loop"


def _loop(a: Path, b: Path) -> Path:
    """``a -> b -> a``; returns ``a``."""
    a.symlink_to(b.name)
    b.symlink_to(a.name)
    return a


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=0.4, fps=25, size=(192, 192))


@pytest.fixture
def loops(tmp_path) -> dict[str, Path]:
    """A loop with a video name, one with a PNG name, one without a suffix, a folder loop."""
    return {
        "video": _loop(tmp_path / "l1.mp4", tmp_path / "l2.mp4"),
        "png": _loop(tmp_path / "p1.png", tmp_path / "p2.png"),
        "bare": _loop(tmp_path / "a", tmp_path / "b"),
        "dir": _loop(tmp_path / "d1", tmp_path / "d2"),
    }


def _one_line(result, needle: str = LOOP) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stitchtime: error:") and needle in lines[0], result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def _no_outputs(folder: Path) -> None:
    assert not (folder / "out.mp4").exists()
    assert not [p for p in folder.iterdir() if ".partial" in p.name]


# --- the path helpers ---------------------------------------------------------------------


def test_loop_in_names_the_looping_part(loops, tmp_path):
    assert loop_in(loops["bare"]) == loops["bare"]
    assert loop_in(loops["dir"] / "x" / "out.mp4") == loops["dir"]
    assert loop_in(tmp_path / "missing.mp4") is None and loop_in(tmp_path) is None


def test_helpers_refuse_a_loop_without_a_traceback(loops, clip, tmp_path):
    for path in (loops["video"], loops["dir"] / "o.mp4"):
        with pytest.raises(InputError, match=LOOP):
            check_output_path(path, overwrite=True)
        with pytest.raises(InputError, match=LOOP):
            probe(path)
    with pytest.raises(InputError, match=LOOP):
        check_output_dir(loops["bare"], overwrite=True, inputs=[clip])
    assert same_file(loops["video"], clip) is False  # was RuntimeError("Symlink loop from ...")


# --- commands -----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["input", "input through a folder loop", "output", "output through a folder loop"])
def test_edit(where, loops, clip, tmp_path):
    src, out = clip, tmp_path / "out.mp4"
    if where == "input":
        src = loops["video"]
    elif where == "input through a folder loop":
        src = loops["dir"] / "clip.mp4"
    elif where == "output":
        out = loops["video"]
    else:
        out = loops["dir"] / "out.mp4"
    line = _one_line(runner.invoke(app, ["edit", str(src), "-o", str(out), "--attr", "none", "-q", "--overwrite"]))
    assert ("(" + str(loops["dir"]) + ")" in line) == ("folder loop" in where)  # it names the looping part
    _no_outputs(tmp_path)


def test_edit_preview_beside_a_loop(loops, clip, tmp_path):
    out = loops["dir"] / "out.mp4"
    _one_line(runner.invoke(app, ["edit", str(clip), "-o", str(out), "--attr", "none", "-q", "--preview"]))


@pytest.mark.parametrize(
    "args",
    [
        ["align", "{video}", "-o", "{out}/crops"],
        ["align", "{clip}", "-o", "{bare}", "--overwrite"],
        ["evaluate", "{video}", "{clip}"],
        ["evaluate", "{clip}", "{clip}", "--json", "{bare}"],
        ["batch", "{bare}", "{out}/b", "--attr", "none", "-q"],
        ["batch", "{dirs}", "{bare}", "--attr", "none", "-q"],
        ["train", "ae", "--data", "{dirs}", "--steps", "1", "-o", "{bare}"],
        ["sample", "{bare}", "-o", "{out}/s.png"],
        ["edit", "{clip}", "-o", "{out}/o.mp4", "--attr", "smile", "--model", "{bare}"],
    ],
    ids=[
        "align in",
        "align out",
        "evaluate in",
        "evaluate json",
        "batch in",
        "batch out",
        "train out",
        "sample run",
        "edit model",
    ],
)
def test_other_commands(args, loops, clip, tmp_path):
    (tmp_path / "plain").mkdir()
    names = {"video": loops["video"], "bare": loops["bare"], "clip": clip, "out": tmp_path, "dirs": tmp_path / "plain"}
    argv = [a.format(**names) for a in args]
    result = runner.invoke(app, argv)
    if args[0] == "sample":  # typer checks RUN exists itself: one line, not ours
        assert (
            result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
        )
        return
    _one_line(result)


def test_sample_output_loop(loops, tmp_path):
    from tests.generative.helpers import write_prepared_celeba

    data = write_prepared_celeba(tmp_path / "celeba")
    run = tmp_path / "run"
    tiny = ["--image-size", "16", "--batch-size", "4", "--sample-every", "0", "--ckpt-every", "0", "--steps", "1"]
    tiny += ["--set", "channels=[8,16]", "--set", "res_blocks=[1,1]", "--set", "latent_dim=8"]
    assert runner.invoke(app, ["train", "ae", "--data", str(data), *tiny, "-o", str(run)]).exit_code == 0
    _one_line(runner.invoke(app, ["sample", str(run), "-o", str(loops["png"]), "--overwrite"]))


def test_an_unexpected_loop_error_is_still_one_line():
    """The CLI's last line of defence: an ELOOP / 'Symlink loop from' from any path we did not check."""
    import errno

    import typer

    from commands._common import friendly_errors

    def raises(err):
        @friendly_errors
        def command():
            raise err

        with pytest.raises(typer.Exit) as exit_:
            command()
        return exit_.value.exit_code

    assert raises(RuntimeError("Symlink loop from '/x/a'")) == 2
    assert raises(OSError(errno.ELOOP, "Too many levels of symbolic links", "/x/a")) == 2
    with pytest.raises(RuntimeError, match="other"):
        raises(RuntimeError("other"))


# --- batch walking ------------------------------------------------------------------------


@pytest.fixture
def hostile_tree(tmp_path, clip) -> Path:
    """in/sub/v.mp4 (a real clip), a loop a.mp4 <-> b.mp4, sub/loop -> .. (a folder cycle), a link
    to a folder elsewhere, a broken link, an unreadable folder."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    os.link(clip, root / "sub" / "v.mp4")
    _loop(root / "a.mp4", root / "b.mp4")
    (root / "sub" / "loop").symlink_to("..")
    (root / "deep").mkdir()
    (root / "deep" / "up").symlink_to("../..")  # back above the input folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "linked").symlink_to(elsewhere)
    (root / "gone.mp4").symlink_to(tmp_path / "nothing.mp4")
    return root


def _within(seconds: int):
    def alarm(*_):
        raise TimeoutError(f"the walk did not end within {seconds} s")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)


def test_scan_skips_loops_and_never_follows_folder_links(hostile_tree):
    _within(20)
    try:
        scan = scan_videos(hostile_tree)
        by_pattern = scan_videos(hostile_tree, "*/*/*/*/*/*.mp4")  # a glob part would follow sub/loop
        everything = scan_videos(hostile_tree, "**/*")
    finally:
        signal.alarm(0)
    rel = lambda ps: sorted(str(p.relative_to(hostile_tree)) for p in ps)
    assert rel(scan.videos) == ["sub/v.mp4"]
    why = {str(p.relative_to(hostile_tree)): w for p, w in scan.skipped}
    assert set(why) == {"a.mp4", "b.mp4", "sub/loop", "deep/up", "linked", "gone.mp4"}
    assert LOOP in why["a.mp4"] and "cycle" in why["sub/loop"] and "cycle" in why["deep/up"]
    assert "not followed" in why["linked"] and "broken link" in why["gone.mp4"]
    assert by_pattern.videos == [] and rel(everything.videos) == ["sub/v.mp4"]
    assert "sub/loop" in rel(p for p, _ in by_pattern.skipped)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_scan_notes_an_unreadable_folder(hostile_tree):
    locked = hostile_tree / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert any(p == locked and "cannot be read" in w for p, w in scan_videos(hostile_tree).skipped)
    finally:
        locked.chmod(0o755)


def test_batch_edits_the_real_clip_and_reports_what_it_passed_over(hostile_tree, tmp_path):
    out = tmp_path / "out"
    _within(300)
    try:
        result = runner.invoke(app, ["batch", str(hostile_tree), str(out), "--attr", "none", "-q"])
    finally:
        signal.alarm(0)
    assert result.exit_code == 0, result.output
    report = {str(Path(r["file"]).relative_to(hostile_tree)): r for r in json.loads((out / "report.json").read_text())}
    assert report["sub/v.mp4"]["status"] == "done" and (out / "sub" / "v.mp4").is_file()
    assert report["a.mp4"]["status"] == "skipped" and LOOP in report["a.mp4"]["error"]
    assert report["sub/loop"]["status"] == "skipped" and "cycle" in report["sub/loop"]["error"]
    assert "a.mp4" in result.stdout and LOOP in result.stdout  # the summary lists them
    assert not (out / "sub" / "loop").exists()


def test_batch_of_only_loops_says_what_it_passed_over(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    _loop(root / "a.mp4", root / "b.mp4")
    line = _one_line(runner.invoke(app, ["batch", str(root), str(tmp_path / "out"), "--attr", "none", "-q"]))
    assert "no videos found" in line and "a.mp4" in line
