"""What the adversarial discriminator changes: continue one trained autoencoder for the same
number of steps with and without the patch GAN, then compare sharpness, reconstruction,
identity transfer and the detector's fake probability of the resulting swaps.

Usage: python bench/gan.py --model /tmp/doppelab-bench-swap/pair-2 [--steps 400] [--gan 0.1]
       (a model trained by bench/swap.py; pair-2 swaps lp_d6 into lp_d3)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch


@torch.no_grad()
def _sharpness(model: Path, faceset: Path, who: str) -> float:
    """Mean variance of the Laplacian of decoded held-back faces over that of the real ones."""
    import cv2

    from doppelab.swap.autoencoder.data import load_faces
    from doppelab.swap.autoencoder.method import AutoencoderMethod

    m = AutoencoderMethod(model=model, source=who)
    assert m._net is not None
    data = load_faces(faceset, m.crop_size)
    x = data.images[:64].float() / 255
    rgb, _ = m._net(x.contiguous(memory_format=torch.channels_last), who)

    def lap(t: torch.Tensor) -> float:
        imgs = (t.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
        return float(
            np.mean(
                [cv2.Laplacian(cv2.cvtColor(i, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var() for i in imgs]
            )
        )

    return lap(rgb) / lap(x)


def _variant(
    base: Path,
    work: Path,
    name: str,
    gan: float,
    steps: int,
    cfg: dict[str, Any],
    data: Path,
    reuse: bool,
) -> dict[str, Any]:
    from doppelab.swap.autoencoder.model import ModelConfig
    from doppelab.swap.autoencoder.train import TrainConfig, train
    from doppelab.swap.convert import swap_file
    from doppelab.swap.evaluate import measure_swap, reconstruction
    from doppelab.swap.methods import create_method

    model = work / name
    fa, fb = Path(cfg["identities"]["a"]["faceset"]), Path(cfg["identities"]["b"]["faceset"])
    if not (reuse and (model / "weights.pt").exists()):
        shutil.rmtree(model, ignore_errors=True)
        shutil.copytree(base, model)
        train(
            fa,
            fb,
            model,
            ModelConfig(**cfg["model"]),
            TrainConfig(steps=cfg["step"] + steps, gan_weight=gan, holdout_every=10),
        )
    its = [float(r.split(",")[-1]) for r in (model / "log.csv").read_text().splitlines()[-50:]]
    method = create_method("autoencoder", model=model, source="b")
    target = data / "clips" / "lp_d3.mp4"
    out = work / f"{name}.mp4"
    swap_file(method, target, out)
    q = measure_swap(target, out, method.source_identity, method.target_identity)
    det = subprocess.run(
        [sys.executable, "-m", "doppelab", "detect", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    verdict = json.loads(det.stdout)["results"][0]
    steps_done = json.loads((model / "config.json").read_text())["step"]
    return {
        "gan_weight": gan,
        "steps": steps_done,
        "it_per_s": float(np.median(its)),
        "sharpness_ratio_b": _sharpness(model, fb, "b"),
        "recon_ssim_b": reconstruction(model, fb, "b", 10)["ssim"],
        "identity_transfer": q.identity_transfer,
        "temporal_ratio": q.temporal_ratio,
        "detector": {k: verdict.get(k) for k in ("verdict", "probability", "detectors")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--gan", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/gan.json"))
    ap.add_argument("--reuse", action="store_true", help="reuse the variants trained before")
    args = ap.parse_args()
    os.environ.setdefault("DOPPELAB_HOME", str(args.model.parent / "home"))
    from doppelab.core.storage import atomic_write_text

    cfg = json.loads((args.model / "config.json").read_text())
    work = args.model.parent / "gan-study"
    work.mkdir(exist_ok=True)
    rows = [
        _variant(args.model, work, name, gan, args.steps, cfg, args.data_dir, args.reuse)
        for name, gan in (("plain", 0.0), ("gan", args.gan))
    ]
    for r in rows:
        print(json.dumps(r), flush=True)
    atomic_write_text(
        args.out,
        json.dumps(
            {
                "bench": "gan",
                "base_model": str(args.model),
                "extra_steps": args.steps,
                "variants": rows,
            },
            indent=2,
        )
        + "\n",
    )


if __name__ == "__main__":
    main()
