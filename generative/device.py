"""Pick a torch device: CUDA, then Apple MPS, then CPU (overridable)."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """``name`` of ``None``/``"auto"`` picks the best available device."""
    if name and name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
