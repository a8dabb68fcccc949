"""Never hang, never leave a process behind (issue 16): SIGTERM cleans up like Ctrl-C (one line,
exit 143, no temporary file), `kill -9` of stitchtime takes its worker processes with it, and a
FIFO as input is refused up front instead of blocking forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.conftest import REPO, shared_video

runner = CliRunner()


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    """The process's command line; "" once it has gone (short-lived children, e.g. the encoder check)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _start_edit(src: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cli", "edit", str(src), "-o", str(out), "--attr", "smile", "-q"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_cleans_up_and_says_so_in_one_line(tmp_path):
    out = tmp_path / "o.mp4"
    proc = _start_edit(shared_video("retalking_face_3.mp4"), out)
    # well inside the work: once the encoder's temporary file exists (a fixed sleep raced the
    # start-up, imports included, on a loaded machine)
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in tmp_path.iterdir() if ".partial" in p.name]:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["stitchtime: error: terminated"], err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_kill_minus_nine_leaves_no_worker_behind(tmp_path):
    out = tmp_path / "o.mp4"
    proc = _start_edit(shared_video("retalking_face_3.mp4"), out)  # 125 frames: tracked by two processes
    deadline, workers = time.time() + 30, set()
    while time.time() < deadline and proc.poll() is None:
        # its forked Python workers: not its ffmpeg children, nor one that has already gone
        workers = {p for p in _children(proc.pid) if (c := _cmdline(p)) and "ffmpeg" not in c}
        if workers:
            break
        time.sleep(0.05)
    assert workers, "no worker process was started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)], "a worker outlived stitchtime"


def test_a_fifo_as_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "in.mp4"
    os.mkfifo(fifo)
    t = time.perf_counter()
    result = runner.invoke(app, ["edit", str(fifo), "-o", str(tmp_path / "o.mp4"), "--attr", "none"])
    assert result.exit_code != 0 and "not a regular file" in result.stderr and time.perf_counter() - t < 10
