"""Model commands: train, sample (`prepare` is in commands/prepare.py).

Multi-process training (DDP) runs the same command under torchrun, as a module:

    torchrun --nproc_per_node 2 -m cli train cvae --data DIR --steps 20000 -o runs/cvae

(``stitchtime`` must not import ``cli``, so there is no ``python -m stitchtime``; ``-m cli`` is
the entry point for torchrun. ``--batch-size`` is the global batch, split over the processes.)
"""

from __future__ import annotations

import contextlib
import math
from enum import Enum
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from commands._common import friendly_errors
from commands.set_values import parse_sets as _parse_sets
from generative.models.ddpm import Sampler
from generative.registry import FAMILIES
from stitchtime.errors import InputError, ModelError
from stitchtime.io.paths import check_not_a_loop

FamilyName = Enum("FamilyName", {name: name for name in FAMILIES}, type=str)  # type: ignore[misc]
FamilyName.__doc__ = "Registered model families (generative.registry.FAMILIES)."


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """generative's errors -> stitchtime's (one line on stderr, non-zero exit)."""
    from generative.errors import CheckpointError, DatasetError

    try:
        yield
    except CheckpointError as err:
        raise ModelError(str(err)) from None
    except DatasetError as err:
        raise InputError(str(err)) from None


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InputError("--attrs needs at least one attribute name, e.g. --attrs Smiling,Young")
    return names


