"""Record and compare edit outputs across code versions (issue 14: the refactor changes structure, not results).

    python benchmarks/same_output.py record --root . --out /tmp/eq/before
    python benchmarks/same_output.py compare /tmp/eq/before /tmp/eq/after

`record` runs `stitchtime edit` (the CLI, through `python -m cli` in ROOT) on the astronaut clip and
one shared clip for --attr none, smile (default and --fast) and glasses, and keeps every output
frame (decoded RGB) as .npy. `compare` prints, per case, the largest and mean absolute frame
difference and how many pixels differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("STITCHTIME_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "videos"
CASES = {
    "none": ["--attr", "none"],
    "smile": ["--attr", "smile"],
    "smile_fast": ["--attr", "smile", "--fast"],
    "glasses": ["--attr", "glasses"],
}


def decode(path: Path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


def record(root: Path, out: Path, clips: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sources = {}
    astro = out.parent / "astronaut.mp4"
    if not astro.exists():
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from pipelines.synth import make_astronaut_clip; make_astronaut_clip({str(astro)!r})",
            ],
            cwd=root,
            check=True,
        )
    sources["astronaut"] = astro
    for c in clips:
        sources[c] = SHARED / f"{c}.mp4"
    times = {}
    for name, src in sources.items():
        for case, args in CASES.items():
            dst = out / f"{name}_{case}.mp4"
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "cli", "edit", str(src), "-o", str(dst), "--overwrite", "-q", *args],
                cwd=root,
                check=True,
            )
            times[f"{name}_{case}"] = round(time.perf_counter() - t, 1)
            np.save(out / f"{name}_{case}.npy", decode(dst))
            print(name, case, times[f"{name}_{case}"], "s", flush=True)
    (out / "times.json").write_text(json.dumps(times, indent=1))


def compare(a: Path, b: Path) -> None:
    print(f"{'case':<28} {'frames':>6} {'max |d|':>8} {'mean |d|':>9} {'px differ':>10}")
    for fa in sorted(a.glob("*.npy")):
        x, y = np.load(fa).astype(np.int16), np.load(b / fa.name).astype(np.int16)
        if x.shape != y.shape:
            print(f"{fa.stem:<28} shape {x.shape} vs {y.shape}")
            continue
        d = np.abs(x - y)
        print(f"{fa.stem:<28} {len(x):>6} {d.max():>8} {d.mean():>9.4f} {(d.max(-1) > 0).mean():>10.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--root", type=Path, default=Path("."))
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--clips", nargs="*", default=["retalking_face_3"])
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.root.resolve(), args.out, args.clips)
    else:
        compare(args.a, args.b)


if __name__ == "__main__":
    main()
