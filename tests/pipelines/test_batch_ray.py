"""`batch --engine ray` with a real Ray: a local Ray started for the run, and a two-node cluster on
loopback (`ray start --head` + a second `ray start --address`, stopped at the end; ~20 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, shared_video
from tests.pipelines.test_batch import _complete, folder  # noqa: F401 (the folder fixture)

pytest.importorskip("ray", reason="ray is not installed (pip install 'stitchtime[ray]')")


def _batch(folder: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "batch",
        str(folder),
        str(out),
        "--attr",
        "none",
        "-q",
        "--engine",
        "ray",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def _statuses(out: Path) -> dict[str, str]:
    report = json.loads((out / "report.json").read_text())
    return {Path(r["file"]).name: r["status"] for r in report}


def test_a_local_ray_run_edits_every_file_and_reports_the_broken_one(folder, tmp_path):
    shutil.copy(shared_video("retalking_face_3.mp4"), folder / "real.mp4")
    (folder / "broken.mp4").write_text("not a video")
    out = tmp_path / "out"
    run = _batch(folder, out)
    assert run.returncode == 1, run.stdout + run.stderr  # (one file failed)
    status = _statuses(out)
    assert status.pop("broken.mp4") == "failed" and set(status.values()) == {"done"}, status
    for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4", "real.mp4"]:
        assert _complete(folder / rel, out / rel)
    again = _batch(folder, out)  # a rerun does nothing again
    assert set(_statuses(out).values()) == {"skipped", "failed"}, again.stdout


def test_a_two_node_cluster_on_loopback_edits_every_file_once(folder, tmp_path):
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    # a throwaway cluster on loopback: no token (Ray's token auth would need one shared by the nodes)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1"]
    try:
        subprocess.run([*head, "--include-dashboard=false"], check=True, capture_output=True, timeout=120, env=env)
        subprocess.run(
            [ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"],
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
        )
        out = tmp_path / "out"
        run = _batch(folder, out, "--address", f"127.0.0.1:{port}", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert set(_statuses(out).values()) == {"done"}
        for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4"]:
            assert _complete(folder / rel, out / rel)
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)


def _ray_task_workers(names: tuple[str, ...] = ("ray::_edit_one",)) -> list[int]:
    """Pids of Ray processes whose command line holds one of ``names`` (default: our per-file task)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if any(n in cmd for n in names):
                pids.append(int(d.name))
    return pids


def test_a_worker_killed_mid_task_is_retried_and_the_file_finished(folder, tmp_path):
    import signal
    import time

    shutil.copy(shared_video("retalking_face_3.mp4"), folder / "real.mp4")  # long enough to be caught at work
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli", "batch", str(folder), str(out), "--attr", "smile", "-q", "--engine", "ray"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and killed is None:
        workers = _ray_task_workers()
        if workers:
            time.sleep(1.0)  # let it start editing
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
        time.sleep(0.1)
    stdout, stderr = proc.communicate(timeout=600)
    assert killed is not None, "no task worker was seen"
    assert proc.returncode == 0, stdout + stderr
    assert set(_statuses(out).values()) == {"done"}
    for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4", "real.mp4"]:
        assert _complete(folder / rel, out / rel)
    assert not list((out / ".stitchtime").rglob("*.claim"))


def test_kill_minus_nine_of_the_driver_then_a_rerun_redoes_nothing_finished(folder, tmp_path):
    import signal
    import time

    for i in range(2):
        shutil.copy(shared_video("retalking_face_3.mp4"), folder / f"real{i}.mp4")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cli", "batch", str(folder), str(out), "--attr", "none", "-q", "--engine", "ray"]
    leftovers = ("ray::_edit_one", "ray::DashboardAgent", "ray::RuntimeEnvAgent")
    before = set(_ray_task_workers(leftovers))
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        states = list((out / ".stitchtime").rglob("*.json")) if (out / ".stitchtime").exists() else []
        if any(json.loads(s.read_text() or "{}").get("status") == "done" for s in states):
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4") if not p.name.startswith(".")}
    assert finished, "nothing finished before the kill"
    run = _batch(folder, out)
    assert run.returncode == 0, run.stdout + run.stderr
    for p, mtime in finished.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was redone"
    for rel in ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.mp4", "real0.mp4", "real1.mp4"]:
        assert _complete(folder / rel, out / rel)
    # Ray's own agents of the killed driver's local Ray outlive it (README: `ray stop` ends them)
    for pid in set(_ray_task_workers(leftovers)) - before:
        os.kill(pid, signal.SIGKILL)
