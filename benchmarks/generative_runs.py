"""The real training runs of issue 3, measured on the CelebA *test* split (identity-disjoint).

    .venv/bin/python benchmarks/generative_runs.py --runs runs [--write]

For each run folder found under ``--runs`` (``ae64``, ``vae64``, ``cvae64``, ``cvae64_attr``,
``gan64``, ``gan64_nonsat``, ``cgan64``, ``ddpm64``, ``ddpm64_v``, ``smile_cyclegan``,
``edges_p2p``; missing ones are skipped):

* train img/s: median of the run's ``metrics.csv`` (what the progress bar showed), steps,
  wall-clock minutes;
* AE / VAE / cVAE: test reconstruction PSNR (dB, images in [0, 255]);
* GAN / cGAN / DDPM: a sample grid under ``docs/samples/``; FD, the Fréchet distance between
  samples and test faces in the attribute classifier's feature space (FID's formula with an
  in-domain network; lower is better; the test split against the train split gives the floor);
  for the conditional models, how often the shipped attribute classifier (trained on the train
  split) sees the requested attribute: samples asked for attribute = 1 vs = 0 (others drawn from
  the training frequencies);
* CycleGAN (A = not smiling, B = smiling): the classifier's "Smiling" rate on test faces before and
  after translation, both ways, and a grid of test faces with their translations;
* pix2pix (edges -> face): test PSNR of the translated faces, and a grid edges | output | truth.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from generative.data import build_dataset
from generative.data.images import make_grid, save_png
from generative.training.checkpoint import load_family

SECTION = "## Real training runs (issue 3)"
SAMPLES = REPO / "docs" / "samples"
RESUME_GAP_S = 300  # metrics rows further apart than this straddle a stop and a --resume


def _psnr(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-image PSNR of images in [-1, 1], measured in [0, 255]."""
    mse = (((a - b) * 127.5) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(255.0**2 / mse)).numpy()


def _features(clf, images: torch.Tensor) -> np.ndarray:
    """The attribute classifier's pooled last-stage features (its penultimate layer)."""
    return (
        torch.cat([clf.features(images[i : i + 128]).mean(dim=(2, 3)) for i in range(0, len(images), 128)])
        .double()
        .numpy()
    )


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula, here on the
    attribute classifier's features: an in-domain stand-in for Inception, comparable only
    within this table)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def _stack(ds, idx: range, key: str) -> torch.Tensor:
    return torch.stack([ds[i][key] for i in idx])


def _train_facts(run: Path) -> str:
    rows = list(csv.DictReader((run / "metrics.csv").open())) if (run / "metrics.csv").exists() else []
    if not rows:
        return "– | – | –"
    ips = np.median([float(r["img_per_s"]) for r in rows if r.get("img_per_s")])
    times = np.array([float(r["time"]) for r in rows])
    gaps = np.diff(times)
    minutes = gaps[gaps < RESUME_GAP_S].sum() / 60  # training time: pauses between resumed sessions left out
    return f"{int(rows[-1]['step'])} | {minutes:.0f} | {ips:.0f}"


def _grid_png(images: torch.Tensor, name: str, nrow: int = 8) -> str:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    save_png(make_grid(images, nrow=nrow), SAMPLES / name)
    return f"docs/samples/{name}"


