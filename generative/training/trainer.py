"""One model-agnostic training loop (minGPT style). Families own their losses and optimisers.

The trainer owns: device, seeds, data order (DistributedSampler, exactly resumable), the loop,
EMA, sample grids, metrics CSV, tqdm progress, checkpoints/resume and the final export. Under
``torchrun`` it averages gradients across processes (see ``ddp.py``); only rank 0 writes files.

``TrainConfig.batch_size`` is the *global* batch: each of ``world_size`` processes gets
``batch_size // world_size`` images per step.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from generative.data.images import save_grid
from generative.device import pick_device
from generative.errors import CheckpointError, DatasetError
from generative.training import checkpoint as ckpt
from generative.training import ddp
from generative.training.ema import EMA
from generative.training.family import Family, StepOutput

SAMPLES_DIR = "samples"
METRICS_FILE = "metrics.csv"


@dataclass
class TrainConfig:
    out: Path
    steps: int
    batch_size: int = 64  # global, over all processes
    sample_every: int = 500
    ckpt_every: int = 1000
    log_every: int = 10  # metrics.csv rows (averages over this many steps)
    seed: int = 0
    workers: int = 0
    device: str | None = None  # None/"auto": cuda, then mps, then cpu
    ema_decay: float = 0.999
    resume: bool = False
    sample_n: int = 32
    progress: bool = True
    data: dict | None = None  # where the data came from (JSON types), kept in config.json as "data"


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    losses: dict[str, float]  # averages over the last log window
    images_per_second: float  # global throughput over the whole run (excluding set-up)
    model_path: Path | None  # the export (rank 0), None on other ranks


Callback = Callable[["Trainer", int, StepOutput], None]


class _OffsetSampler(Sampler[int]):
    """The indices of a DistributedSampler epoch, skipping the first ``offset`` (for exact resume)."""

    def __init__(self, base: DistributedSampler, offset: int) -> None:
        self.base, self.offset = base, offset

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.base)[self.offset :])

    def __len__(self) -> int:
        return max(len(self.base) - self.offset, 0)


class Trainer:
    """``Trainer(family, dataset, TrainConfig(...)).run()``. ``callbacks`` run after every step."""

    def __init__(
        self, family: Family, dataset: Dataset, config: TrainConfig, callbacks: tuple[Callback, ...] = ()
    ) -> None:
        self.family, self.dataset, self.config, self.callbacks = family, dataset, config, list(callbacks)
        self.run_dir = Path(config.out)
        self.step = 0

    # -- set-up ------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.config
        requested = pick_device(cfg.device)
        self.dist = ddp.init_from_env(requested.type)
        self.device = (
            torch.device("cuda", self.dist.local_rank) if requested.type == "cuda" and self.dist.enabled else requested
        )
        if cfg.batch_size % self.dist.world_size:
            raise DatasetError(f"batch size {cfg.batch_size} is not divisible by the {self.dist.world_size} processes")
        self.local_batch = cfg.batch_size // self.dist.world_size
        if len(self.dataset) < cfg.batch_size:  # type: ignore[arg-type]
            raise DatasetError(
                f"the data set has {len(self.dataset)} items, "  # type: ignore[arg-type]
                f"fewer than one batch of {cfg.batch_size}"
            )
        family = self.family
        family.to(self.device)  # type: ignore[attr-defined]
        family.train()  # type: ignore[attr-defined]
        if self.dist.enabled:
            ddp.broadcast_module(family)  # type: ignore[arg-type]
        self.optimizers = family.configure_optimizers()
        if self.dist.enabled:
            for optimizer in self.optimizers.values():
                ddp.average_gradients_before_step(optimizer, self.dist.world_size)
        modules = family.ema_modules()
        self.ema = EMA(modules, cfg.ema_decay) if modules and cfg.ema_decay > 0 else None
        torch.manual_seed(cfg.seed + self.dist.rank)  # per-process noise, flips; weights came from rank 0

        existing = ckpt.has_checkpoint(self.run_dir)
        if existing and not cfg.resume:
            raise CheckpointError(
                f"{self.run_dir} already holds a run; pass --resume to continue it or choose a new -o/--output"
            )
        if cfg.resume and existing:
            state = ckpt.load_checkpoint(self.run_dir, family, self.ema)
            for name, optimizer in self.optimizers.items():
                if name not in state.optimizers:
                    raise CheckpointError(f"{self.run_dir}: checkpoint lacks optimiser {name!r}")
                optimizer.load_state_dict(state.optimizers[name])
            self.step = state.step
            ckpt.set_rng_state(state.rng)
            if self.dist.enabled:  # each rank had its own RNG stream; keep them distinct after resume
                torch.manual_seed(cfg.seed + self.dist.rank + 1_000_003 * self.step)
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.write_config(self.run_dir, family, self.step, self.config.data)
        self.sampler = DistributedSampler(
            self.dataset,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=cfg.seed,
            drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // self.local_batch
        self.grid_batch = self._grid_batch()

    def _grid_batch(self) -> dict[str, torch.Tensor]:
        """The first ``sample_n`` items (fixed across the run), drawn without touching the RNG stream."""
        n = min(self.config.sample_n, len(self.dataset))  # type: ignore[arg-type]
        with torch.random.fork_rng(devices=[]):
            items = [self.dataset[i] for i in range(n)]
        return {key: torch.stack([item[key] for item in items]).to(self.device) for key in items[0]}

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Endless batches, continuing at ``self.step`` in the deterministic epoch order.

        Resume is bit-exact with ``workers=0`` (flips come from the checkpointed global RNG); with
        workers, the data order is still exact but the flips of a resumed epoch differ.
        """
        epoch, offset = divmod(self.step, self.steps_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            loader = DataLoader(
                self.dataset,
                batch_size=self.local_batch,
                sampler=_OffsetSampler(self.sampler, offset * self.local_batch),
                num_workers=self.config.workers,
                drop_last=True,
                pin_memory=self.device.type == "cuda",
                # its own generator: creating a loader must not consume the global RNG (exact resume)
                generator=torch.Generator().manual_seed(self.config.seed + 7919 * epoch + self.dist.rank),
            )
            for batch in loader:
                yield {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
            epoch, offset = epoch + 1, 0

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._setup()
        cfg, main = self.config, self.dist.is_main
        bar = tqdm(
            total=cfg.steps, initial=self.step, disable=not (cfg.progress and main), dynamic_ncols=True, unit="step"
        )
        window: dict[str, list[float]] = {}
        last: dict[str, float] = {}
        t_start, images, t_window, window_images = time.perf_counter(), 0, time.perf_counter(), 0
        batches = self._batches()
        try:
            while self.step < cfg.steps:
                out = self.family.training_step(next(batches), self.optimizers)
                self.step += 1
                if self.ema is not None:
                    self.ema.update(self.step)
                n = out.n_images * self.dist.world_size
                images, window_images = images + n, window_images + n
                for key, value in out.losses.items():
                    window.setdefault(key, []).append(value)
                for callback in self.callbacks:
                    callback(self, self.step, out)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.perf_counter()
                    rate = window_images / max(now - t_window, 1e-9)
                    last = {key: sum(v) / len(v) for key, v in window.items()}
                    if main:
                        self._log_metrics(last, rate)
                        bar.set_postfix(
                            {**{k: f"{v:.4g}" for k, v in last.items()}, "img/s": f"{rate:.1f}"}, refresh=False
                        )
                    window, t_window, window_images = {}, now, 0
                bar.update(1)
                if main and cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if main and cfg.ckpt_every and self.step % cfg.ckpt_every == 0:
                    ckpt.save_checkpoint(
                        self.run_dir, self.family, self.ema, self.optimizers, self.step, self.config.data
                    )
        finally:
            bar.close()
        elapsed = time.perf_counter() - t_start
        model_path = None
        if main:
            if not cfg.ckpt_every or self.step % cfg.ckpt_every:
                ckpt.save_checkpoint(self.run_dir, self.family, self.ema, self.optimizers, self.step, self.config.data)
            if not cfg.sample_every or self.step % cfg.sample_every:
                self.save_samples()
            model_path = ckpt.export(self.run_dir, self.family, self.ema, self.step, self.config.data)
        ddp.barrier(self.dist)
        ddp.shutdown(self.dist)
        return TrainResult(self.run_dir, self.step, last, images / max(elapsed, 1e-9), model_path)

    def save_samples(self) -> Path:
        """``samples/step_NNNNNNN.png`` from ``family.sample_grid`` with EMA weights; RNG stream untouched."""
        path = self.run_dir / SAMPLES_DIR / f"step_{self.step:07d}.png"
        with torch.random.fork_rng(devices=[]):
            if self.ema is not None:
                with self.ema.applied(self.family):  # type: ignore[arg-type]
                    grid = self.family.sample_grid(self.grid_batch, len(next(iter(self.grid_batch.values()))))
            else:
                grid = self.family.sample_grid(self.grid_batch, len(next(iter(self.grid_batch.values()))))
        return save_grid(grid, path)

    def _log_metrics(self, losses: dict[str, float], rate: float) -> None:
        path = self.run_dir / METRICS_FILE
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            keys = sorted(losses)
            if new:
                writer.writerow(["step", "time", "img_per_s", *keys])
            writer.writerow([self.step, f"{time.time():.3f}", f"{rate:.2f}", *(f"{losses[k]:.6g}" for k in keys)])
