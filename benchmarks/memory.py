"""Peak memory of `stitchtime edit` on 1 minute vs 10 minutes of 1280x720 video (issue 5).

    .venv/bin/python benchmarks/memory.py [--clip retalking_face_3.mp4] [--attr smile] [--write]

Makes the test videos with ffmpeg (a shared clip looped and scaled/padded to 1280x720, 25 fps,
10 minutes; the 1-minute one is its first minute), then runs the real CLI on each in a child
process and samples the memory of the whole process tree (stitchtime, its forked workers and its
ffmpeg decoders/encoder) every 0.2 s as PSS (proportional set size: a page shared by n processes
counts 1/n in each, so forked workers that share the parent's models are not counted twice, as
summed RSS would). Target: peak <= 2 GB and the two peaks within 10 %.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from stitchtime.io.ffmpeg import ffmpeg_exe

VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## Memory on long videos (issue 5)"


def make_clip(src: Path, out: Path, seconds: int) -> Path:
    if out.exists():
        return out
    vf = "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,fps=25,setsar=1"
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-stream_loop",
        "-1",
        "-i",
        str(src),
        "-t",
        str(seconds),
        "-vf",
        vf,
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def _pss(pid: str) -> int | None:
    """Proportional set size of one process in bytes (None if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree_pss(root: int) -> int:
    """PSS bytes of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss(str(pid)) or 0
        todo.extend(children.get(pid, []))
    return total


def peak_memory(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd``; return (peak tree PSS in bytes, seconds)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_pss(proc.pid))
        time.sleep(0.2)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.strip()}")
    return peak, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="retalking_face_3.mp4")
    parser.add_argument("--attr", default="smile")
    parser.add_argument("--minutes", type=int, nargs=2, default=(1, 10))
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "stitchtime_memory")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    long = make_clip(VIDEOS / args.clip, args.workdir / f"long_{max(args.minutes)}min.mp4", 60 * max(args.minutes))
    rows = []
    for minutes in args.minutes:
        src = (
            long
            if minutes == max(args.minutes)
            else make_clip(long, args.workdir / f"short_{minutes}min.mp4", 60 * minutes)
        )
        out = args.workdir / f"edited_{minutes}min.mp4"
        cmd = [
            sys.executable,
            str(REPO / "cli.py"),
            "edit",
            str(src),
            "--attr",
            args.attr,
            "-o",
            str(out),
            "--overwrite",
            "-q",
        ]
        peak, seconds = peak_memory(cmd)
        rows.append((minutes, peak, seconds))
        print(f"{minutes} min: peak {peak / 2**20:.0f} MiB in {seconds:.0f} s", flush=True)
    (m1, p1, s1), (m2, p2, s2) = rows
    table = (
        "| video | frames | peak PSS (process tree) | wall time |\n|---|---:|---:|---:|\n"
        f"| {m1} min 1280x720 25 fps | {m1 * 1500} | {p1 / 2**20:.0f} MiB | {s1:.0f} s |\n"
        f"| {m2} min 1280x720 25 fps | {m2 * 1500} | {p2 / 2**20:.0f} MiB | {s2:.0f} s |\n\n"
        f"Ratio of peaks {p2 / p1:.3f} (target within 10 %); "
        f"largest peak {max(p1, p2) / 2**30:.2f} GiB (target <= 2 GB)."
    )
    print(table)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/memory.py --write` "
            f"(`stitchtime edit --attr {args.attr}` "
            f"with default settings on {args.clip} looped and padded to 1280x720; "
            "PSS of stitchtime, its forked workers and its "
            f"ffmpeg children, summed, sampled every 0.2 s; one run each).\n\n{table}\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
