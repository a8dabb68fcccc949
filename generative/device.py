"""Pick a torch device (CUDA, then Apple MPS, then CPU), its inference precision, and how many
CPU threads torch uses while other work shares the cores."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from generative.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def pick_device(name: str | None = None) -> torch.device:
    """``name`` of ``None``/``"auto"`` picks the best available device (CUDA, then MPS, then the CPU);
    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` asks for one. Raises :class:`DeviceError` for an
    unknown name or a device this machine does not have."""
    if not name or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} asked for, but this machine has no usable CUDA GPU (use --device cpu or auto)"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r} asked for, but Apple MPS is not available here (use --device cpu or auto)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    return device


def fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 runs natively here: CUDA GPUs that support it, CPUs with AVX512-BF16 or
    AMX (oneDNN). Elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def inference_autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Autocast for inference: ``"bf16"`` always, ``"auto"`` where bf16 is native
    (:func:`fast_bf16`), ``"fp32"`` never. Outputs may come back as bfloat16: call ``.float()``."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}; valid: auto, bf16, fp32")
    on = precision == "bf16" or (precision == "auto" and fast_bf16(device))
    if not on or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


_outer_threads: list[int] = []  # thread counts saved by torch_threads(), outermost first


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (restored after). The video passes use one:
    the ffmpeg decoder and encoder run beside them, and torch's spinning worker threads would
    fight them for the cores (measured: the decode of a cVAE edit 1.5x faster on 2 cores)."""
    _outer_threads.append(torch.get_num_threads())
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(_outer_threads.pop())


def all_threads() -> contextlib.AbstractContextManager:
    """Inside :func:`torch_threads`: the thread count from before the outermost one, for heavy
    compute that has the cores to itself (DDIM keyframes, decoder tuning)."""
    return torch_threads(_outer_threads[0]) if _outer_threads else contextlib.nullcontext()
