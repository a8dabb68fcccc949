"""`stitchtime batch`: mirrors the tree, survives bad files, resumes after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.synth import make_astronaut_clip
from stitchtime.io import probe

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def folder(tmp_path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i, rel in enumerate(["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4"]):
        make_astronaut_clip(src / rel, seconds=1.0 + 0.2 * i, fps=25, size=(192, 192), audio=i % 2 == 0)
    return src


def _complete(src: Path, out: Path) -> bool:
    return out.exists() and probe(out).n_frames == probe(src).n_frames


def test_batch_mirrors_the_tree_and_reports_a_bad_file(folder, tmp_path):
    (folder / "broken.mp4").write_text("not a video")
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(folder), str(out), "--attr", "none", "-q"])
    assert result.exit_code == 1  # one failure
    for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4"]:
        assert _complete(folder / rel, out / rel)
    report = {Path(r["file"]).name: r for r in json.loads((out / "report.json").read_text())}
    assert report["broken.mp4"]["status"] == "failed" and "not a video" in report["broken.mp4"]["error"]
    assert report["a.mp4"]["status"] == "done"
    # rerun: finished files are skipped, the failure stays failed until --retry-failed
    again = runner.invoke(app, ["batch", str(folder), str(out), "--attr", "none", "-q"])
    statuses = {Path(r["file"]).name: r["status"] for r in json.loads((out / "report.json").read_text())}
    assert statuses == {
        "a.mp4": "skipped",
        "b.mp4": "skipped",
        "c.mp4": "skipped",
        "d.mp4": "skipped",
        "broken.mp4": "failed",
    }
    assert "--retry-failed" in again.stdout


def test_kill_minus_nine_then_resume(folder, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli", "batch", str(folder), str(out), "--attr", "none", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # wait until the first file is finished and a later one is being written, then kill -9
    deadline = time.time() + 120
    while time.time() < deadline:
        states = list((out / ".stitchtime").rglob("*.json")) if (out / ".stitchtime").exists() else []
        done = [s for s in states if json.loads(s.read_text() or "{}").get("status") == "done"]
        if done and len(states) > len(done):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4") if not p.name.startswith(".")}
    assert finished, "nothing finished before the kill"
    for p in finished:  # whatever is visible under its final name is complete
        assert _complete(folder / p.relative_to(out), p)

    result = runner.invoke(app, ["batch", str(folder), str(out), "--attr", "none", "-q"])
    assert result.exit_code == 0, result.stdout + result.stderr
    for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4"]:
        assert _complete(folder / rel, out / rel)
    for p, mtime in finished.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was redone"
    assert not [p for p in out.rglob("*") if ".partial" in p.name], "a half-written file was left behind"


def test_output_inside_input_is_refused(folder):
    result = runner.invoke(app, ["batch", str(folder), str(folder / "edited"), "--attr", "none"])
    assert result.exit_code != 0 and "inside the input" in result.stderr


def test_two_runs_on_one_folder_edit_each_file_once(folder, tmp_path):
    """Two batch processes started together on the same output folder (what two machines on shared
    storage do): every file is edited by exactly one of them, neither reports a failure, and a
    rerun finds everything done."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli", "batch", str(folder), str(out), "--attr", "none", "-q"]
    runs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    rels = ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4"]
    done_by = {}
    for stdout, _ in outputs:
        for line in stdout.splitlines():
            name, status = line.split()[:2] if len(line.split()) > 1 else (line, "")
            if name in rels and status == "done":
                assert name not in done_by, f"{name} was edited twice"
                done_by[name] = True
            assert status != "failed", stdout
    assert sorted(done_by) == sorted(rels)
    for rel in rels:
        assert _complete(folder / rel, out / rel)
    assert not list((out / ".stitchtime").rglob("*.claim")), "a claim was left behind"
    again = runner.invoke(app, ["batch", str(folder), str(out), "--attr", "none", "-q"])
    assert again.exit_code == 0 and again.stdout.count("skipped") == len(rels)


def test_a_dead_runs_claim_is_taken_over(folder, tmp_path):
    from stitchtime.io.claims import try_claim

    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim = out / ".stitchtime" / "a.mp4.claim"
    claim.parent.mkdir(parents=True)
    from stitchtime.io.paths import HOST

    claim.write_text(json.dumps({"pid": dead.pid, "host": HOST}))
    result = runner.invoke(app, ["batch", str(folder), str(out), "--attr", "none", "-q"])
    assert result.exit_code == 0 and _complete(folder / "a.mp4", out / "a.mp4"), result.stdout
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        claim.write_text(json.dumps({"pid": live.pid, "host": HOST}))
        assert try_claim(claim).pid == live.pid  # a live owner keeps it
    finally:
        live.kill()
        live.wait()
