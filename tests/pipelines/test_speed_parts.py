"""The pieces that make the edit fast: prefetching, torch thread counts, bf16 inference, the
parallel identity descriptors, and the --fast preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generative.device import all_threads, fast_bf16, inference_autocast, torch_threads
from stitchtime.config import FAST_IDENTITY_SAMPLES, DetectConfig, PipelineConfig
from stitchtime.editors.registry import fast_preset
from stitchtime.errors import InputError
from stitchtime.faces.detect import chip_descriptor, face_chip, face_descriptor, make_backend
from stitchtime.parallel import cv2_threads, prefetch
from stitchtime.render.identity_guard import SCALE_TOLERANCE, Descriptors, largest_scale_within


def test_prefetch_keeps_order_and_raises_where_the_error_happened():
    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad frame")

    got = []
    with pytest.raises(ValueError, match="bad frame"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1, 2]


def test_leaving_a_prefetch_early_stops_and_closes_the_source():
    closed = []

    def source():
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    it = prefetch(source(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # (what a `break` out of the loop does)
    assert closed == [True]


def test_torch_threads_nest_and_all_threads_restores_the_outer_count():
    start = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with all_threads():
            assert torch.get_num_threads() == start
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == start
    with all_threads():  # outside torch_threads: no change
        assert torch.get_num_threads() == start


def test_cv2_threads_are_restored_when_the_last_open_block_ends():
    import threading

    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(3)  # (a count the blocks do not set: its restoring is seen)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():  # opens first, ends first (another edit's block still open)
        with cv2_threads(1):
            a_in.set()
            b_in.wait()
        a_out.set()

    t = threading.Thread(target=a)
    t.start()
    a_in.wait()
    with cv2_threads(1):
        b_in.set()
        a_out.wait()
        assert cv2.getNumThreads() == 1  # the other block's end leaves this one's count
    t.join()
    try:
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_inference_autocast():
    cpu = torch.device("cpu")
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8)
    with torch.no_grad():
        with inference_autocast(cpu, "fp32"):
            assert layer(x).dtype == torch.float32
        with inference_autocast(cpu, "bf16"):
            assert layer(x).dtype == torch.bfloat16
        with inference_autocast(cpu, "auto"):
            assert layer(x).dtype == (torch.bfloat16 if fast_bf16(cpu) else torch.float32)
    with pytest.raises(ValueError, match="valid: auto, bf16, fp32"):
        inference_autocast(cpu, "fp16")


def test_descriptors_from_chips_in_worker_processes_equal_dlib_on_the_frame():
    from skimage import data

    img = data.astronaut()
    faces = make_backend(DetectConfig()).detect(img)
    frames = [img, np.ascontiguousarray(img[:, ::-1])]
    landmarks = [faces[0].landmarks, make_backend(DetectConfig()).detect(frames[1])[0].landmarks]
    chips = [face_chip(f, lm) for f, lm in zip(frames, landmarks)] * 2
    with Descriptors(2) as parallel:
        assert parallel.pool is not None
        got = parallel(chips)
    with Descriptors(1) as serial:
        assert np.array_equal(serial(chips), got)
    assert np.array_equal(got[0], face_descriptor(img, landmarks[0]))  # dlib's own chip, same network
    assert (
        np.array_equal(got[0], chip_descriptor(chips[0])) and np.linalg.norm(got[0] - got[1]) < 0.6
    )  # the same person mirrored


def test_fast_preset():
    from stitchtime.editors.attributes import ATTRIBUTES
    from stitchtime.editors.registry import auto_method

    assert fast_preset() == ("auto", 0)  # auto, resolved without diffusion:
    assert auto_method(ATTRIBUTES["age"], fast=True) == "cond" and auto_method(ATTRIBUTES["age"]) == "diffusion"
    assert auto_method(ATTRIBUTES["smile"], fast=True) == auto_method(ATTRIBUTES["smile"]) == "geometry"
    assert fast_preset("direction", 30) == ("direction", 30)
    with pytest.raises(InputError, match="--fast edits with the cVAE"):
        fast_preset("diffusion")


def test_the_guard_keeps_its_frames_from_the_fit_pass(tmp_path):
    """The identity guard's sample frames come from the pass the editor makes anyway; it decodes
    the video again only for frames no pass showed it."""
    from skimage import data

    from stitchtime.render.identity_guard import IdentitySamples
    from stitchtime.types import CropPlan, FaceTrack
    from stitchtime.video_run import VideoRun

    img = data.astronaut()
    lm = make_backend(DetectConfig()).detect(img)[0].landmarks
    n = 40
    detected = np.ones(n, bool)
    detected[:5] = False  # bridged, not observed: never a sample
    track = FaceTrack(
        landmarks=np.repeat(lm[None], n, 0), detected=detected, valid=np.ones(n, bool), frame_size=(512, 512)
    )
    plan = CropPlan(
        matrices=np.zeros((n, 2, 3)),
        crop_landmarks=np.zeros((n, 68, 2)),
        valid=np.ones(n, bool),
        detected=detected,
        crop_size=256,
    )
    samples = IdentitySamples(VideoRun(None, None, PipelineConfig(), track, plan))
    assert len(samples.pick) == PipelineConfig().identity_samples and samples.pick[0] == 5 and samples.pick[-1] == n - 1
    for i in range(n):
        samples.see(i, img)
    assert sorted(samples.frames) == samples.pick.tolist()
    samples.collect(None)  # complete: no decode (there is no video)


@pytest.mark.parametrize(
    "distance, most",
    [(lambda s: 0.34 * s**1.3, 3), (lambda s: 0.02 + 0.6 * s * s, 5), (lambda s: 0.4 * round(40 * s) / 40 + 0.001, 10)],
    ids=["smooth", "convex", "steps"],
)
def test_the_guard_finds_the_largest_scale_within_the_limit(distance, most):
    """The guard's search returns a scale within the limit, no further than its tolerance below the
    crossing; on a smooth distance in fewer tries than the 6 a bisection takes (a distance that
    jumps may take more)."""
    limit, tries = 0.3, []

    def counted(s):
        tries.append(s)
        return distance(s)

    scale = largest_scale_within(counted, limit, distance(1.0))
    grid = np.linspace(0, 1, 100001)
    crossing = grid[np.argmax([distance(s) > limit for s in grid])]  # the first scale past the limit
    assert distance(scale) <= limit and crossing - SCALE_TOLERANCE <= scale < crossing
    assert len(tries) <= most, tries


def test_fast_measures_fewer_guard_frames():
    from pipelines.api import edit_request

    assert edit_request("smile").pipeline.identity_samples == PipelineConfig().identity_samples
    assert edit_request("smile", fast=True).pipeline.identity_samples == FAST_IDENTITY_SAMPLES
