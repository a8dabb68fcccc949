"""Run folders, checkpoints and the exported model.

A run folder holds::

    config.json            {"format", "format_version", "family", "config", "cond_names", "step",
                            "data": where the training data came from (the trainer's
                            ``TrainConfig.data``, e.g. {"kind", "root", "domain"}; absent if unknown)}
    model.safetensors      the export: family state_dict with EMA weights where the family has EMA
    checkpoint/            the last checkpoint, for --resume
        model.safetensors  live weights (metadata: step)
        ema.safetensors    EMA shadow (if any)
        state.pt           optimiser states, step, RNG states: plain tensors/dicts, read with
                           torch.load(weights_only=True)
    samples/step_*.png, metrics.csv

Weights only ever go through safetensors; nothing is pickled. Every file is written to a temporary
name and renamed into place. Any problem reading a run or model file raises one
:class:`CheckpointError` with one clear line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from generative.errors import CheckpointError
from generative.registry import FAMILIES, config_from_dict, family_class
from generative.training.ema import EMA
from generative.training.family import FamilyBase

FORMAT = "generative-family"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoint"
EMA_FILE = "ema.safetensors"
STATE_FILE = "state.pt"


def _atomic(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    tmp = _atomic(path)
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"model weights not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{path} is not a readable safetensors file "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None


def config_record(family: Any, step: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    config = dataclasses.asdict(family.config)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family.family,
        "config": config,
        "cond_names": list(config.get("cond_names", [])),
        "step": step,
    }
    if data is not None:
        record["data"] = data
    return record


def write_config(run_dir: Path, family: Any, step: int, data: dict[str, Any] | None = None) -> Path:
    path = Path(run_dir) / CONFIG_FILE
    tmp = _atomic(path)
    tmp.write_text(json.dumps(config_record(family, step, data), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{CONFIG_FILE} not found beside the model: {path}")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f'{path} is not a generative model config (no "format": "{FORMAT}")')
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {record.get('format_version')}; this code reads <= {FORMAT_VERSION}"
        )
    if record.get("family") not in FAMILIES:
        raise CheckpointError(f"{path}: unknown model family {record.get('family')!r}; valid: {', '.join(FAMILIES)}")
    if not isinstance(record.get("config"), dict):
        raise CheckpointError(f'{path}: missing "config" object')
    return record


def family_from_record(record: dict[str, Any], device: str | torch.device | None = None) -> FamilyBase:
    """The family a config record describes, built on ``device`` (``"meta"``: shapes only, no memory).
    Raises CheckpointError for a config it cannot build (wrong types, negative or absurd sizes)."""
    cls = family_class(record["family"])
    try:
        config = config_from_dict(cls.Config, record["config"])
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return cls(config)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any config that cannot build is the same user error
        raise CheckpointError(
            f"its config cannot build a {record['family']} model ({type(err).__name__}: {err})"
        ) from None


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes in a safetensors file's header (no tensor is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({str(err).splitlines()[0]})") from None


def check_shapes(family: Any, shapes: dict[str, tuple[int, ...]], source: Path) -> None:
    """The state dict of ``family`` (real, or built on the meta device) against tensor shapes."""
    expected = {k: tuple(v.shape) for k, v in family.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{source} does not match a {family.family} model with this config ({detail})")
    for key, shape in shapes.items():
        if shape != expected[key]:
            raise CheckpointError(f"{source}: {key} has shape {shape}, the config needs {expected[key]}")


def load_weights_into(family: Any, tensors: dict[str, torch.Tensor], source: Path) -> None:
    check_shapes(family, {k: tuple(v.shape) for k, v in tensors.items()}, source)
    family.load_state_dict(tensors)


def export(run_dir: Path, family: Any, ema: EMA | None, step: int, data: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` (EMA weights where present) and ``config.json``."""
    run_dir = Path(run_dir)
    state = ema.merged_state(family) if ema is not None else family.state_dict()
    save_tensors(state, run_dir / MODEL_FILE, {"format": FORMAT, "family": family.family, "step": str(step)})
    write_config(run_dir, family, step, data)
    return run_dir / MODEL_FILE


def _locate(path: str | os.PathLike) -> tuple[Path, Path]:
    """(run folder, weights file) of a run folder or a model file."""
    path = Path(path)
    if path.is_dir():
        run_dir = path
        weights = run_dir / MODEL_FILE
        if not weights.is_file() and (run_dir / CHECKPOINT_DIR / MODEL_FILE).is_file():
            weights = run_dir / CHECKPOINT_DIR / MODEL_FILE
        return run_dir, weights
    if path.exists():
        return path.parent, path
    raise CheckpointError(f"model not found: {path}")


