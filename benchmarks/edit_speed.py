"""Edit speed of `stitchtime edit` per clip and setting (issue 4's speed targets).

    .venv/bin/python benchmarks/edit_speed.py [--clips 512|all|d3,d0] [--repeat 1] [--write]

Each run is the real CLI in a fresh process (`stitchtime edit CLIP --attr ATTR ... -q`): "s" is
the pipeline time it reports (probe to the renamed output), "wall" adds the process start-up
(imports, model loading), "RSS" is the stitchtime process's peak (its ffmpeg children not
counted). Settings run in turn on each clip, so a clip's numbers share the machine's state.
The default clips are the 512x512 ones the issue names.

Issue 15: every attribute `stitchtime attrs` offers by default >= 20 fps on these clips, and
>= 30 fps with `--fast` (the settings ``fast`` and ``fast_<attribute>``).
Targets (issue 4): >= 20 fps without tuning (`--fast`), and a 10-second clip in <= 2 minutes
with the default (per-video) work: the default for smile (diffusion: DDIM inversion of keyframes)
and for glasses (cVAE with 60 steps of decoder tuning).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from stitchtime.io import probe

VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## Edit speed (issue 4)"
STITCHTIME = Path(sys.executable).with_name("stitchtime")

# key -> (label, arguments after the clip)
SETTINGS = {
    "fast": ("fast (smile, `--fast`)", ["--attr", "smile", "--fast"]),
    "smile": ("default smile (geometry)", ["--attr", "smile"]),
    "diffusion": ("smile, diffusion (experimental)", ["--attr", "smile", "--method", "diffusion", "--experimental"]),
    "glasses": (
        "glasses (cVAE, 60 tuning steps; experimental)",
        ["--attr", "glasses", "--method", "cond", "--experimental"],
    ),
    "none": ("round trip (`--attr none`)", ["--attr", "none"]),
    "gray_hair": ("grey hair (hair colour)", ["--attr", "gray_hair"]),
    "blond_hair": ("blond hair (hair colour)", ["--attr", "blond_hair"]),
    "drawn_glasses": ("glasses (drawn)", ["--attr", "glasses"]),
    "mouth_open": ("mouth open (geometry)", ["--attr", "mouth_open"]),
    "lipstick": ("lipstick (colour)", ["--attr", "lipstick"]),
    "makeup": ("makeup (colour)", ["--attr", "makeup"]),
}
# each offered attribute with `--fast` too (issue 15: >= 30 fps); "fast" is the smile's
for _key in ("gray_hair", "blond_hair", "drawn_glasses", "mouth_open", "lipstick", "makeup"):
    SETTINGS[f"fast_{_key}"] = (f"{SETTINGS[_key][0]}, `--fast`", [*SETTINGS[_key][1], "--fast"])
FAST = SETTINGS["fast"][0]
DEFAULTS = (SETTINGS["diffusion"][0], SETTINGS["glasses"][0])
DEFAULT = SETTINGS["smile"][0]
# the attributes offered by default (stitchtime attrs): each >= 20 fps
OFFERED = tuple(
    SETTINGS[k][0] for k in ("smile", "gray_hair", "blond_hair", "drawn_glasses", "mouth_open", "lipstick", "makeup")
)
TARGET_FPS = 20.0
FAST_TARGET_FPS = 30.0  # issue 15, `--fast`
TARGET_SECONDS_PER_10S = 120.0


def pick_clips(spec: str) -> list[Path]:
    clips = sorted(VIDEOS.glob("*.mp4"))
    if spec == "all":
        return clips
    if spec == "512":
        return [c for c in clips if (lambda m: (m.width, m.height) == (512, 512))(probe(c))]
    keys = spec.split(",")
    return [c for c in clips if any(c.stem.endswith("_" + k) or c.stem == k for k in keys)]


def run(clip: Path, args: list[str], out: Path) -> tuple[float, float, float]:
    """``(pipeline s, wall s, peak RSS MB)`` of one CLI edit."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [str(STITCHTIME), "edit", str(clip), "-o", str(out), "-q", "--overwrite", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{clip.name} {' '.join(args)} failed: {stderr.strip()}")
    m = re.search(r"in ([0-9.]+) s", stdout)
    if not m:
        raise SystemExit(f"no timing in the output of {clip.name} {' '.join(args)}: {stdout!r}")
    return float(m.group(1)), wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="512", help="512 (the 512x512 clips), all, or names such as d3,rf3 suffixes")
    ap.add_argument("--settings", default=",".join(SETTINGS), help=f"which settings ({', '.join(SETTINGS)})")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each setting per clip (the best is kept)")
    ap.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    ap.add_argument("--section", default=SECTION[3:], help="the BENCHMARKS.md heading to write under")
    args = ap.parse_args()
    clips = pick_clips(args.clips)
    if not clips:
        raise SystemExit(f"no clips for {args.clips!r} in {VIDEOS}")
    rows: list[tuple[str, int, float, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            meta = probe(clip)
            seconds = meta.n_frames / float(meta.fps)
            for label, extra in (SETTINGS[k] for k in args.settings.split(",")):
                best = min((run(clip, extra, Path(tmp) / "out.mp4") for _ in range(args.repeat)), key=lambda r: r[0])
                s, wall, rss = best
                rows.append((clip.name, meta.n_frames, seconds, label, s, wall, rss))
                print(
                    f"{clip.name:32s} {label:42s} {s:6.1f} s {meta.n_frames / s:6.1f} fps  "
                    f"wall {wall:6.1f} s  {rss:5.0f} MB",
                    flush=True,
                )

    lines = [
        f"## {args.section}",
        "",
        f"Command: `.venv/bin/python benchmarks/edit_speed.py --clips {args.clips}"
        f"{'' if args.section == SECTION[3:] else f' --section {args.section!r}'}"
        f"{'' if args.settings == ','.join(SETTINGS) else f' --settings {args.settings}'}"
        f"{f' --repeat {args.repeat}' if args.repeat > 1 else ''} --write` "
        f"({date.today().isoformat()}, 2 cores, shipped models, strength 1; "
        "each run is `stitchtime edit CLIP -o out.mp4 -q` in a fresh process, "
        "the settings in turn on each clip; s = the pipeline time the command reports, wall adds start-up, "
        "RSS = peak of the stitchtime process).",
        "",
        "| clip | frames | video s | setting | s | frames/s | s per 10 s of video | wall | peak RSS |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, n, secs, label, s, wall, rss in rows:
        lines.append(
            f"| {name} | {n} | {secs:.1f} | {label} | {s:.1f} | {n / s:.1f} | {s * 10 / secs:.1f} "
            f"| {wall:.1f} | {rss:.0f} MB |"
        )
    fast = [n / s for _, n, _, label, s, _, _ in rows if label == FAST]
    fast_total = sum(n for _, n, _, label, _, _, _ in rows if label == FAST) / max(
        1e-9, sum(s for _, _, _, label, s, _, _ in rows if label == FAST)
    )
    per10 = {
        label: max(s * 10 / secs for _, _, secs, lab, s, _, _ in rows if lab == label)
        for label in DEFAULTS
        if any(r[3] == label for r in rows)
    }
    if fast and per10:
        lines += [
            "",
            f"Targets: without tuning >= {TARGET_FPS:g} fps: `--fast` ran {min(fast):.1f}-{max(fast):.1f} fps, "
            f"{fast_total:.1f} fps over all {len(fast)} clips together; "
            f"met on {sum(f >= TARGET_FPS for f in fast)}/{len(fast)} clips. "
            f"A 10-second clip in <= {TARGET_SECONDS_PER_10S:g} s with the default per-video work: at most "
            + ", ".join(f"{v:.0f} s ({k})" for k, v in per10.items())
            + f" ({'met' if max(per10.values()) <= TARGET_SECONDS_PER_10S else 'NOT met'}).",
        ]
    fast_labels = [FAST] + [SETTINGS[k][0] for k in SETTINGS if k.startswith("fast_")]
    targets = [(label, "the default", TARGET_FPS) for label in OFFERED]
    targets += [(label, "`--fast`", FAST_TARGET_FPS) for label in fast_labels]
    for label, which, target in targets:
        got = [n / s for _, n, _, lab, s, _, _ in rows if lab == label]
        if got:
            lines += [
                "",
                f"Target (issue 15): {which} >= {target:g} fps, {label}: {min(got):.1f}-{max(got):.1f} fps, "
                f"met on {sum(f >= target for f in got)}/{len(got)} clips.",
            ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(f"## {args.section}", text)


if __name__ == "__main__":
    main()
