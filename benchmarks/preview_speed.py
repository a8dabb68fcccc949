"""How long the web UI's one-frame preview takes (issue 18: "a single-frame preview in a few seconds").

    .venv/bin/python benchmarks/preview_speed.py [--clips retalking_face_3,liveportrait_driving_d10] [--write]

Each clip: :func:`pipelines.preview_frame.preview_frame` with the default smile, once cold (models
loaded in this process for the first time) and twice warm, in one process; seconds of wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from pipelines.api import edit_request
from pipelines.preview_frame import preview_frame

VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## One-frame preview of the web UI (issue 18)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="retalking_face_3,liveportrait_driving_d10")
    ap.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = ap.parse_args()
    request = edit_request("smile")
    rows = []
    for name in args.clips.split(","):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            preview_frame(VIDEOS / f"{name}.mp4", request)
            times.append(time.perf_counter() - t)
        rows.append((name, times))
        print(name, " ".join(f"{t:.2f}" for t in times), flush=True)
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python benchmarks/preview_speed.py --clips {args.clips} --write` "
        f"({date.today().isoformat()}, 2 cores; `--attr smile` defaults; "
        "the first call of the process loads the models).",
        "",
        "| clip | first call s | warm s (2 calls) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n}.mp4 | {t[0]:.1f} | {t[1]:.1f}, {t[2]:.1f} |" for n, t in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
