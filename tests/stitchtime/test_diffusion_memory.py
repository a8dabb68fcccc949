"""The diffusion editor's keyframe store (one preallocated block instead of a tensor per keyframe,
BENCHMARKS.md "Memory on long videos"): the same keyframe images, in keyframe order, as the
per-keyframe ``x[j].half()`` tensors it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stitchtime.editors.diffusion import KeyframeStore, keyframes


def _old_way(images: torch.Tensor, detected: np.ndarray, every: int) -> torch.Tensor:
    """What DiffusionEditor.fit kept before: a dict of every ``every``-th seen frame and the last one."""
    kept: dict[int, torch.Tensor] = {}
    last = None
    seen = 0
    for i in np.flatnonzero(detected):
        if seen % every == 0:
            kept[int(i)] = images[i].half()
        last = (int(i), images[i].half())
        seen += 1
    if last is not None:
        kept.setdefault(*last)
    return torch.stack([kept[int(i)] for i in keyframes(detected, every)])


@pytest.mark.parametrize("every", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("seed", range(6))
def test_store_holds_the_keyframes_bit_identical(every, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    detected = rng.random(n) < rng.choice([0.3, 0.8, 1.0])
    detected[int(rng.integers(n))] = True  # at least one face frame
    images = torch.from_numpy(rng.uniform(-1, 1, (n, 3, 8, 8)).astype(np.float32))
    store = KeyframeStore(n, every, (3, 8, 8))
    for i in np.flatnonzero(detected):
        store.add(int(i), images[i])
    keys = keyframes(detected, every)
    got = store.take(keys)
    assert got.dtype == torch.float16 and got.shape == (len(keys), 3, 8, 8)
    assert torch.equal(got, _old_way(images, detected, every))  # the same bits as .half()
    assert got.untyped_storage().data_ptr() == store.images.untyped_storage().data_ptr()  # a view, no copy


def test_store_is_one_block_sized_from_the_frame_count():
    store = KeyframeStore(15000, 4, (3, 64, 64))
    assert store.images.shape == (3751, 3, 64, 64)  # 3750 keyframes of 15000 face frames, and the last
    before = store.images.untyped_storage().data_ptr()
    for i in range(15000):  # every frame a face frame: the most slots it can need
        store.add(i, torch.zeros(3, 64, 64))
    assert store.images.untyped_storage().data_ptr() == before  # never reallocated
    assert store.take(keyframes(np.ones(15000, bool), 4)).shape[0] == 3751


def test_store_refuses_keys_it_did_not_see():
    store = KeyframeStore(10, 2, (3, 4, 4))
    for i in (0, 1, 2):
        store.add(i, torch.zeros(3, 4, 4))
    with pytest.raises(RuntimeError, match="out of step"):
        store.take(np.array([0, 1]))
