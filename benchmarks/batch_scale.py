"""Files per minute of `stitchtime batch` on one folder: --jobs 1, --jobs 2, --engine ray (a local
Ray started for the run) and a two-node Ray cluster on loopback; Ray's overhead next to the edit.

    .venv/bin/python benchmarks/batch_scale.py [--clips 6] [--frames 50] [--write]

The folder holds the first ``--frames`` frames of the first ``--clips`` shared clips; every run
edits it afresh (`--attr smile`, the geometry default) into an empty output folder. Also: the
start-up time of `stitchtime --help` and whether it imports ray (it must not).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from benchmarks.edit_quality import VIDEOS, cut

SECTION = "## Batch scaling: local processes and Ray (issue 17)"
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # the throwaway loopback cluster has no token


def _batch(folder: Path, out: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "cli", "batch", str(folder), str(out), "--attr", "smile", "-q", *extra]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - t


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = ["| run | seconds | files/minute | vs --jobs 2 |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        clips = [c for c in sorted(VIDEOS.glob("*.mp4")) if "hamilton" not in c.name and "face_1" not in c.name]
        for clip in clips[: args.clips]:
            cut(clip, folder / clip.name, args.frames)
        n = len(list(folder.iterdir()))
        times = {}
        for name, extra in (
            ("--jobs 1", ["--jobs", "1"]),
            ("--jobs 2", ["--jobs", "2"]),
            ("--engine ray", ["--engine", "ray"]),
        ):
            times[name] = _batch(folder, Path(tmp) / name.replace(" ", "_"), *extra)
        port = _port()
        try:
            head = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1"]
            subprocess.run([*head, "--include-dashboard=false"], check=True, capture_output=True, env=ENV)
            node = [RAY, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
            subprocess.run(node, check=True, capture_output=True, env=ENV)
            name = "--engine ray, two nodes (loopback)"
            times[name] = _batch(folder, Path(tmp) / "cluster", "--engine", "ray", "--address", f"127.0.0.1:{port}")
        finally:
            subprocess.run([RAY, "stop", "--force"], capture_output=True, env=ENV)
        for name, t in times.items():
            rows.append(f"| {name} | {t:.1f} | {60 * n / t:.1f} | {t / times['--jobs 2']:.2f} |")
    t = time.perf_counter()
    probe = "import sys, runpy; sys.argv=['cli','--help']\ntry: runpy.run_module('cli', run_name='__main__')\n"
    probe += "except SystemExit: pass\nprint('ray' in sys.modules, file=sys.stderr)"
    ray_loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True).stderr.strip()
    startup = time.perf_counter() - t
    table = "\n".join(rows)
    text = (
        f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/batch_scale.py {' '.join(sys.argv[1:])}` ({n} files: the "
        f"first {args.frames} frames of {n} shared clips, `--attr smile`; this 2-core machine; each Ray run includes "
        f"starting or joining Ray). `stitchtime --help` took {startup:.2f} s and imported ray: {ray_loaded}.\n\n"
        + table
        + "\n"
    )
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
