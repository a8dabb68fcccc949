"""Training-step speed of our DDPM / pix2pix / CycleGAN families against reference implementations.

* DDPM: our U-Net + schedule vs diffusers' ``UNet2DModel`` + ``DDPMScheduler`` at the same channels,
  depth, attention levels, head size, resolution and batch (epsilon MSE, AdamW, same hyper-parameters).
* pix2pix / CycleGAN: our families vs a straightforward re-implementation, in this file, of the
  architecture and ``optimize_parameters`` of junyanz/pytorch-CycleGAN-and-pix2pix as published
  (recursive U-Net skip blocks, NLayer PatchGAN, ResNet generator, separate forwards per image set).

Steps of ours and of the reference are interleaved (ABAB...) so that load from other processes hits
both alike; we report the median step time of each. Writes a markdown table to stdout and into
``BENCHMARKS.md`` under ``## Training speed (issue 3)``.

Run: ``.venv/bin/python benchmarks/train_speed.py`` (needs the ``bench`` extra: ``pip install diffusers``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generative.models.cyclegan import CycleGANFamily
from generative.models.ddpm import DDPMFamily
from generative.models.pix2pix import Pix2PixFamily
from generative.nn.blocks_translation import init_weights

SECTION = "## Training speed (issue 3)"
IMAGE_SIZE = 64


@dataclass
class Row:
    name: str
    setting: str
    ours_steps_s: float  # float32, same precision as the reference
    ours_bf16_steps_s: float  # with the family's bf16 autocast option
    ref_steps_s: float
    reference: str


def interleaved_timing(fns: dict[str, Callable[[], None]], warmup: int, steps: int) -> dict[str, float]:
    """Steps per second (from the median step time) of each function, run in rotating order."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(steps):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: 1.0 / statistics.median(ts) for name, ts in times.items()}


def ours_pair(
    family_cls, config_kwargs: dict, data: dict[str, torch.Tensor]
) -> tuple[object, dict[str, Callable[[], None]]]:
    """Our family in float32 and the same weights with bf16 autocast, as step functions."""
    fp32 = family_cls(family_cls.Config(**config_kwargs))
    bf16 = family_cls(family_cls.Config(**config_kwargs, bf16=True))
    bf16.load_state_dict(fp32.state_dict())
    opt32, opt16 = fp32.configure_optimizers(), bf16.configure_optimizers()
    return fp32, {"ours": lambda: fp32.training_step(data, opt32), "ours_bf16": lambda: bf16.training_step(data, opt16)}