def _attribute_rates(model, clf, names: list[str], n: int, **kw) -> list[str]:
    """For each attribute: classifier rate among samples asked for it on / off."""
    cols = [list(clf.config.cond_names).index(a) for a in names]
    out = []
    for j, name in enumerate(names):
        rates = []
        for value in (1.0, 0.0):
            cond = torch.full((n, len(names)), float("nan"))
            cond[:, j] = value
            g = torch.Generator().manual_seed(1)
            imgs = torch.cat(
                [model.sample(min(64, n - i), cond[i : i + 64], generator=g, **kw) for i in range(0, n, 64)]
            )
            rates.append(float((clf.predict(imgs)[:, cols[j]] > 0.5).float().mean()))
        out.append(f"{name} {rates[0]:.2f} / {rates[1]:.2f}")
    return out


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "celeba64")
    parser.add_argument("--pairs", type=Path, default=REPO / "data" / "edges2face")
    parser.add_argument("--classifier", type=Path, default=REPO / "stitchtime" / "weights" / "classifier")
    parser.add_argument("--n", type=int, default=512, help="test images / samples per measurement")
    parser.add_argument("--ddpm-steps", type=int, default=50, help="DDIM steps for DDPM samples")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    clf = load_family(args.classifier).eval()
    rows = []
    faces = build_dataset("images", args.data, 64, split="test", flip=False)
    test = _stack(faces, range(min(args.n, len(faces))), "image")

    for name in ("ae64", "vae64"):
        run = args.runs / name
        if (run / "model.safetensors").exists():
            model = load_family(run)
            rec = torch.cat([model.reconstruct(test[i : i + 64]) for i in range(0, len(test), 64)])
            grid = _grid_png(torch.cat([test[:8], rec[:8]]), f"{name}_recon.png")
            rows.append(
                f"| {name} | {model.family} | {_train_facts(run)} "
                f"| test recon PSNR {_psnr(rec, test).mean():.1f} dB | [grid]({grid}) |"
            )

    for name in ("cvae64", "cvae64_attr"):  # the shipped editor's base and the shipped fine-tune
        run = args.runs / name
        if (run / "model.safetensors").exists():
            model = load_family(run)
            labelled = build_dataset(
                "attributes", args.data, 64, cond_names=list(model.config.cond_names), split="test", flip=False
            )
            idx = range(min(args.n, len(labelled)))
            x, c = _stack(labelled, idx, "image"), _stack(labelled, idx, "cond")
            rec = torch.cat([model.reconstruct(x[i : i + 64], c[i : i + 64]) for i in range(0, len(x), 64)])
            grid = _grid_png(torch.cat([x[:8], rec[:8]]), f"{name}_recon.png")
            rows.append(
                f"| {name} | {model.family} | {_train_facts(run)} "
                f"| test recon PSNR {_psnr(rec, x).mean():.1f} dB (true attributes) | [grid]({grid}) |"
            )

    test_features = _features(clf, test)
    train = build_dataset("images", args.data, 64, split="train", flip=False)
    floor = frechet_distance(_features(clf, _stack(train, range(min(args.n, len(train))), "image")), test_features)
    rows.append(
        f"| (train split) | real faces | – | – | – | FD {floor:.1f} (the floor: real train faces vs test faces) | – |"
    )
    for name in ("gan64", "gan64_nonsat", "cgan64", "ddpm64", "ddpm64_v"):
        run = args.runs / name
        if not (run / "model.safetensors").exists():
            continue
        model = load_family(run)
        kw = {"steps": args.ddpm_steps, "sampler": "ddim"} if model.family == "ddpm" else {}
        g = torch.Generator().manual_seed(0)
        t = time.perf_counter()
        samples = torch.cat([model.sample(64, None, generator=g, **kw) for _ in range(0, len(test), 64)])[: len(test)]
        per = (time.perf_counter() - t) / len(samples)
        fd = frechet_distance(_features(clf, samples), test_features)
        grid = _grid_png(samples[:32], f"{name}_samples.png")
        names = list(getattr(model.config, "cond_names", []) or [])
        rates = _attribute_rates(model, clf, names, args.n // 2, **kw) if names else []
        note = f"attribute rate asked 1 / 0: {', '.join(rates)}" if rates else "unconditional"
        loss = getattr(model.config, "loss", None)
        rows.append(
            f"| {name} | {model.family}{f' ({loss})' if loss else ''} | {_train_facts(run)} | FD {fd:.1f}; {note}; "
            f"{per * 1000:.0f} ms/sample | [grid]({grid}) |"
        )

    run = args.runs / "smile_cyclegan"
    if (run / "model.safetensors").exists():
        model = load_family(run)
        col = list(clf.config.cond_names).index("Smiling")
        smiling = build_dataset("attributes", args.data, 64, cond_names=["Smiling"], split="test", flip=False)
        cond = torch.stack([smiling.cond(i) for i in range(len(smiling))])[:, 0]
        a_idx = torch.nonzero(cond == 0).flatten()[: args.n // 2].tolist()
        b_idx = torch.nonzero(cond == 1).flatten()[: args.n // 2].tolist()
        a = torch.stack([smiling[i]["image"] for i in a_idx])
        b = torch.stack([smiling[i]["image"] for i in b_idx])
        ab = torch.cat([model.translate(a[i : i + 32], "a2b") for i in range(0, len(a), 32)])
        ba = torch.cat([model.translate(b[i : i + 32], "b2a") for i in range(0, len(b), 32)])
        rate = lambda x: float((clf.predict(x)[:, col] > 0.5).float().mean())
        grid = _grid_png(torch.cat([a[:8], ab[:8], b[:8], ba[:8]]), "smile_cyclegan.png")
        rows.append(
            f"| smile_cyclegan | cyclegan | {_train_facts(run)} "
            f"| Smiling rate: not smiling {rate(a):.2f} -> {rate(ab):.2f} translated; "
            f"smiling {rate(b):.2f} -> {rate(ba):.2f} | [grid]({grid}) |"
        )

    run = args.runs / "edges_p2p"
    if (run / "model.safetensors").exists() and args.pairs.exists():
        model = load_family(run)
        pairs = build_dataset("paired", args.pairs, 64, split="test", flip=False)
        idx = range(min(args.n, len(pairs)))
        ea, fb = _stack(pairs, idx, "a"), _stack(pairs, idx, "b")
        out = torch.cat([model.translate(ea[i : i + 64]) for i in range(0, len(ea), 64)])
        grid = _grid_png(torch.cat([ea[:8], out[:8], fb[:8]]), "edges_p2p.png")
        rows.append(
            f"| edges_p2p | pix2pix | {_train_facts(run)} "
            f"| test PSNR to the true face {_psnr(out, fb).mean():.1f} dB | [grid]({grid}) |"
        )

    table = (
        "| run | family | steps | minutes | train img/s | quality | samples |\n|---|---|---:|---:|---:|---|---|\n"
        + "\n".join(rows)
    )
    print(table)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/generative_runs.py --n {args.n} "
            f"--ddpm-steps {args.ddpm_steps} --write` after the runs in "
            f"`benchmarks/real_runs.sh` (2 cores, bf16 autocast; {args.n} test images or samples per number; "
            f"classifier: stitchtime/weights/classifier, trained on the train split).\n\n{table}\n\n"
            "Pairs that differ in one choice (see `benchmarks/real_runs.sh`; the GAN pair also ran equal steps, "
            "the DDPM pair did not: 2,500 vs 6,000, so compare its grids at equal steps): "
            "`ddpm64` predicts the noise (epsilon, DDPM as published), `ddpm64_v` predicts v with "
            "Min-SNR-5 loss weights (same U-Net, batch and learning rate; at equal steps, 2,000, epsilon "
            "still gives noise where v gives face shapes: docs/samples/ddpm_eps_vs_v_step2000.png, "
            "top epsilon, bottom v); `gan64` uses the hinge loss, `gan64_nonsat` the non-saturating one. "
            "`minutes` is training time (pauses between resumed sessions left out).\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
