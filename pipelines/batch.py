"""`stitchtime batch IN_DIR OUT_DIR`: edit every video of a folder tree, resumably.

* Outputs mirror the input tree (``IN/a/b.mov`` -> ``OUT/a/b.mp4``).
* Each file's state lives in ``OUT/.stitchtime/<relative path>.json`` (written atomically):
  ``started`` before work begins, then ``done`` (with its numbers) or ``failed`` (with the
  reason). Outputs themselves appear atomically (temporary name, then rename), so after a
  ``kill -9`` at any moment a rerun finds either a finished output or none; it removes stale
  temporary files, skips finished files, retries failed ones only with ``retry_failed``.
* One bad file never stops the batch; ``OUT/report.json`` lists every file's status.
* ``jobs`` processes run in parallel, each with ``cores // jobs`` torch threads, so the
  machine is not oversubscribed.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from stitchtime.config import EditRequest
from stitchtime.errors import InputError, StitchtimeError
from stitchtime.io.claims import heartbeat, release, try_claim
from stitchtime.io.encode import check_encoder
from stitchtime.io.paths import atomic_write_bytes, check_not_a_loop, check_output_path, partial_alive, real_path
from stitchtime.parallel import spawn_pool
from stitchtime.render.preview import preview_paths

STATE_DIR = ".stitchtime"
REPORT = "report.json"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
OUTPUT_SUFFIX = ".mp4"  # every output is an MP4 (IN/a/b.mov -> OUT/a/b.mp4)


@dataclass
class FileResult:
    file: str
    status: str  # done | failed | skipped
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    metrics: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # the edit's remarks (e.g. the identity guard scaled it)
    output: str = ""  # the file written (when done)


@dataclass(frozen=True)
class BatchJob:
    """Everything one file's edit needs (picklable: it crosses into worker processes)."""

    request: EditRequest
    overwrite: bool = False
    evaluate: bool = False
    preview: bool = False
    threads: int = 1  # torch threads and tracking/descriptor processes of this file's edit


@dataclass
class VideoScan:
    """What a walk of the input folder found: the videos, and what it passed over, with why."""

    videos: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _link_problem(link: Path, folder: Path, wanted: bool) -> str | None:
    """Why a symbolic link found in ``folder`` is passed over (None: it leads to a regular file).
    Links to folders are never followed: ``ln -s .. loop`` would make the walk endless, and a
    file reached twice would be edited twice. ``wanted``: its name is one we would edit."""
    try:
        st = os.stat(link)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop (its links lead to each other, never to a file)"
        return f"a broken link ({err.strerror.lower() if err.strerror else 'unreadable'})" if wanted else ""
    if stat.S_ISDIR(st.st_mode):
        target = real_path(link)
        if real_path(folder).is_relative_to(target):
            return f"a link back to {target}: a folder cycle, not followed"
        return "a link to a folder, not followed (batch does not follow folder links; give that folder itself)"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a pipe, socket or device)" if wanted else ""
    return None


def scan_videos(in_dir: Path, pattern: str | None = None) -> VideoScan:
    """The videos under ``in_dir`` (``pattern``: a glob matched below it, never outside it) and the
    entries passed over: symbolic link loops, links to folders (never followed), broken links."""
    in_dir = Path(in_dir)
    if pattern:
        return _scan_pattern(in_dir, pattern)
    videos: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    stack = [in_dir]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped.append((folder, f"a folder that cannot be read ({err.strerror or err}), skipped"))
            continue
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            wanted = path.suffix.lower() in VIDEO_SUFFIXES
            if entry.is_symlink():
                why = _link_problem(path, folder, wanted)
                if why is None and wanted:
                    videos.append(path)
                elif why:
                    skipped.append((path, why))
            elif entry.is_dir(follow_symlinks=False):
                subdirs.append(path)
            elif wanted and entry.is_file(follow_symlinks=False):
                videos.append(path)
            elif wanted:
                skipped.append((path, "not a regular file (a pipe, socket or device)"))
        stack.extend(reversed(subdirs))
    return VideoScan(sorted(videos), sorted(skipped))