def images(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1


# --------------------------------------------------------------------------- DDPM vs diffusers


def bench_ddpm(batch: int, warmup: int, steps: int) -> Row:
    from diffusers import DDPMScheduler, UNet2DModel

    data = {"image": images(batch, 0)}
    ours, fns = ours_pair(DDPMFamily, {"image_size": IMAGE_SIZE, "dropout": 0.0}, data)
    c = ours.config
    widths = tuple(c.base_channels * m for m in c.channel_mults)
    down = tuple("AttnDownBlock2D" if i in c.attention_levels else "DownBlock2D" for i in range(len(widths)))
    up = tuple("AttnUpBlock2D" if i in c.attention_levels else "UpBlock2D" for i in reversed(range(len(widths))))
    ref = UNet2DModel(
        sample_size=IMAGE_SIZE,
        block_out_channels=widths,
        layers_per_block=c.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        attention_head_dim=c.attention_head_dim,
        norm_num_groups=c.num_groups,
        dropout=0.0,
    )
    scheduler = DDPMScheduler(num_train_timesteps=c.num_train_timesteps, beta_schedule="linear")
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), weight_decay=c.weight_decay)

    def ref_step() -> None:  # diffusers' train_unconditional loop body
        x0 = data["image"]
        noise = torch.randn_like(x0)
        t = torch.randint(0, c.num_train_timesteps, (x0.shape[0],))
        pred = ref(scheduler.add_noise(x0, noise, t), t).sample
        loss = F.mse_loss(pred, noise)
        ref_opt.zero_grad(set_to_none=True)
        loss.backward()
        ref_opt.step()

    n_ours = sum(p.numel() for p in ours.unet.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    speed = interleaved_timing({**fns, "ref": ref_step}, warmup, steps)
    setting = (
        f"U-Net {widths}, {c.layers_per_block} res/level, attn {c.attention_levels}, batch {batch}, "
        f"{n_ours / 1e6:.1f}M vs {n_ref / 1e6:.1f}M params"
    )
    return Row(
        "DDPM", setting, speed["ours"], speed["ours_bf16"], speed["ref"], "diffusers UNet2DModel + DDPMScheduler"
    )


# --------------------------------------------------------------------------- junyanz reference, as published


def _ref_norm(kind: str):
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


def _uses_bias(norm) -> bool:
    return norm.func is nn.InstanceNorm2d


class RefUnetBlock(nn.Module):
    """Recursive U-Net level: x -> [x, up(sub(down(x)))] (outermost returns only the up path)."""

    def __init__(self, outer, inner, in_ch=None, sub=None, outermost=False, innermost=False, norm=None, dropout=False):
        super().__init__()
        self.outermost = outermost
        bias = _uses_bias(norm)
        in_ch = outer if in_ch is None else in_ch
        downconv = nn.Conv2d(in_ch, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [downconv, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2, True),
                downconv,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                norm(outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                downconv,
                norm(inner),
                sub,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias),
                norm(outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def ref_unet(num_downs: int, ngf: int, norm) -> nn.Module:
    block = RefUnetBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
    for _ in range(num_downs - 5):
        block = RefUnetBlock(ngf * 8, ngf * 8, sub=block, norm=norm, dropout=True)
    for mult in (4, 2, 1):
        block = RefUnetBlock(ngf * mult, ngf * mult * 2, sub=block, norm=norm)
    return RefUnetBlock(3, ngf, in_ch=3, sub=block, outermost=True, norm=norm)


def ref_patchgan(in_ch: int, ndf: int, n_layers: int, norm) -> nn.Module:
    bias = _uses_bias(norm)
    layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2**n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2**n_layers, 8)
    layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


class RefResBlock(nn.Module):
    def __init__(self, dim, norm):
        super().__init__()
        bias = _uses_bias(norm)
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            norm(dim),
        )

    def forward(self, x):
        return x + self.block(x)


def ref_resnet(ngf: int, n_blocks: int, norm) -> nn.Module:
    bias = _uses_bias(norm)
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), norm(ngf), nn.ReLU(True)]
    for i in range(2):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=bias), norm(ngf * m * 2), nn.ReLU(True)]
    layers += [RefResBlock(ngf * 4, norm) for _ in range(n_blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [
            nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=bias),
            norm(ngf * m // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def _set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


def bench_pix2pix(batch: int, warmup: int, steps: int) -> Row:
    data = {"a": images(batch, 1), "b": images(batch, 2)}
    ours, fns = ours_pair(Pix2PixFamily, {"image_size": IMAGE_SIZE}, data)
    c = ours.config
    norm = _ref_norm(c.norm)
    net_g, net_d = ref_unet(c.num_downs, c.ngf, norm), ref_patchgan(6, c.ndf, c.n_layers_d, norm)
    for net in (net_g, net_d):
        init_weights(net)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
    bce = nn.BCEWithLogitsLoss()

    def ref_step() -> None:
        real_a, real_b = data["a"], data["b"]
        fake_b = net_g(real_a)
        _set_requires_grad([net_d], True)
        opt_d.zero_grad()
        pred_fake = net_d(torch.cat((real_a, fake_b), 1).detach())
        pred_real = net_d(torch.cat((real_a, real_b), 1))
        loss_d = (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real))) * 0.5
        loss_d.backward()
        opt_d.step()
        _set_requires_grad([net_d], False)
        opt_g.zero_grad()
        pred_fake = net_d(torch.cat((real_a, fake_b), 1))
        loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + F.l1_loss(fake_b, real_b) * c.lambda_l1
        loss_g.backward()
        opt_g.step()

    speed = interleaved_timing({**fns, "ref": ref_step}, warmup, steps)
    setting = f"U-Net {c.num_downs} downs ngf {c.ngf}, PatchGAN {c.n_layers_d} layers, batch {batch}"
    return Row(
        "pix2pix",
        setting,
        speed["ours"],
        speed["ours_bf16"],
        speed["ref"],
        "junyanz pix2pix_model (re-implemented as published)",
    )


def bench_cyclegan(batch: int, warmup: int, steps: int) -> Row:
    data = {"a": images(batch, 3), "b": images(batch, 4)}
    ours, fns = ours_pair(CycleGANFamily, {"image_size": IMAGE_SIZE}, data)
    c = ours.config
    norm = _ref_norm(c.norm)
    g_a, g_b = ref_resnet(c.ngf, c.n_blocks, norm), ref_resnet(c.ngf, c.n_blocks, norm)
    d_a, d_b = ref_patchgan(3, c.ndf, c.n_layers_d, norm), ref_patchgan(3, c.ndf, c.n_layers_d, norm)
    for net in (g_a, g_b, d_a, d_b):
        init_weights(net)
    opt_g = torch.optim.Adam(itertools.chain(g_a.parameters(), g_b.parameters()), lr=c.lr, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=c.lr, betas=(c.beta1, c.beta2))
    lam, idt = c.lambda_cycle, c.lambda_identity

    def mse_to(pred: torch.Tensor, value: float) -> torch.Tensor:
        return F.mse_loss(pred, torch.full_like(pred, value))

    def ref_step() -> None:  # image pool omitted: a list shuffle, negligible next to the convolutions
        real_a, real_b = data["a"], data["b"]
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        _set_requires_grad([d_a, d_b], False)
        opt_g.zero_grad()
        loss_idt = F.l1_loss(g_a(real_b), real_b) * lam * idt + F.l1_loss(g_b(real_a), real_a) * lam * idt
        loss_g = (
            mse_to(d_a(fake_b), 1.0)
            + mse_to(d_b(fake_a), 1.0)
            + F.l1_loss(rec_a, real_a) * lam
            + F.l1_loss(rec_b, real_b) * lam
            + loss_idt
        )
        loss_g.backward()
        opt_g.step()
        _set_requires_grad([d_a, d_b], True)
        opt_d.zero_grad()
        for d, real, fake in ((d_a, real_b, fake_b), (d_b, real_a, fake_a)):
            loss_d = (mse_to(d(real), 1.0) + mse_to(d(fake.detach()), 0.0)) * 0.5
            loss_d.backward()
        opt_d.step()

    speed = interleaved_timing({**fns, "ref": ref_step}, warmup, steps)
    setting = f"ResNet {c.n_blocks} blocks ngf {c.ngf}, PatchGAN {c.n_layers_d} layers, instance norm, batch {batch}"
    return Row(
        "CycleGAN",
        setting,
        speed["ours"],
        speed["ours_bf16"],
        speed["ref"],
        "junyanz cycle_gan_model (re-implemented as published)",
    )


# --------------------------------------------------------------------------- report


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(rows: list[Row], command: str, threads: int, load: float) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        f"CPU: {cpu_name()} ({os.cpu_count()} cores; 1-min load average {load:.1f} when the run started, "
        f"from other jobs), torch {torch.__version__}, {threads} threads, "
        f"{IMAGE_SIZE}x{IMAGE_SIZE} images; steps/s from the median step time, ours and the reference run in "
        "rotating order within one run. *ours* is float32 like the reference; *ours bf16* is the same "
        "family with its `bf16=True` config option (bfloat16 autocast of the forwards; weights, "
        "optimiser and losses float32). The reference CycleGAN step leaves out the 50-image pool "
        "(a list shuffle, negligible next to the convolutions); ours includes it.",
        "",
        "| model | setting | ours steps/s | ours bf16 steps/s | reference steps/s | ratio | ratio bf16 | reference |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.setting} | {r.ours_steps_s:.3f} | {r.ours_bf16_steps_s:.3f} | {r.ref_steps_s:.3f} "
            f"| {r.ours_steps_s / r.ref_steps_s:.2f}x | {r.ours_bf16_steps_s / r.ref_steps_s:.2f}x | {r.reference} |"
        )
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace (or append) our section of BENCHMARKS.md, leaving the others untouched."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["ddpm", "pix2pix", "cyclegan"], choices=["ddpm", "pix2pix", "cyclegan"]
    )
    parser.add_argument("--batch", type=int, default=16, help="batch for DDPM and pix2pix")
    parser.add_argument("--cyclegan-batch", type=int, default=4, help="CycleGAN runs 6 generator passes per step")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    benches = {
        "ddpm": lambda: bench_ddpm(args.batch, args.warmup, args.steps),
        "pix2pix": lambda: bench_pix2pix(args.batch, args.warmup, args.steps),
        "cyclegan": lambda: bench_cyclegan(args.cyclegan_batch, args.warmup, args.steps),
    }
    rows = []
    for name in args.models:
        rows.append(benches[name]())
        r = rows[-1]
        print(
            f"{name}: ours {r.ours_steps_s:.3f}, ours bf16 {r.ours_bf16_steps_s:.3f}, "
            f"reference {r.ref_steps_s:.3f} steps/s",
            flush=True,
        )
    command = ".venv/bin/python benchmarks/train_speed.py " + " ".join(sys.argv[1:])
    table = markdown(rows, command.strip(), args.threads, load)
    print(table)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", table)


if __name__ == "__main__":
    main()
