"""The whole job, as a few readable passes over the video (bounded memory: frames are
streamed; only landmarks, matrices and whatever the editor keeps live across passes).

1. analyse: decode -> track the face -> landmarks per frame (``FaceTrack``)
2. plan: FFHQ quads -> temporal smoothing -> frame->crop matrices (``CropPlan``)
3. fit (editors that need it): decode -> crops -> ``editor.fit``
4. render: decode -> crops -> ``editor.delta`` -> paste -> encode (+ original audio)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import cv2
import numpy as np
import torch
from tqdm import tqdm

from generative.device import torch_threads
from stitchtime.config import AlignConfig, DetectConfig, EncodeConfig, MaskConfig, TrackConfig
from stitchtime.errors import InputError, NoFaceError
from stitchtime.faces.align import crop_matrices, crops_from_frames, quads_from_landmarks, smooth_quads, transform_points
from stitchtime.faces.detect import chip_descriptor, face_chip, load_descriptor_network, make_backend
from stitchtime.faces.track import FaceTracker, TrackPart
from stitchtime.io.decode import VideoReader
from stitchtime.io.encode import VideoWriter
from stitchtime.io.paths import check_output_path
from stitchtime.io.probe import probe
from stitchtime.latents.editor import CropBatch, CropEditor, IdentityEditor
from stitchtime.render.blend import BlendMode, paste_frames
from stitchtime.render.mask import face_masks
from stitchtime.render.sheet import grid, label, write_png
from stitchtime.temporal.smooth import gaussian_smooth
from stitchtime.types import EditResult, FaceTrack, VideoMeta

PREVIEW_HEIGHT = 360  # side-by-side preview video height (px)
PREVIEW_TILES = 4  # frames on the preview sheet
PREVIEW_CROP = 192  # face crop size on the preview sheet
IDENTITY_SAMPLES = 12  # face frames the identity guard measures (evenly spaced)
IDENTITY_STEPS = 6  # bisection steps of the guard's scale (resolution 1/64)

# Landmarks used for the mask are smoothed this much (frames) so the mask edge does not jitter.
MASK_LANDMARK_SIGMA = 1.0
# Videos shorter than this are tracked by one process: forking, seeking and a second first
# detection cost more than they save (measured: 78 frames 0.33 s alone, 0.47 s split; 103-225
# frames save 10-25%).
MIN_SPLIT_FRAMES = 96


@dataclass(frozen=True)
class PipelineConfig:
    detect: DetectConfig = DetectConfig()
    track: TrackConfig = TrackConfig()
    align: AlignConfig = AlignConfig()
    mask: MaskConfig = MaskConfig()
    encode: EncodeConfig = EncodeConfig()
    blend: BlendMode = BlendMode.delta
    batch_size: int = 16
    progress: bool = True
    track_workers: int = 2  # processes for pass 1 (tracking) and the identity guard's descriptors; 1 in batch jobs that share the cores
    # torch CPU threads in the passes over the video (fit, guard, render), where the ffmpeg decoder
    # and encoder and a prefetch thread share the cores; the editors' heavy steps (tuning, DDIM
    # keyframes) use all of them. Measured (d3, cVAE edit): the decodes 1.5x faster with 1 than 2.
    stream_threads: int = 1
    # Identity guard: when the edit would move dlib's identity descriptor further than this from the
    # original's (mean over sampled frames), the whole edit is scaled down, the same on every frame,
    # until it does not. 0: off. (Issue 4's target is 0.35 over all frames; 0.3 leaves room for
    # the frames the guard does not sample.)
    identity_limit: float = 0.3


@dataclass
class CropPlan:
    """Where to crop each frame: matrices (frame->crop), crop-space landmarks, validity."""

    matrices: np.ndarray  # (T, 2, 3), NaN where invalid
    crop_landmarks: np.ndarray  # (T, 68, 2) in crop pixels (smoothed), NaN where invalid
    valid: np.ndarray  # (T,) bool
    detected: np.ndarray  # (T,) bool: face observed (valid but not detected = bridged gap)
    crop_size: int
    notes: list[str] = field(default_factory=list)
    mask: MaskConfig = MaskConfig()


def _bar(it, total: int, desc: str, enabled: bool):
    return tqdm(it, total=total, desc=desc, unit="frame", leave=False, disable=not enabled, dynamic_ncols=True)


def _track_stretch(tracker: FaceTracker, path: Path, meta: VideoMeta, start: int, stop: int, bar: bool) -> FaceTracker:
    with VideoReader(path, meta, start, stop) as reader:
        for frame in _bar(reader, stop - start, "track faces", bar):
            tracker.update(frame)
    return tracker


def _track_tail(path: Path, meta: VideoMeta, config: PipelineConfig, start: int) -> TrackPart:
    """Child process: track ``[start, end)`` with a fresh tracker (inherits the loaded models)."""
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    return _track_stretch(tracker, path, meta, start, meta.n_frames, False).part()


def analyse(path: Path, meta: VideoMeta, config: PipelineConfig) -> FaceTrack:
    """Pass 1: landmarks of the tracked face in every frame.

    Tracking is single-threaded (dlib), so with ``config.track_workers >= 2`` a forked child
    tracks the second half while this process tracks the first (pass 1 takes ~half the time).
    The halves are joined only if the child followed the same person (dlib descriptor);
    otherwise this process tracks the second half too, exactly as a single worker would."""
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    n = meta.n_frames
    split = config.track_workers >= 2 and n >= MIN_SPLIT_FRAMES and "fork" in multiprocessing.get_all_start_methods()
    if not split:
        return _track_stretch(tracker, path, meta, 0, n, config.progress).finish()
    mid = n // 2
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        tail = pool.submit(_track_tail, path, meta, config, mid)
        _track_stretch(tracker, path, meta, 0, mid, config.progress)
        part = tail.result()
    if tracker.same_person(part):
        tracker.extend(part)
    else:
        _track_stretch(tracker, path, meta, mid, n, config.progress)
    return tracker.finish()


def plan_crops(track: FaceTrack, meta: VideoMeta, config: PipelineConfig) -> CropPlan:
    """Smoothed FFHQ quads -> crop matrices; landmarks mapped into crop space for masks."""
    sar = float(meta.sar)
    quads = smooth_quads(quads_from_landmarks(track.landmarks, track.valid, sar), config.align, sar)
    matrices = crop_matrices(quads, config.align.crop_size)
    smooth_lm = gaussian_smooth(track.landmarks, track.valid, MASK_LANDMARK_SIGMA)
    crop_lm = np.full_like(smooth_lm, np.nan)
    v = quads.valid
    crop_lm[v] = transform_points(matrices[v], smooth_lm[v])
    return CropPlan(
        matrices=matrices, crop_landmarks=crop_lm, valid=v, detected=track.detected & v, crop_size=config.align.crop_size, notes=list(track.notes), mask=config.mask
    )


def _batches(path: Path, meta: VideoMeta, n: int, desc: str, progress: bool) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Decode, yielding ``(frame_indices, frames)`` in groups of ``n``."""
    idx: list[int] = []
    frames: list[np.ndarray] = []
    with VideoReader(path, meta) as reader:
        for i, frame in enumerate(_bar(reader, meta.n_frames, desc, progress)):
            idx.append(i)
            frames.append(frame)
            if len(frames) == n:
                yield idx, frames
                idx, frames = [], []
    if frames:
        yield idx, frames


