"""Benchmark of creation (``doppelab train`` / ``doppelab swap``) on the designated swap pairs.

Only the pairs that ../shared/data/README.md allows are used: pair-1 = lp_d18 <-> lp_d19 and
pair-2 = lp_d3 <-> lp_d6. For each pair:

* FaceSets (128 px) of both clips; the autoencoder (64 px, df) trains for a fixed CPU budget
  (``--train-minutes``, resumable) with every 10th frame held back;
* training: it/s, FLOPs per iteration, achieved FLOP/s and its ratio to the measured matmul
  FLOP/s (same run);
* reconstruction of the held-back faces of each identity: masked SSIM, L1, PSNR;
* swaps of the whole target clip with the mesh method and the autoencoder (labelled outputs):
  identity transfer (share of sampled frames whose SFace embedding is closer to the source
  person than to the target person), landmark NME (target vs swapped, by inter-ocular
  distance), temporal ratio (frame-to-frame change inside the face: swapped / target), and
  conversion fps (the whole ``swap`` call: tracking, swap, post-processing, watermark, encode,
  sign). pair-2 swaps into lp_d3, a 512x512 clip.

Usage: python bench/swap.py [--data-dir ../shared/data] [--work /tmp/doppelab-bench-swap]
       [--train-minutes 25] [--reuse] [--out bench/results/swap.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from doppelab.detect.swapfakes import PAIRS  # the only pairs that may be swapped

SOURCE_SIDE = {"pair-1": "a", "pair-2": "b"}  # the pair's side whose face goes onto the other
HOLDOUT = 10


def _faceset(data: Path, work: Path, clip: str) -> Path:
    from doppelab.extract.pipeline import ExtractConfig, extract

    out = work / f"{clip}.faceset"
    if not (out / "faceset.json").exists():
        extract([data / "clips" / f"{clip}.mp4"], out, ExtractConfig(size=128, max_faces=1))
    return out


def _train(a: Path, b: Path, model: Path, minutes: float, reuse: bool) -> dict[str, Any]:
    from doppelab.swap.autoencoder.model import ModelConfig
    from doppelab.swap.autoencoder.train import TrainConfig, train

    if not (reuse and (model / "weights.pt").exists()):
        train(
            a,
            b,
            model,
            ModelConfig(),
            TrainConfig(steps=10**6, minutes=minutes, holdout_every=HOLDOUT),
        )
    with open(model / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    rates = [float(r["it_s"]) for r in rows[20:] if r["it_s"]]
    cfg = json.loads((model / "config.json").read_text())
    res = train(
        a, b, model, ModelConfig(), TrainConfig(steps=cfg["step"] + 20, holdout_every=HOLDOUT)
    )  # perf sample
    return {
        "steps": cfg["step"],
        "train_seconds": float(rows[-1]["time"]) - float(rows[0]["time"]),
        "median_it_per_s": sorted(rates)[len(rates) // 2] if rates else None,
        "perf_sample": res.perf,
        "samples_per_it": 2 * 16,
    }


def _swaps(
    data: Path, work: Path, pair: str, fs: dict[str, Path], model: Path, src: str
) -> dict[str, Any]:
    from doppelab.core.media import probe
    from doppelab.swap.convert import SwapConfig, swap_file
    from doppelab.swap.evaluate import measure_swap
    from doppelab.swap.methods import create_method

    clips = dict(zip("ab", PAIRS[pair], strict=True))
    tgt_key = "b" if src == "a" else "a"
    target = data / "clips" / f"{clips[tgt_key]}.mp4"
    ae = create_method("autoencoder", model=model, source=src)
    mesh = create_method("mesh", source=fs[src])
    out = {}
    for name, method in (("mesh", mesh), ("autoencoder", ae)):
        path = work / f"{pair}-{name}.mp4"
        res = swap_file(method, target, path, SwapConfig())
        q = measure_swap(target, path, ae.source_identity, ae.target_identity)
        info = probe(target)
        out[name] = {
            "target": target.name,
            "size": f"{info.width}x{info.height}",
            "frames": res.frames,
            "frames_swapped": res.frames_swapped,
            "fps": res.frames / res.seconds,
            "identity_transfer": q.identity_transfer,
            "landmark_nme": q.landmark_nme,
            "temporal_ratio": q.temporal_ratio,
        }
        print(pair, name, json.dumps(out[name]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "doppelab-bench-swap"
    )
    ap.add_argument("--train-minutes", type=float, default=25.0)
    ap.add_argument("--reuse", action="store_true", help="reuse trained models in --work")
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS))
    ap.add_argument("--out", type=Path, default=Path("bench/results/swap.json"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DOPPELAB_HOME", str(args.work / "home"))
    from doppelab.core.storage import atomic_write_text
    from doppelab.provenance.keys import init_keys
    from doppelab.swap.evaluate import reconstruction

    if not (Path(os.environ["DOPPELAB_HOME"]) / "keys").exists():
        init_keys()
    results: dict[str, Any] = {}
    for pair in args.pairs:
        (a_clip, b_clip), src = PAIRS[pair], SOURCE_SIDE[pair]
        fs = {
            "a": _faceset(args.data_dir, args.work, a_clip),
            "b": _faceset(args.data_dir, args.work, b_clip),
        }
        model = args.work / pair
        t0 = time.perf_counter()
        training = _train(fs["a"], fs["b"], model, args.train_minutes, args.reuse)
        recon = {k: reconstruction(model, fs[k], k, HOLDOUT) for k in "ab"}
        print(pair, "training", json.dumps(training), "recon", json.dumps(recon), flush=True)
        results[pair] = {
            "clips": {"a": a_clip, "b": b_clip},
            "training": training,
            "reconstruction": recon,
            "swaps": _swaps(args.data_dir, args.work, pair, fs, model, src),
            "seconds": time.perf_counter() - t0,
        }
    out = {
        "bench": "swap",
        "cpus": os.cpu_count(),
        "train_minutes": args.train_minutes,
        "results": results,
    }
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