def _scan_pattern(in_dir: Path, pattern: str) -> VideoScan:
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise InputError(f"--pattern {pattern!r}: must match files inside {in_dir} (no absolute path, no '..')")
    root = real_path(in_dir)
    videos: list[Path] = []
    skipped: dict[Path, str] = {}
    for p in in_dir.rglob(pattern):
        rel = p.relative_to(in_dir)
        if STATE_DIR in rel.parts:
            continue
        # the glob follows folder links in a pattern's own parts ('*/*.mp4'); we do not (cycles, doubles)
        parents = (in_dir.joinpath(*rel.parts[:k]) for k in range(1, len(rel.parts)))
        via = next((d for d in parents if d.is_symlink()), None)
        if via is not None:
            skipped.setdefault(via, "a link to a folder, not followed")
            continue
        why = _link_problem(p, p.parent, True) if p.is_symlink() else None
        if why:
            skipped[p] = why
        elif p.is_file() and real_path(p).is_relative_to(root):
            videos.append(p)
    return VideoScan(sorted(videos), sorted(skipped.items()))


def find_videos(in_dir: Path, pattern: str | None = None) -> list[Path]:
    """The videos under ``in_dir`` (``pattern``: a glob matched below it, never outside it)."""
    return scan_videos(in_dir, pattern).videos


def output_for(in_dir: Path, out_dir: Path, src: Path) -> Path:
    return (out_dir / src.relative_to(in_dir)).with_suffix(OUTPUT_SUFFIX)


def _state_path(out_dir: Path, rel: Path) -> Path:
    return out_dir / STATE_DIR / (str(rel) + ".json")


def _write_state(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(record).encode())


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def remove_stale_partials(out_dir: Path) -> int:
    """Temporary files left by a killed run (outputs are renamed into place only when complete);
    those of a live process (another run on this folder) are left alone."""
    n = 0
    for p in out_dir.rglob("*.partial*"):
        if p.is_file() and p.name.startswith("."):
            if partial_alive(p):
                continue
            p.unlink(missing_ok=True)
            n += 1
    return n


def _claim_path(state: str) -> Path:
    return Path(state).with_suffix(".claim")


def _edit_one(src: str, out: str, state: str, job: BatchJob) -> FileResult:
    """Worker: claim one file and edit it; a file another live run holds, or has finished
    meanwhile, is skipped. Never raises for a user error (it becomes a failed result)."""
    claim = _claim_path(state)
    owner = try_claim(claim)
    if owner is not None:
        return FileResult(src, "skipped", 0, 0.0, f"being edited by another run (pid {owner.pid} on {owner.host})")
    try:
        record = _read_state(Path(state)) or {}
        if record.get("status") == "done" and Path(out).exists():
            return FileResult(src, "skipped", record.get("frames", 0), 0.0, "done by another run")
        if record.get("status") == "started":  # its run died after the renames, before the record: redo
            for p in (Path(out), *preview_paths(Path(out))):
                p.unlink(missing_ok=True)
        with heartbeat(claim):
            return _edit_claimed(src, out, state, job)
    finally:
        release(claim)


def _edit_claimed(src: str, out: str, state: str, job: BatchJob) -> FileResult:
    import torch

    torch.set_num_threads(max(1, job.threads))
    from pipelines.edit_video import edit_video
    from stitchtime.editors.registry import editor_for

    rel = Path(state).name
    t = time.perf_counter()
    try:
        check_output_path(Path(out), overwrite=job.overwrite) if Path(out).parent.exists() else None
        _write_state(Path(state), {"status": "started", "output": out, "time": time.time()})
        editor = editor_for(job.request)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        config = replace(job.request.pipeline, progress=False, track_workers=job.threads)
        res = edit_video(Path(src), Path(out), editor, config, overwrite=job.overwrite, preview=job.preview)
        metrics = {}
        if job.evaluate:
            from stitchtime.evaluate import evaluate

            metrics = evaluate(Path(src), Path(out)).to_json()
        elapsed = time.perf_counter() - t
        result = FileResult(src, "done", res.n_frames, elapsed, metrics=metrics, notes=list(res.notes), output=out)
    except StitchtimeError as err:
        result = FileResult(src, "failed", 0, time.perf_counter() - t, error=str(err).splitlines()[0])
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
        result = FileResult(
            src, "failed", 0, time.perf_counter() - t, error=f"{type(err).__name__}: {err}".splitlines()[0]
        )
    _write_state(Path(state), {**asdict(result), "output": out, "name": rel})
    return result


