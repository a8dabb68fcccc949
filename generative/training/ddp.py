"""Data parallelism under ``torchrun``: process group from the environment, gradient averaging.

We do not wrap modules in ``DistributedDataParallel``: families run several forwards per step (GAN:
D on real, fake, then fake again for G) and call sub-module methods other than ``forward``. Instead
every optimiser's ``step()`` first averages the gradients of its own parameters over all processes
(one flat all-reduce per optimiser step; a step pre-hook), which is the same maths as DDP. Initial
parameters and buffers are broadcast from rank 0. Backend: NCCL for CUDA, gloo otherwise.

Requirement on families: on every process, the same parameters have gradients at each optimiser
step (true when all processes run the same code path), otherwise the all-reduce would hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False  # we created the process group (and should destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, False)
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, True)


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Make every process hold rank ``src``'s parameters and buffers."""
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src)


def average_gradients_before_step(optimizer: torch.optim.Optimizer, world_size: int) -> None:
    """Register a pre-step hook that replaces each gradient by its mean over the ``world_size`` processes."""

    def hook(opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    optimizer.register_step_pre_hook(hook)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
