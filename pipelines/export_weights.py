"""Copy a trained run into ``stitchtime/weights/<name>/`` as fp16 safetensors + config.json.

python -m pipelines.export_weights runs/cvae64 cvae
python -m pipelines.export_weights runs/attrclf64 classifier
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generative.training.checkpoint import CONFIG_FILE, MODEL_FILE, load_family, save_tensors
from stitchtime.editors.models import WEIGHTS_DIR

# Training-only parts left out of the shipped weights, with the config switch that builds them.
TRAINING_ONLY = {"discriminator": "adv_weight", "latent_discriminator": "latent_adv_weight"}


def export_weights(run: Path, name: str, half: bool = True) -> Path:
    family = load_family(run)
    out = WEIGHTS_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    state = family.state_dict()
    record = json.loads((Path(run) / CONFIG_FILE).read_text())
    for module, switch in TRAINING_ONLY.items():
        # (a family that always builds the part, like pix2pix's discriminator, keeps it)
        if hasattr(family, module) and switch in record["config"]:
            state = {k: v for k, v in state.items() if not k.startswith(module + ".")}
            record["config"][switch] = 0.0
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_tensors(
        state,
        out / MODEL_FILE,
        {"format": "generative-family", "family": family.family, "dtype": "float16" if half else "float32"},
    )
    (out / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--fp32", action="store_true")
    args = parser.parse_args()
    print(export_weights(args.run, args.name, half=not args.fp32))


if __name__ == "__main__":
    main()