T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced ahead on a background thread (the decode and the crop warps release
    the GIL, so they overlap the editor's work). At most ``depth`` items wait, one more is being
    made: with groups of frames that is the memory it costs (16 frames of 4K are 400 MB).
    Errors are raised here; leaving early stops the producer and closes ``items``."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    threads = torch.get_num_threads()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        torch.set_num_threads(threads)  # OpenMP's thread count is per thread: match the caller's
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put(err)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _crop_batch(plan: CropPlan, idx: list[int], frames: list[np.ndarray]) -> tuple[list[int], CropBatch | None]:
    """Crops of the valid frames among ``idx`` (positions in the group, and the batch)."""
    pos = [k for k, i in enumerate(idx) if plan.valid[i]]
    if not pos:
        return pos, None
    fi = np.array([idx[k] for k in pos])
    sub = [frames[k] for k in pos]
    crops = lambda: crops_from_frames(sub, plan.matrices[fi], plan.crop_size)  # noqa: E731 - computed if an editor reads them
    masks = face_masks(plan.crop_landmarks[fi], plan.crop_size, plan.mask)
    return pos, CropBatch(frame_indices=torch.from_numpy(fi), crops_source=crops, masks=masks, detected=torch.from_numpy(plan.detected[fi]))


def iter_crops(
    path: Path, meta: VideoMeta, plan: CropPlan, config: PipelineConfig, desc: str = "crops", on_frame: Callable[[int, np.ndarray], None] | None = None
) -> Iterator[CropBatch]:
    """Aligned crops of every valid frame, in frame order (a pass over the video; decoded and
    warped one batch ahead on a background thread, which also shows ``on_frame`` every frame)."""

    def batches() -> Iterator[CropBatch]:
        for idx, frames in _batches(path, meta, config.batch_size, desc, config.progress):
            if on_frame is not None:
                for i, frame in zip(idx, frames):
                    on_frame(i, frame)
            _, batch = _crop_batch(plan, idx, frames)
            if batch is not None:
                batch.crops  # noqa: B018 - warp on the prefetch thread
                yield batch

    return prefetch(batches())


class Descriptors:
    """dlib identity descriptors of face chips (0.12-0.18 s a chip; dlib holds the GIL), on
    ``workers`` forked processes, or in this one when ``workers`` < 2 or fork is missing. Use as a
    context manager, and briefly: a forked worker's copy of this process's memory stops being
    shared as this process goes on writing to its own."""

    def __init__(self, workers: int):
        self.workers = workers if workers >= 2 and "fork" in multiprocessing.get_all_start_methods() else 1
        self.pool: ProcessPoolExecutor | None = None
        if self.workers > 1:
            load_descriptor_network()  # the workers inherit it
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))

    def __enter__(self) -> "Descriptors":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __call__(self, chips: list[np.ndarray]) -> np.ndarray:
        """``(N, 128)`` descriptors of ``chips``, split evenly between the workers."""
        if self.pool is None or len(chips) < 2:
            return np.stack([chip_descriptor(c) for c in chips])
        return np.stack(list(self.pool.map(chip_descriptor, chips, chunksize=-(-len(chips) // self.workers))))


class IdentitySamples:
    """The identity guard's frames: up to ``IDENTITY_SAMPLES`` evenly spaced frames where the face
    was observed. :meth:`see` keeps them as a pass decodes them, so the guard needs no pass of
    its own."""

    def __init__(self, track: FaceTrack, plan: CropPlan):
        frames_with_face = np.flatnonzero(plan.valid & track.detected & np.isfinite(track.landmarks).all(axis=(1, 2)))
        n = min(IDENTITY_SAMPLES, len(frames_with_face))
        self.pick = frames_with_face[np.linspace(0, len(frames_with_face) - 1, n).round().astype(int)] if n else frames_with_face
        self.landmarks = track.landmarks
        self.frames: dict[int, np.ndarray] = {}
        self._wanted = set(self.pick.tolist())

    def see(self, i: int, frame: np.ndarray) -> None:
        if i in self._wanted and i not in self.frames:
            self.frames[i] = frame.copy()

    def collect(self, path: Path, meta: VideoMeta, config: PipelineConfig) -> None:
        """Decode whatever frames no pass has shown :meth:`see` yet."""
        if self._wanted <= self.frames.keys():
            return
        for idx, frames in _batches(path, meta, config.batch_size, "identity", config.progress):
            for i, frame in zip(idx, frames):
                self.see(i, frame)


def identity_scale(path: Path, meta: VideoMeta, plan: CropPlan, editor: CropEditor, config: PipelineConfig, samples: IdentitySamples) -> tuple[float, float]:
    """How much of the editor's change the video can take and keep the person: the largest scale
    in [0, 1] (bisection) at which the mean distance between dlib identity descriptors of original
    and edited frames, on the guard's sample frames, is at most ``config.identity_limit``; the
    editor makes the smaller edit itself (``delta(batch, scale)``).
    Returns ``(scale, distance at full strength)``."""
    if len(samples.pick) == 0:
        return 1.0, 0.0
    samples.collect(path, meta, config)
    groups: list[tuple[CropBatch, list[np.ndarray], list[np.ndarray], np.ndarray]] = []
    for start in range(0, len(samples.pick), config.batch_size):
        idx = samples.pick[start : start + config.batch_size].tolist()
        pos, batch = _crop_batch(plan, idx, [samples.frames[i] for i in idx])
        if batch is not None:
            chosen = [idx[k] for k in pos]
            groups.append((batch, [samples.frames[i] for i in chosen], [samples.landmarks[i] for i in chosen], plan.matrices[chosen]))

    with Descriptors(config.track_workers) as descriptors:
        ref = descriptors([face_chip(f, lm) for _, frames_in, landmarks, _ in groups for f, lm in zip(frames_in, landmarks)])

        def distance(s: float) -> float:
            chips = []
            for batch, frames_in, landmarks, mats in groups:
                edited = paste_frames([f.copy() for f in frames_in], editor.delta(batch, s), batch.masks, mats)  # (paste writes in place)
                chips += [face_chip(e, lm) for e, lm in zip(edited, landmarks)]
            return float(np.mean(np.linalg.norm(descriptors(chips) - ref, axis=1)))

        full = distance(1.0)
        if full <= config.identity_limit:
            return 1.0, full
        lo, hi = 0.0, 1.0
        for _ in range(IDENTITY_STEPS):
            mid = (lo + hi) / 2
            if distance(mid) <= config.identity_limit:
                lo = mid
            else:
                hi = mid
        return lo, full


def preview_paths(output: Path) -> tuple[Path, Path]:
    """Side-by-side video and PNG sheet written next to ``output`` by ``--preview``."""
    return output.with_name(output.stem + ".preview.mp4"), output.with_name(output.stem + ".preview.png")


def _side_by_side_meta(meta: VideoMeta, path: Path) -> VideoMeta:
    h = min(meta.height, PREVIEW_HEIGHT) // 2 * 2
    w = round(meta.width * float(meta.sar) * h / meta.height) // 2 * 2
    return replace(meta, path=path, width=2 * w, height=h, sar=Fraction(1, 1), has_audio=False, audio_codec=None)


def edit_video(
    path: Path,
    output: Path,
    editor: CropEditor | None = None,
    config: PipelineConfig = PipelineConfig(),
    overwrite: bool = False,
    preview: bool = False,
) -> EditResult:
    """Edit the tracked face of ``path`` and write ``output`` (same frames, timing, size, audio).

    With ``preview`` also writes a side-by-side video (original | edited) and a PNG sheet of
    face crops (top: original, bottom: edited) next to ``output``."""
    start = time.perf_counter()
    path, output = Path(path), Path(output)
    check_output_path(output, overwrite=overwrite)
    preview_video, preview_png = preview_paths(output)
    if preview:
        check_output_path(preview_video, overwrite=overwrite)
        check_output_path(preview_png, overwrite=overwrite)
    if output.resolve() == path.resolve():
        raise InputError(f"{output}: output would overwrite the input; choose another path")
    editor = editor or IdentityEditor()
    if getattr(editor, "mask", None) is not None:
        config = replace(config, mask=editor.mask)
    meta = probe(path)
    track = analyse(path, meta, config)
    if not track.valid.any():
        tiny = next((n for n in track.notes if "smaller than" in n), None)
        if tiny:
            raise NoFaceError(f"{path.name}: no face large enough to edit ({tiny})")
        raise NoFaceError(f"{path.name}: no face found in any of its {meta.n_frames} frames")
    plan = plan_crops(track, meta, config)
    with torch_threads(config.stream_threads):
        scale = _fit(path, meta, track, plan, editor, config)
        _render(path, output, meta, plan, editor, config, scale, overwrite, preview)
    return EditResult(
        output=output,
        n_frames=meta.n_frames,
        n_face_frames=int(plan.valid.sum()),
        seconds=time.perf_counter() - start,
        notes=plan.notes,
        preview=preview_video if preview else None,
    )


def _fit(path: Path, meta: VideoMeta, track: FaceTrack, plan: CropPlan, editor: CropEditor, config: PipelineConfig) -> float:
    """Pass 3 (the editor sees the video) and the identity guard; returns the edit's scale."""
    if not editor.needs_fit:
        return 1.0
    if config.blend is not BlendMode.delta or config.identity_limit <= 0:
        editor.fit(lambda: iter_crops(path, meta, plan, config, "invert"), meta.n_frames)
        return 1.0
    samples = IdentitySamples(track, plan)
    editor.fit(lambda: iter_crops(path, meta, plan, config, "invert", on_frame=samples.see), meta.n_frames)
    scale, full = identity_scale(path, meta, plan, editor, config, samples)
    if scale < 1.0:
        plan.notes.append(
            f"identity guard: the edit moved the identity descriptor {full:.2f} from the original "
            f"(limit {config.identity_limit:g}), so it is applied at {scale:.2f} of its strength"
            + (" (almost no edit is left: this model cannot make it on this face without changing the person)" if scale < 0.1 else "")
        )
    return scale


def _render(path: Path, output: Path, meta: VideoMeta, plan: CropPlan, editor: CropEditor, config: PipelineConfig, scale: float, overwrite: bool, preview: bool) -> None:
    """Pass 4: decode -> crops -> the editor's change -> paste -> encode (+ the preview)."""
    preview_video, preview_png = preview_paths(output)
    needs_crops = not isinstance(editor, IdentityEditor) or config.blend is not BlendMode.delta
    face_frames = np.flatnonzero(plan.valid)
    sheet_at = set(face_frames[np.linspace(0, len(face_frames) - 1, min(PREVIEW_TILES, len(face_frames))).round().astype(int)].tolist())
    sheet: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(
            VideoWriter(output, meta, config.encode, overwrite=overwrite, audio_from=path if meta.has_audio else None)
        )
        side = None
        if preview:
            side_meta = _side_by_side_meta(meta, preview_video)
            side = stack.enter_context(VideoWriter(preview_video, side_meta, config.encode, overwrite=overwrite))
        for idx, frames, originals, pos, batch in prefetch(_render_batches(path, meta, plan, config, needs_crops, preview)):
            if batch is not None:
                content = editor.delta(batch, scale) if config.blend is BlendMode.delta else editor.edited(batch)
                mats = plan.matrices[batch.frame_indices.numpy()]
                out = paste_frames([frames[k] for k in pos], content, batch.masks, mats, config.blend)
                for j, k in enumerate(pos):
                    frames[k] = out[j]
            for frame in frames:
                writer.write(frame)
            if side is not None:
                for i, a, b in zip(idx, originals, frames):
                    side.write(_side_by_side(a, b, side_meta))
                    if i in sheet_at:
                        sheet[i] = (a, b)
        if preview:
            write_png(preview_png, _preview_sheet(sheet, plan))


def _render_batches(path: Path, meta: VideoMeta, plan: CropPlan, config: PipelineConfig, needs_crops: bool, keep: bool):
    """What the render pass needs of each group of frames (made on the prefetch thread)."""
    for idx, frames in _batches(path, meta, config.batch_size, "render", config.progress):
        originals = [f.copy() for f in frames] if keep else None
        pos, batch = _crop_batch(plan, idx, frames)
        if batch is not None and needs_crops:
            batch.crops  # noqa: B018 - warp here, on the prefetch thread
        yield idx, frames, originals, pos, batch


def _side_by_side(original: np.ndarray, edited: np.ndarray, meta: VideoMeta) -> np.ndarray:
    w, h = meta.width // 2, meta.height
    a = cv2.resize(original, (w, h), interpolation=cv2.INTER_AREA)
    b = cv2.resize(edited, (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([a, b], axis=1)


def _preview_sheet(pairs: dict[int, tuple[np.ndarray, np.ndarray]], plan: CropPlan) -> np.ndarray:
    """Face crops of a few frames: originals on the top row, edits below."""
    order = sorted(pairs)
    mats = plan.matrices[order] * (PREVIEW_CROP / plan.crop_size)  # the whole aligned crop, at preview size
    top = crops_from_frames([pairs[i][0] for i in order], mats, PREVIEW_CROP)
    bottom = crops_from_frames([pairs[i][1] for i in order], mats, PREVIEW_CROP)
    tiles = [t.round().clamp(0, 255).byte().permute(1, 2, 0).numpy() for t in torch.cat([top, bottom])]
    tiles = [label(t, f"frame {i}") for t, i in zip(tiles[: len(order)], order)] + [label(t, "edited") for t in tiles[len(order) :]]
    return grid(tiles, cols=len(order))
