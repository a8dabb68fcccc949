"""Peak memory of `stitchtime edit` on 1 minute vs 10 minutes of 1280x720 video (issue 5).

    .venv/bin/python benchmarks/memory.py [--clip retalking_face_3.mp4] [--attr smile]
        [--method diffusion --experimental] [--minutes 1 10] [--write]

Makes the test videos with ffmpeg (a shared clip looped and scaled/padded to 1280x720, 25 fps,
10 minutes; the 1-minute one is its first minute), then runs the real CLI on each in a child
process and samples the memory of the whole process tree (stitchtime, its forked workers and its
ffmpeg decoders/encoder) every 0.2 s as PSS (proportional set size: a page shared by n processes
counts 1/n in each, so forked workers that share the parent's models are not counted twice, as
summed RSS would). Target: peak <= 2 GB and the two peaks within 10 %.

``--write`` replaces this run's table in BENCHMARKS.md's memory section: the lines between
``<!-- memory.py KEY -->`` and ``<!-- /memory.py KEY -->`` (KEY: the attribute and method, e.g.
``smile`` or ``smile-diffusion``); the rest of the section (what the numbers mean) is left alone.
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

from benchmarks.bench_md import BENCHMARKS
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


def peak_memory(cmd: list[str]) -> tuple[int, int, float]:
    """Run ``cmd``; return (peak tree PSS, peak PSS of the stitchtime process alone, in bytes; seconds)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # (a pipe left unread could fill and stall the child)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak = own = 0
        while proc.poll() is None:
            peak = max(peak, _tree_pss(proc.pid))
            own = max(own, _pss(str(proc.pid)) or 0)
            time.sleep(0.2)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace').strip()}")
    return peak, own, time.perf_counter() - t


def write_table(key: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace the lines between this run's markers in the memory section (or add them at its end)."""
    begin, end = f"<!-- memory.py {key} -->", f"<!-- /memory.py {key} -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = path.read_text()
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        path.write_text(head + block + rest.split(end, 1)[1])
        return
    start = old.index(SECTION)
    nxt = old.find("\n## ", start + len(SECTION))
    nxt = len(old) if nxt < 0 else nxt
    path.write_text(old[:nxt].rstrip() + "\n\n" + block + "\n" + old[nxt:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="retalking_face_3.mp4")
    parser.add_argument("--attr", default="smile")
    parser.add_argument("--method", default=None, help="--method of stitchtime edit (default: the attribute's own)")
    parser.add_argument("--experimental", action="store_true", help="pass --experimental (e.g. for --method diffusion)")
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
            *(["--method", args.method] if args.method else []),
            *(["--experimental"] if args.experimental else []),
        ]
        peak, own, seconds = peak_memory(cmd)
        rows.append((minutes, peak, own, seconds))
        print(
            f"{minutes} min: peak {peak / 2**20:.0f} MiB (stitchtime alone {own / 2**20:.0f}) in {seconds:.0f} s",
            flush=True,
        )
    (m1, p1, o1, s1), (m2, p2, o2, s2) = rows
    flags = f"--attr {args.attr}" + (f" --method {args.method}" if args.method else "")
    flags += " --experimental" if args.experimental else ""
    minutes_flag = "" if tuple(args.minutes) == (1, 10) else f" --minutes {m1} {m2}"
    table = (
        f"Command: `.venv/bin/python benchmarks/memory.py {flags}{minutes_flag}` "
        f"(`stitchtime edit {flags}` on {args.clip} looped and padded to 1280x720).\n\n"
        "| video | frames | peak PSS (process tree) | peak PSS (stitchtime alone) | wall time |\n"
        "|---|---:|---:|---:|---:|\n"
        f"| {m1} min 1280x720 25 fps | {m1 * 1500} | {p1 / 2**20:.0f} MiB | {o1 / 2**20:.0f} MiB | {s1:.0f} s |\n"
        f"| {m2} min 1280x720 25 fps | {m2 * 1500} | {p2 / 2**20:.0f} MiB | {o2 / 2**20:.0f} MiB | {s2:.0f} s |\n\n"
        f"Ratio of peaks {p2 / p1:.3f} (target within 10 %); "
        f"largest peak {max(p1, p2) / 2**30:.2f} GiB (target <= 2 GB)."
    )
    print(table)
    if args.write:
        write_table(args.attr + (f"-{args.method}" if args.method else ""), table)


if __name__ == "__main__":
    main()