def run_batch(
    in_dir: Path,
    out_dir: Path,
    job: BatchJob,
    jobs: int = 1,
    pattern: str | None = None,
    retry_failed: bool = False,
    on_result=None,
    engine: str = "local",
    address: str | None = None,
) -> list[FileResult]:
    """Edit every video under ``in_dir`` into ``out_dir`` (see the module doc): ``engine`` "local"
    (``jobs`` processes here) or "ray" (one Ray task per file: :mod:`pipelines.batch_ray`)."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    check_not_a_loop(in_dir)
    check_not_a_loop(out_dir)
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: not a directory")
    from stitchtime.faces.reference import resolve_reference

    # a --reference-face photo is read once, here (a bad one is refused before any file); the
    # workers and Ray tasks get its descriptor
    job = replace(job, request=replace(job.request, pipeline=resolve_reference(job.request.pipeline)))
    if out_dir.resolve() == in_dir.resolve() or in_dir.resolve() in out_dir.resolve().parents:
        raise InputError(f"{out_dir}: the output folder must not be inside the input folder")
    # --codec: a video encoder that MP4 can hold, checked before any file is touched
    check_encoder(job.request.pipeline.encode, OUTPUT_SUFFIX, f"{out_dir} (batch writes {OUTPUT_SUFFIX} files)")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"{out_dir}: output directory is not writable")
    remove_stale_partials(out_dir)
    scan = scan_videos(in_dir, pattern)
    videos = scan.videos
    if not videos:
        passed = "; ".join(f"{p.relative_to(in_dir)}: {why}" for p, why in scan.skipped[:3])
        raise InputError(
            f"{in_dir}: no videos found"
            + (f" matching {pattern!r}" if pattern else "")
            + (f" (passed over {passed}{'; ...' if len(scan.skipped) > 3 else ''})" if passed else "")
        )
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs, cores, len(videos)))
    job = replace(job, threads=max(1, cores // jobs))
    # symbolic link loops, links to folders, ...: listed in the report (and the summary) as skipped
    results: list[FileResult] = [FileResult(str(p), "skipped", error=why) for p, why in scan.skipped]
    todo = []
    for src in videos:
        rel = src.relative_to(in_dir)
        out = output_for(in_dir, out_dir, src)
        state = _read_state(_state_path(out_dir, rel)) or {}
        status = state.get("status")
        if status == "done" and out.exists():
            results.append(FileResult(str(src), "skipped", state.get("frames", 0), 0.0, "already done"))
            continue
        if status == "failed" and not retry_failed:
            results.append(FileResult(str(src), "failed", 0, 0.0, state.get("error", "") + " (use --retry-failed)"))
            continue
        todo.append((str(src), str(out), str(_state_path(out_dir, rel)), job))
    if engine == "ray":
        from pipelines.batch_ray import run_on_ray

        results += run_on_ray(todo, address, on_result)
    elif jobs == 1:
        for args in todo:
            r = _edit_one(*args)
            results.append(r)
            if on_result:
                on_result(r)
    else:
        # spawned, not forked: the parent has loaded the models to check them (on CUDA, a forked
        # child cannot use the parent's context)
        with spawn_pool(jobs) as pool:
            futures = [pool.submit(_edit_one, *args) for args in todo]
            for fut in as_completed(futures):
                r = fut.result()
                results.append(r)
                if on_result:
                    on_result(r)
    order = {str(v): i for i, v in enumerate(sorted([*videos, *(p for p, _ in scan.skipped)]))}
    results.sort(key=lambda r: order.get(r.file, 0))
    atomic_write_bytes(out_dir / REPORT, json.dumps([asdict(r) for r in results], indent=2).encode())
    return results