@friendly_errors
def train(
    family: FamilyName = typer.Argument(..., case_sensitive=False, help="Model family to train."),
    data: Path = typer.Option(
        ...,
        "--data",
        exists=True,
        file_okay=False,
        help="Data folder (image folder, prepared/raw CelebA, paired or unpaired folders).",
    ),
    steps: int = typer.Option(
        ..., "--steps", min=1, help="Total optimisation steps (a resumed run continues to this number)."
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Run folder: config.json, model.safetensors, checkpoint/, samples/, metrics.csv."
    ),
    out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Old spelling of --output."),
    attrs: Optional[str] = typer.Option(
        None, "--attrs", help="Conditional families: comma-separated CelebA attributes, e.g. Smiling,Young,Male."
    ),
    domain: Optional[str] = typer.Option(
        None, "--domain", help="Unpaired families on CelebA: the attribute splitting domain A (0) from B (1)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Global batch size (over all torchrun processes)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default: the family's)."),
    image_size: Optional[int] = typer.Option(
        None, "--image-size", help="Training resolution (default: the family's, 64)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps."),
    sample_every: int = typer.Option(
        500, "--sample-every", min=0, help="Write samples/step_N.png every N steps (0: only at the end)."
    ),
    ckpt_every: int = typer.Option(1000, "--ckpt-every", min=0, help="Checkpoint every N steps (0: only at the end)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights' initialisation, data order and noise."),
    workers: int = typer.Option(
        0, "--workers", min=0, help="DataLoader worker processes (images are preloaded; 0 is usually fastest on CPU)."
    ),
    set_: Optional[list[str]] = typer.Option(
        None,
        "--set",
        help="Override a model config field, KEY=JSON (repeatable), "
        "e.g. --set 'channels=[24,48,96,192]' --set beta=0.2.",
    ),
    init: Optional[Path] = typer.Option(
        None,
        "--init",
        help="Start from the weights of a finished run (or model file) of the same family: "
        "its config with --set applied (fine-tuning).",
    ),
) -> None:
    """Train a model family on a data folder; the run folder ends with model.safetensors + config.json."""
    import torch

    from generative.data import build_dataset
    from generative.registry import build_family, family_class
    from generative.training import checkpoint as ckpt
    from generative.training.trainer import TrainConfig, Trainer

    out = _one_output(output, out)
    check_not_a_loop(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (-o/--output is the run folder)")
    with _user_errors():
        name = family.value
        cls = family_class(name)
        sets = _parse_sets(set_ or [], cls.Config)  # checked before any model or data is loaded
        torch.manual_seed(seed)
        if resume and (out / ckpt.CONFIG_FILE).is_file():
            fam = ckpt.family_from_record(ckpt.read_config(out / ckpt.CONFIG_FILE))
            if fam.family != name:
                raise ModelError(f"{out} holds a {fam.family} run, not {name}")
        elif init is not None:
            from generative.training.checkpoint import load_family

            base = load_family(init)
            if base.family != name:
                raise ModelError(f"--init {init} holds a {base.family} model, not {name}")
            overrides = {**_config_dict(base.config), **{k: v for k, v in {"lr": lr}.items() if v is not None}, **sets}
            tensors = base.state_dict()
            base_names = list(getattr(base.config, "cond_names", []))
            if attrs and _split_names(attrs) != base_names:
                remap = getattr(base, "remap_condition", None)
                if remap is None:
                    raise InputError(
                        f"--init {init} was trained on {base_names}; --attrs must match or be left out "
                        f"({name} cannot change its attributes)"
                    )
                new_names = list(
                    build_dataset(base.data, data, base.config.image_size, cond_names=_split_names(attrs)).cond_names
                )
                tensors = remap(tensors, base_names, new_names)
                overrides["cond_names"] = new_names
            try:
                fam = build_family(name, overrides)
            except ValueError as err:
                raise InputError(f"bad options for {name}: {err}") from None
            _load_init(fam, tensors, init)
        else:
            overrides: dict = {"image_size": image_size, "lr": lr, **sets}
            if "cond_names" in {f for f in cls.Config.__dataclass_fields__}:
                overrides["cond_names"] = _split_names(attrs) or list(cls.Config().cond_names)
            elif attrs:
                raise InputError(f"--attrs is for conditional families; {name} is not one")
            try:
                fam = build_family(name, overrides)
            except ValueError as err:
                raise InputError(f"bad options for {name}: {err}") from None
        cond_names = getattr(fam.config, "cond_names", None)
        dataset = build_dataset(fam.data, data, fam.config.image_size, cond_names=cond_names, domain=domain)
        if cond_names and list(dataset.cond_names) != list(cond_names):  # canonical spellings (smile -> Smiling)
            fam = build_family(name, {**_config_dict(fam.config), "cond_names": list(dataset.cond_names)})
        config = TrainConfig(
            out=out, steps=steps, batch_size=batch_size, sample_every=sample_every, ckpt_every=ckpt_every,
            seed=seed, workers=workers, device=device, resume=resume,
            # where the data came from: `sample` translates the test split of this folder by default
            data={"kind": fam.data.value, "root": str(data.resolve()), "domain": domain},
        )  # fmt: skip
        result = Trainer(fam, dataset, config).run()
    if result.model_path is not None:
        losses = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
        typer.echo(f"trained {name} to step {result.step} ({result.images_per_second:.1f} img/s): {losses}")
        typer.echo(f"model: {result.model_path}")


def _load_init(fam, tensors: dict, source: Path) -> None:
    """Start ``fam`` from ``tensors``. Whole modules only one side has are fine: one the source
    run lacked (e.g. a discriminator added for the fine-tune) keeps its fresh initialisation, one
    this config does not build (the discriminator of an adversarial run) is left out."""
    missing, unexpected = fam.load_state_dict(tensors, strict=False)
    have = {k.split(".", 1)[0] for k in tensors}
    mine = {k.split(".", 1)[0] for k in fam.state_dict()}
    mismatched = [k for k in missing if k.split(".", 1)[0] in have] + [
        k for k in unexpected if k.split(".", 1)[0] in mine
    ]
    if mismatched:
        raise ModelError(f"--init {source} does not match this model's config (e.g. {mismatched[0]})")


def _config_dict(config: object) -> dict:
    import dataclasses

    return dataclasses.asdict(config)  # type: ignore[arg-type]


def _parse_attr(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"--attr expects NAME=VALUE (e.g. Smiling=1), got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise InputError(f"--attr {text!r}: value must be a number (0 or 1)") from None


@friendly_errors
def sample(
    run: Path = typer.Argument(..., exists=True, help="Run folder or model.safetensors (config.json beside it)."),
    n: int = typer.Option(64, "-n", "--number", min=1, help="Number of images."),
    n_old: Optional[int] = typer.Option(None, "--n", hidden=True, min=1, help="Old spelling of --number."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG grid to write."),
    attr: List[str] = typer.Option(
        [],
        "--attr",
        help="Conditional models: NAME=VALUE, repeatable (e.g. --attr smile=1). "
        "Others: drawn from training frequencies.",
    ),
    steps: Optional[int] = typer.Option(None, "--steps", help="Sampler steps (diffusion models)."),
    sampler: Optional[Sampler] = typer.Option(
        None, "--sampler", case_sensitive=False, help="Diffusion models: the sampler (default: the model's own)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling noise."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    input_dir: Optional[Path] = typer.Option(
        None,
        "--input",
        help="Image-to-image models (pix2pix, cyclegan): a folder of images to translate "
        "(default: the test split of the run's data).",
    ),
    direction: Optional[str] = typer.Option(
        None, "--direction", help="CycleGAN: a2b (default) or b2a; pix2pix translates a2b only."
    ),
) -> None:
    """Draw N samples from a trained model into one PNG grid (image-to-image models: translations)."""
    import torch

    n = n_old if n_old is not None else n

    from generative.data import match_names
    from generative.data.images import encode_png, make_grid
    from generative.device import pick_device
    from generative.errors import DatasetError
    from generative.training.checkpoint import load_family, read_run_config
    from pipelines.translate import is_translation, translate_run
    from stitchtime.io.paths import atomic_write_bytes, check_output_path

    if output.suffix.lower() != ".png":
        raise InputError(f"output must be a .png file, got {output}")
    check_output_path(output, overwrite)  # before the model is loaded
    with _user_errors():
        family = load_family(run, device=pick_device(device))
        if not is_translation(family):
            for flag, value in (("--input", input_dir), ("--direction", direction)):
                if value is not None:
                    raise InputError(f"{flag} is for image-to-image models (pix2pix, cyclegan), not {family.family}")
        elif attr:
            raise InputError(f"--attr: this {family.family} model is not conditional (it translates images)")
        else:
            done = translate_run(run, read_run_config(run), family, input_dir, n, direction)
            check_output_path(output, overwrite, inputs=done.paths)  # never over one of the images it read
            atomic_write_bytes(output, encode_png(done.grid))
            for note in done.notes:
                typer.echo(f"stitchtime: {note}", err=True)
            typer.echo(
                f"wrote {done.n} {done.direction} translations of {done.source} to {output} (inputs above outputs)"
            )
            return
        names = list(getattr(family.config, "cond_names", []) or [])
        cond = None
        if attr:
            if not names:
                raise InputError(f"--attr: this {family.family} model is not conditional")
            cond = torch.full((n, len(names)), float("nan"))
            for text in attr:
                name, value = _parse_attr(text)
                try:
                    (canonical,) = match_names([name], names)
                except DatasetError as err:
                    raise InputError(f"--attr: {err}") from None
                cond[:, names.index(canonical)] = value
        kwargs = {k: v for k, v in {"steps": steps, "sampler": sampler and sampler.value}.items() if v is not None}
        generator = torch.Generator().manual_seed(seed)
        images = family.sample(n, cond, generator=generator, **kwargs)
    grid = make_grid(images.detach().cpu().float(), nrow=math.ceil(math.sqrt(n)))
    atomic_write_bytes(output, encode_png(grid))
    typer.echo(f"wrote {n} samples to {output}")


def _one_output(output: Path | None, old: Path | None) -> Path:
    """``-o/--output``, or its old spelling ``--out`` (hidden): exactly one of them."""
    if output is not None and old is not None and output != old:
        raise InputError("give the run folder once: -o/--output (--out is its old spelling)")
    if output is None and old is None:
        raise InputError("missing option -o/--output (the run folder)")
    return output if output is not None else old  # type: ignore[return-value]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("sample")(sample)
    # `prepare` lives in commands/prepare.py (one file per command group).
