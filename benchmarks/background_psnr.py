"""Background PSNR of `edit --attr none` against a plain ffmpeg CRF-18 re-encode (issue 15).

    .venv/bin/python benchmarks/background_psnr.py [--clips d3,d0] [--label after] [--check]
    .venv/bin/python benchmarks/background_psnr.py --isolate   # flags vs matrix, colour only
    .venv/bin/python benchmarks/background_psnr.py --speed liveportrait_driving_d10.mp4
    .venv/bin/python benchmarks/background_psnr.py --write     # the BENCHMARKS.md section from saved runs

For every shared clip, each variant is measured against the original with the background PSNR
of ``stitchtime.evaluate`` (RGB frames from `VideoReader`, pixels outside the face region that
the evaluator's tracker finds in the original, dilated by ``BACKGROUND_MARGIN``; whole frames
without a face), in one pass over the original:

* ``edit``: ``stitchtime edit CLIP --attr none -o out.mp4`` (default settings; x264 CRF 15);
* ``crf18`` / ``crf15``: ``ffmpeg -i CLIP -c:v libx264 -crf 18 (15) -c:a copy`` (no RGB at all);
* ``rw``: `VideoReader` -> `VideoWriter` at the default `EncodeConfig` (no face pipeline);
* ``rw_ffv1``: the same into lossless FFV1: the colour conversion alone (YUV -> RGB -> YUV);
* ``ffmpeg_rgb``: ``ffmpeg -i CLIP -f rawvideo -pix_fmt rgb24 - | ffmpeg ... -c:v ffv1``: the
  same round trip with ffmpeg's default conversions (what the reader and writer did before).

The ``yuv`` numbers are whole-frame PSNR of the decoded yuv420p planes (no RGB conversion in the
measurement at all). ``--check`` also runs ``stitchtime.evaluate.evaluate`` on the first clip's
edit and asserts the same background PSNR. Results go to ``runs/background_psnr/LABEL.json``;
``--write`` makes the BENCHMARKS.md section from the saved runs (``before``, ``after``,
``isolate``, ``speed_*``).
``--isolate`` runs the colour round trip alone (FFV1) with ffmpeg's default scaler flags or ours,
converting back with BT.601 (untagged) or the source's matrix (tagged), to tell the causes apart.
``--speed`` times decode alone, decode + encode (`VideoReader` -> `VideoWriter`, CRF 15) and the
whole ``--attr none`` edit on one clip with ffmpeg's default scaler flags and with ours
(``SWS_DECODE_FLAGS`` / ``SWS_ENCODE_FLAGS``), alternating, in one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from stitchtime.config import DetectConfig, EncodeConfig, TrackConfig
from stitchtime.evaluate import _face_region
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker
from stitchtime.io.decode import VideoReader
from stitchtime.io.encode import VideoWriter
from stitchtime.io.ffmpeg import ffmpeg_exe
from stitchtime.io.probe import colour_of, probe

VIDEOS = REPO.parent / "shared" / "data" / "videos"
RESULTS = REPO / "runs" / "background_psnr"
SECTION = "## Background PSNR against a plain re-encode (issue 15)"
VARIANTS = ("edit", "crf18", "crf15", "rw", "rw_ffv1", "ffmpeg_rgb")
#: The target: `edit --attr none` within this many dB of the plain CRF-18 re-encode.
MARGIN_DB = 0.5


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_variants(clip: Path, tmp: Path) -> dict[str, Path]:
    meta = probe(clip)
    out = {name: tmp / f"{name}.mp4" for name in VARIANTS}
    out["rw_ffv1"] = tmp / "rw_ffv1.mkv"
    out["ffmpeg_rgb"] = tmp / "ffmpeg_rgb.mkv"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "edit", str(clip), "--attr", "none", "-o", str(out["edit"]), "-q"],
        check=True,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    for crf in (18, 15):
        _ffmpeg("-i", str(clip), "-c:v", "libx264", "-crf", str(crf), "-c:a", "copy", str(out[f"crf{crf}"]))
    for name, config in (("rw", EncodeConfig()), ("rw_ffv1", EncodeConfig(codec="ffv1"))):
        with VideoReader(clip, meta) as r, VideoWriter(out[name], meta, config, overwrite=True) as w:
            for frame in r:
                w.write(frame)
    # ffmpeg's own defaults: rgb24 through a pipe, then back to yuv420p (lossless FFV1)
    dec = subprocess.Popen(
        [ffmpeg_exe(), "-v", "error", "-i", str(clip), "-map", "0:V:0", "-fps_mode", "passthrough"]
        + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        stdout=subprocess.PIPE,
    )
    enc = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{meta.width}x{meta.height}",
    ]
    enc += ["-r", f"{meta.fps:.6f}", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(out["ffmpeg_rgb"])]
    subprocess.run(enc, stdin=dec.stdout, check=True)
    dec.wait()
    return out


def _yuv_frames(path: Path, n: int, width: int, height: int):
    size = width * height * 3 // 2
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:V:0", "-fps_mode", "passthrough"]
    cmd += ["-frames:v", str(n), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    try:
        for _ in range(n):
            buf = proc.stdout.read(size)
            if len(buf) < size:
                return
            yield np.frombuffer(buf, np.uint8)
    finally:
        proc.kill()
        proc.wait()


def _db(se: float, n: int) -> float:
    return math.inf if se == 0 else 10 * math.log10(255.0**2 / (se / max(n, 1)))


def measure(clip: Path, variants: dict[str, Path]) -> dict[str, dict]:
    """Background PSNR (evaluate's) and whole-frame YUV PSNR of each variant against ``clip``."""
    meta = probe(clip)
    metas = {k: probe(p) for k, p in variants.items()}
    for k, m in metas.items():
        if m.n_frames != meta.n_frames:
            raise SystemExit(f"{clip.name}: {k} has {m.n_frames} frames, the original {meta.n_frames}")
    detect = DetectConfig()
    tracker = FaceTracker(make_backend(detect), detect, TrackConfig())
    se = dict.fromkeys(variants, 0.0)
    count = 0
    readers = [VideoReader(p, metas[k]) for k, p in variants.items()]
    with VideoReader(clip, meta) as ra:
        for a, *others in zip(ra, *readers):
            obs = tracker.update(a)
            region = np.zeros(a.shape[:2], bool) if obs is None else _face_region(obs.landmarks, a.shape[:2])
            bg = ~region
            af = a.astype(np.float32)
            for k, b in zip(variants, others):
                diff = af - b.astype(np.float32)
                se[k] += float((diff[bg] ** 2).sum())
            count += int(bg.sum()) * 3
    for r in readers:
        r.close()
    yse = dict.fromkeys(variants, 0.0)
    yn = 0
    w, h = meta.width, meta.height
    gens = [_yuv_frames(p, meta.n_frames, w, h) for p in variants.values()]
    for a, *others in zip(_yuv_frames(clip, meta.n_frames, w, h), *gens):
        af = a.astype(np.float32)
        for k, b in zip(variants, others):
            yse[k] += float(((af - b) ** 2).sum())
        yn += a.size
    return {
        k: {"bg": _db(se[k], count), "yuv": _db(yse[k], yn), "tags": colour_of(p).describe()}
        for k, p in variants.items()
    }


def run_clips(clips: list[Path], label: str, check: bool) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{label}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for i, clip in enumerate(clips):
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bgpsnr-") as tmp:
            variants = make_variants(clip, Path(tmp))
            row = measure(clip, variants)
            if check and i == 0:
                from stitchtime.evaluate import evaluate

                got = evaluate(clip, variants["edit"]).background_psnr
                assert abs(got - row["edit"]["bg"]) < 1e-6, (got, row["edit"]["bg"])
                print(f"check: evaluate() gives {got:.4f} dB for the edit, the same as here")
        m = probe(clip)
        results[clip.name] = {
            "source": colour_of(clip).describe(),
            "size": f"{m.width}x{m.height}",
            "frames": m.n_frames,
            **row,
        }
        path.write_text(json.dumps(results, indent=1))
        print(
            f"{clip.name}: "
            + "  ".join(f"{k} {v['bg']:.2f}/{v['yuv']:.2f}" for k, v in row.items())
            + f"  ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    return results


def speed(clip: Path, repeats: int) -> dict[str, dict[str, float]]:
    """fps of decode alone, decode + encode (CRF 15) and `edit_video` with the empty edit (what
    ``edit --attr none`` runs: two decodes, tracking, encode) with ffmpeg's default scaler flags and
    with ours (``SWS_DECODE_FLAGS`` / ``SWS_ENCODE_FLAGS``), alternating, medians of ``repeats``."""
    import stitchtime.io.ffmpeg as ff
    from pipelines.edit_video import edit_video
    from stitchtime.editors.none import IdentityEditor

    ours = (ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS)
    settings = {"ffmpeg default flags": ("", ""), f"{ours[0]} / {ours[1]}": ours}
    meta = probe(clip)
    times: dict[str, dict[str, list[float]]] = {k: {"decode": [], "decode+encode": [], "edit": []} for k in settings}
    with tempfile.TemporaryDirectory(prefix="bgpsnr-speed-") as tmp:
        out = Path(tmp) / "out.mp4"
        for _ in range(repeats):
            for name, (dec, enc) in settings.items():
                ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS = dec, enc
                try:
                    t = time.perf_counter()
                    for _f in VideoReader(clip, meta):
                        pass
                    times[name]["decode"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    with VideoReader(clip, meta) as r, VideoWriter(out, meta, EncodeConfig(), overwrite=True) as w:
                        for f in r:
                            w.write(f)
                    times[name]["decode+encode"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    edit_video(clip, out, IdentityEditor(), overwrite=True)
                    times[name]["edit"].append(time.perf_counter() - t)
                finally:
                    ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS = ours
    return {name: {k: meta.n_frames / statistics.median(v) for k, v in d.items()} for name, d in times.items()}


def isolate(clip: Path, frames: int) -> dict[str, dict[str, float]]:
    """The colour round trip alone (reader -> writer into lossless FFV1, first ``frames`` frames)
    with ffmpeg's default scaler flags or ours, and converting back with the old matrix (BT.601,
    untagged output) or the source's (tags copied): whole-frame PSNR, RGB through `VideoReader`
    and raw yuv420p planes."""
    import stitchtime.io.ffmpeg as ff
    from stitchtime.io.probe import Colour

    ours = (ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS)
    meta = probe(clip)
    frames = min(frames, meta.n_frames)
    ref = np.stack(list(VideoReader(clip, meta, stop=frames)))
    ref_yuv = np.stack(list(_yuv_frames(clip, frames, meta.width, meta.height)))
    got = {}
    with tempfile.TemporaryDirectory(prefix="bgpsnr-iso-") as tmp:
        out = Path(tmp) / "out.mkv"
        for flags_name, flags in (("default flags", ("", "")), ("our flags", ours)):
            for matrix_name, colour in (("BT.601 untagged", Colour()), ("source matrix + tags", None)):
                ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS = flags
                try:
                    with (
                        VideoReader(clip, meta, stop=frames) as r,
                        VideoWriter(out, meta, EncodeConfig(codec="ffv1"), overwrite=True, colour=colour) as w,
                    ):
                        for f in r:
                            w.write(f)
                finally:
                    ff.SWS_DECODE_FLAGS, ff.SWS_ENCODE_FLAGS = ours
                back = np.stack(list(VideoReader(out)))
                yuv = np.stack(list(_yuv_frames(out, frames, meta.width, meta.height)))
                se = float(((back.astype(np.float64) - ref) ** 2).sum())
                yse = float(((yuv.astype(np.float64) - ref_yuv) ** 2).sum())
                got[f"{flags_name}, {matrix_name}"] = {"rgb": _db(se, back.size), "yuv": _db(yse, yuv.size)}
    return got


def _f(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2f}"


def table(before: dict, after: dict) -> str:
    head = (
        "| clip | size | source tags | before: crf 18 | before: edit | before: edit - crf 18 "
        "| after: crf 18 | after: crf 15 | after: edit | after: edit - crf 18 | reader->writer before / after "
        "| colour only before / after | ffmpeg's defaults, colour only | output tags |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for name, a in after.items():
        b = before[name]
        bg = {k: a[k]["bg"] for k in VARIANTS}
        old = {k: b[k]["bg"] for k in VARIANTS}
        rows.append(
            f"| {name} | {a['size']} | {a['source']} | {_f(old['crf18'])} | {_f(old['edit'])} "
            f"| {old['edit'] - old['crf18']:+.2f} | {_f(bg['crf18'])} | {_f(bg['crf15'])} | **{_f(bg['edit'])}** "
            f"| **{bg['edit'] - bg['crf18']:+.2f}** | {_f(old['rw'])} / {_f(bg['rw'])} "
            f"| {_f(old['rw_ffv1'])} / {_f(bg['rw_ffv1'])} | {_f(bg['ffmpeg_rgb'])} | {a['edit']['tags']} |"
        )
    return head + "\n".join(rows) + "\n"


def yuv_table(before: dict, after: dict) -> str:
    head = (
        "| clip | crf 18 | crf 15 | edit before | edit after | colour only before | colour only after |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for name, a in after.items():
        b = before[name]
        rows.append(
            f"| {name} | {_f(a['crf18']['yuv'])} | {_f(a['crf15']['yuv'])} | {_f(b['edit']['yuv'])} "
            f"| {_f(a['edit']['yuv'])} | {_f(b['rw_ffv1']['yuv'])} | {_f(a['rw_ffv1']['yuv'])} |"
        )
    return head + "\n".join(rows) + "\n"


def isolate_table(found: dict) -> str:
    keys = list(next(iter(found.values())))
    head = "| clip (first 90 frames) | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys) + "\n"
    rows = [
        f"| {name} | " + " | ".join(f"{_f(v[k]['rgb'])} / {_f(v[k]['yuv'])}" for k in keys) + " |"
        for name, v in found.items()
    ]
    return head + "\n".join(rows) + "\n"


def speed_table(runs: list[dict]) -> str:
    head = "| clip | flags (decode / encode) | decode fps | decode + encode fps | edit --attr none fps |\n"
    head += "|---|---|---:|---:|---:|\n"
    rows = []
    for run in runs:
        for flags, d in run["fps"].items():
            rows.append(f"| {run['clip']} | {flags} | {d['decode']:.0f} | {d['decode+encode']:.1f} | {d['edit']:.1f} |")
    return head + "\n".join(rows) + "\n"


def section() -> str:
    before = json.loads((RESULTS / "before.json").read_text())
    after = json.loads((RESULTS / "after.json").read_text())
    iso = json.loads((RESULTS / "isolate.json").read_text())
    speeds = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("speed_*.json"))]
    worst = min(a["edit"]["bg"] - a["crf18"]["bg"] for a in after.values())
    gaps = [b["edit"]["bg"] - b["crf18"]["bg"] for b in before.values()]
    to15 = max(a["crf15"]["bg"] - a["edit"]["bg"] for a in after.values())
    crf = [a["crf15"]["bg"] - a["crf18"]["bg"] for a in after.values()]
    cost = {
        k: [100 * (1 - list(r["fps"].values())[1][k] / list(r["fps"].values())[0][k]) for r in speeds]
        for k in ("decode", "decode+encode", "edit")
    }
    span = {
        k: f"{min(v):.0f}%" if round(min(v)) == round(max(v)) else f"{min(v):.0f}-{max(v):.0f}%"
        for k, v in cost.items()
    }
    shift = [abs(a["crf18"]["bg"] - before[n]["crf18"]["bg"]) for n, a in after.items()]
    return (
        SECTION
        + "\n\n"
        + TEXT.format(worst=worst, lo=max(gaps), hi=min(gaps), to15=to15, shift=max(shift))
        + "\n"
        + table(before, after)
        + "\n"
        + YUV_TEXT
        + "\n"
        + yuv_table(before, after)
        + "\n"
        + ISOLATE_TEXT
        + "\n"
        + isolate_table(iso)
        + "\n"
        + CAUSES.format(crf_lo=min(crf), crf_hi=max(crf), to15=to15)
        + "\n"
        + SPEED_TEXT
        + "\n"
        + speed_table(speeds)
        + "\n"
        + SPEED_AFTER.format(**{k.replace("+", "_"): v for k, v in span.items()})
    )


TEXT = """Command: `.venv/bin/python benchmarks/background_psnr.py --label after --check` (and `--label before`
on the tree before the change; `--isolate`, `--speed CLIP`; `--write` makes this section). Background
PSNR (dB) is `stitchtime.evaluate`'s, computed the same way for every variant (`--check` asserts it
equals `evaluate()`'s for the edit): RGB frames from `VideoReader`, pixels outside the original's
tracked face region dilated by 25% of the face span, whole frames without a face. *edit* is
`stitchtime edit CLIP --attr none` at its defaults (x264 CRF 15, preset medium); *crf 18* / *crf 15*
are `ffmpeg -i CLIP -c:v libx264 -crf 18 (15) -c:a copy` (YUV in, YUV out: no RGB at all);
*reader->writer* is `VideoReader` -> `VideoWriter` with no face pipeline (CRF 15); *colour only* is the
same into lossless FFV1 (the YUV -> RGB -> YUV conversions alone); *ffmpeg's defaults, colour only* is
`ffmpeg -i CLIP -f rawvideo -pix_fmt rgb24 - | ffmpeg ... -c:v ffv1` (what the reader and writer did,
measured with the new reader). "before" columns are measured with the old reader, "after" ones with
the new one (which moves the crf-18 numbers by at most {shift:.2f} dB). Source tags: pix_fmt, range,
matrix/primaries/transfer from `ffmpeg -i` (`-`: unspecified).

Before, `--attr none` was {hi:+.2f} to {lo:+.2f} dB off the plain CRF-18 re-encode; after, it is at
least {worst:+.2f} dB above it on every clip, and within {to15:.2f} dB of the plain CRF-15 re-encode (the
same CRF as ours): the pixels the edit does not touch now come out as ffmpeg alone leaves them.
"""

YUV_TEXT = """Whole-frame PSNR of the stored yuv420p planes against the source's (no RGB in the measurement; what a
player gets): the old output's YUV was further from the source than its RGB suggests where the source is
BT.709 (the old writer wrote BT.601, untagged), e.g. d11 40.2 dB.
"""

ISOLATE_TEXT = """Where the loss was (`--isolate`): the colour round trip alone (reader -> writer into FFV1), with
ffmpeg's default scaler flags or ours, converting back with the old matrix (BT.601, untagged
output) or with the source's own (tags copied); whole-frame PSNR RGB / YUV, dB:
"""

CAUSES = """Causes found:

1. **The decode's YUV -> RGB conversion (the main one).** ffmpeg's default (`bicubic`, nothing else)
   takes swscale's fast yuv420p -> rgb24 path: coarse fixed-point coefficients and no chroma
   interpolation. YUV -> RGB -> YUV with no encoding at all (60 frames of d10, BT.709 both ways, raw
   planes) gave luma back at 46.9 dB (chroma 62.4); with `accurate_rnd` alone 43.3, with
   `full_chroma_int` alone 46.9, with both 77.5 dB. That capped every round trip below what CRF 18
   leaves, before any encoding. Now `SWS_DECODE_FLAGS = neighbor+accurate_rnd+full_chroma_int`
   (`stitchtime/io/ffmpeg.py`).
2. **The encode's RGB -> YUV conversion.** Without `accurate_rnd` chroma came back 3 dB worse
   (64.6 vs 67.9 on d10); and a downsampling filter that is not the inverse of the decode's
   upsampling blurs every colour edge twice (bicubic both ways: 10 levels off at the edges of colour
   bars). Now `SWS_ENCODE_FLAGS = area+accurate_rnd`: the box mean of the 2x2 pixels each chroma
   sample was copied to (`neighbor`, which is what ffmpeg's default path did too) gives that sample
   back exactly (colour bars: bit-exact; real clips 64-inf dB colour only; what is left is
   out-of-gamut YUV clipping to RGB, e.g. the hamilton clip).
3. **The matrix: BT.709 sources written as BT.601, untagged.** ffmpeg decoded the four BT.709-tagged
   clips with BT.709 but converted back with swscale's default BT.601 and wrote no tags; players and
   decoders then read the output as BT.601, so its RGB matched but its YUV was not the source's (d11:
   40.4 dB YUV colour only), and with exact flags the mismatch alone still capped d10/d11 at 51-52 dB
   RGB. Now the writer converts with the source's matrix and range (`colour_of(meta.path)`: parsed from
   `ffmpeg -i`, cached per file, filled by `probe`) and tags the output with its matrix, range,
   primaries and transfer (`scale=out_color_matrix=..:out_range=..` + `setparams`); an untagged source
   stays untagged (BT.601 limited both ways, what decoders assume for both), an RGB source gets the
   BT.601 default. The reader passes the same matrix and range to its `scale` explicitly.
4. **Full range (no shared clip has it; measured on a full-range copy of d10).** swscale truncates
   8-bit full-range chroma (-0.5 level on average), so a full-range source came back at 48.1 dB RGB
   colour only (limited: 68.9) and 44.5 dB at CRF 15, 0.75 dB under a plain CRF-18 re-encode (45.2).
   Full range is now kept (`out_range=full`, tagged `pc`) and converted at 12 bits, then rounded to 8
   by the `colorspace` filter: 68.4 dB colour only, 46.3 at CRF 15 (+1.1 over CRF 18). Encoders that
   cannot signal full range (mpeg4, ffv1 as ffmpeg negotiates them) get limited range from ffmpeg's
   own conversion, tagged so (consistent, a little less exact).
5. **CRF 15 vs 18 is not a loss:** the plain CRF-15 re-encode is {crf_lo:.1f}-{crf_hi:.1f} dB above CRF 18,
   and `--attr none` now lands within {to15:.2f} dB of it.
"""

SPEED_TEXT = """Speed cost of the scaler flags (`--speed CLIP --repeats 3`: both settings alternating in one run,
medians; 2 cores, load 0.6-5 from other jobs; the matrix and range are options of the same `scale`,
the tags a metadata-only `setparams`):
"""

SPEED_AFTER = """The exact conversion costs ffmpeg's decode (its rgb24 output now comes from swscale's generic path
instead of the fast special-case converter): {decode} fewer decode-alone fps. The decode runs in
its own process beside the Python pipeline, so the round trip loses {decode_encode} (decode + encode)
and {edit} (`edit --attr none`, which decodes twice).
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default="", help="comma-separated name fragments (default: all shared clips)")
    ap.add_argument("--label", default="after", help="the results file: runs/background_psnr/LABEL.json")
    ap.add_argument("--check", action="store_true", help="compare with stitchtime.evaluate on the first clip")
    ap.add_argument("--speed", default="", help="time the scaler flags on this shared clip instead")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--isolate", action="store_true", help="the colour round trip alone, flags vs matrix")
    ap.add_argument("--videos", type=Path, default=VIDEOS, help="the folder of clips")
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section from the saved runs")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.write:
        write_section(SECTION, section())
        return
    if args.speed:
        fps = speed(args.videos / args.speed, args.repeats)
        (RESULTS / f"speed_{Path(args.speed).stem}.json").write_text(json.dumps({"clip": args.speed, "fps": fps}))
        for flags, d in fps.items():
            print(f"{flags:45s} " + "  ".join(f"{k} {v:.1f} fps" for k, v in d.items()))
        return
    clips = sorted(args.videos.glob("*.mp4"))
    if args.clips:
        keys = args.clips.split(",")
        clips = [c for c in clips if any(k in c.name for k in keys)]
    if not clips:
        raise SystemExit(f"no clips in {args.videos} match {args.clips!r}")
    if args.isolate:
        found = {c.name: isolate(c, 90) for c in clips}
        (RESULTS / "isolate.json").write_text(json.dumps(found, indent=1))
        print(isolate_table(found))
        return
    run_clips(clips, args.label, args.check)


if __name__ == "__main__":
    main()