def read_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config record of a run folder or model file (found as :func:`load_family` finds it)."""
    return read_config(_locate(path)[0] / CONFIG_FILE)


def load_family(path: str | os.PathLike, device: str | torch.device | None = None) -> FamilyBase:
    """Load a trained family from a run folder or a ``model.safetensors`` (``config.json`` beside it).

    A run folder without an export yet falls back to its last checkpoint (EMA weights if present).
    The family (its own subclass of :class:`FamilyBase`; check with ``isinstance`` for a kind) is
    returned in eval mode. Raises CheckpointError for anything missing, truncated,
    foreign or inconsistent.
    """
    run_dir, weights = _locate(path)
    record = read_config(run_dir / CONFIG_FILE)
    ema = weights.parent / EMA_FILE if weights.parent.name == CHECKPOINT_DIR else None
    ema = ema if ema is not None and ema.is_file() else None
    # Before anything is allocated: the config builds (on the meta device: shapes, no memory) and
    # its shapes are the file's (a config asking for 1e9 channels fails here, not after 108 GB).
    shapes = {**header_shapes(weights), **(header_shapes(ema) if ema is not None else {})}
    try:
        check_shapes(family_from_record(record, device="meta"), shapes, weights)
    except CheckpointError as err:
        raise CheckpointError(f"{run_dir / CONFIG_FILE}: {err}") from None
    family = family_from_record(record)
    tensors = load_tensors(weights)
    if ema is not None:
        tensors.update(load_tensors(ema))
    load_weights_into(family, tensors, weights)
    if device is not None:
        family.to(device)
    return family.eval()


# -- checkpoints for resume ------------------------------------------------------------------------


@dataclass
class TrainState:
    """What a checkpoint restores besides the weights."""

    step: int
    optimizers: dict[str, dict]
    rng: dict[str, Any]


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "python": torch.tensor(py_internal, dtype=torch.int64),
        "python_version": int(py_version),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path,
    family: Any,
    ema: EMA | None,
    optimizers: dict[str, torch.optim.Optimizer],
    step: int,
    data: dict[str, Any] | None = None,
) -> Path:
    folder = Path(run_dir) / CHECKPOINT_DIR
    meta = {"format": FORMAT, "family": family.family, "step": str(step)}
    save_tensors(family.state_dict(), folder / MODEL_FILE, meta)
    if ema is not None:
        save_tensors(ema.state_dict(), folder / EMA_FILE, meta)
    state = {
        "step": step,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": rng_state(),
    }
    tmp = _atomic(folder / STATE_FILE)
    torch.save(state, tmp)
    os.replace(tmp, folder / STATE_FILE)
    write_config(run_dir, family, step, data)
    return folder


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_DIR / STATE_FILE).is_file()


def load_checkpoint(run_dir: Path, family: Any, ema: EMA | None) -> TrainState:
    """Restore weights (and EMA) into ``family``; return optimiser states, step and RNG states."""
    run_dir = Path(run_dir)
    record = read_config(run_dir / CONFIG_FILE)
    if record["family"] != family.family:
        raise CheckpointError(f"{run_dir} holds a {record['family']} run, not {family.family}")
    if record["config"] != json.loads(json.dumps(dataclasses.asdict(family.config))):
        raise CheckpointError(
            f"{run_dir} was trained with a different config; resume with the same options or use a new -o/--output"
        )
    folder = run_dir / CHECKPOINT_DIR
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file  # noqa: BLE001
        raise CheckpointError(f"{folder / STATE_FILE} is unreadable ({type(err).__name__})") from None
    tensors = load_tensors(folder / MODEL_FILE)
    load_weights_into(family, tensors, folder / MODEL_FILE)
    with safe_open(str(folder / MODEL_FILE), "pt") as f:
        weights_step = (f.metadata() or {}).get("step")
    if weights_step != str(state.get("step")):
        raise CheckpointError(
            f"{folder}: weights (step {weights_step}) and state (step {state.get('step')}) disagree; "
            "the save was interrupted"
        )
    if ema is not None:
        try:
            ema.load_state_dict(load_tensors(folder / EMA_FILE))
        except KeyError as err:
            raise CheckpointError(f"{folder / EMA_FILE}: {err}") from None
    return TrainState(step=int(state["step"]), optimizers=state["optimizers"], rng=state["rng"])
