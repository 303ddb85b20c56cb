"""``doppelab detect-train``: rebuild the shipped detector files with the recorded recipe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from doppelab.cli.common import add_command, log_json, path_arg

EPILOG = """\
examples:
  doppelab detect-train --data-dir ../shared/data --work-dir work/detect
  doppelab detect-train --data-dir ../shared/data --work-dir work/detect --minutes 40 --seed 0
  doppelab detect-train --data-dir ../shared/data --work-dir work/detect --net large \\
      --swap-model pair-1=models/pair-1 --swap-model pair-2=models/pair-2 \\
      --device cuda --workers 13 --batch 256 --minutes 5.5
  doppelab detect-train --data-dir ../shared/data --work-dir work/finetune \\
      --init work/detect/blend/best.pt --real-transform 0.5 --lr 2e-4 --warmup 0 \\
      --threads 2 --minutes 95 --eval-every 480 --snapshots
  doppelab detect-train --audio --data-dir ../shared/data --work-dir work/audio

Stages (each resumes from its artefact under --work-dir): FaceSets of the train/dev clips and
photos, face tables, mesh (and, with --swap-model, autoencoder) swaps of the designated pairs
with watermarked real controls, BlendNet training (time budget, fixed seed, checkpoints), ONNX
export, frequency classifier, temporal statistics of real train clips, fusion, calibration and
the video rule on the held-out train identities, metrics on dev. The result is WORK/model/,
ready to copy into src/doppelab/detect/weights/. Only `train` items are trained on; `dev` is
only measured.

--audio trains the speech detector instead: two small neural vocoders on real train speech
(MelGAN-like and iSTFT-head, --vocoder-minutes each), fakes from Griffin-Lim, WORLD, LPC, those
vocoders and Debian's TTS engines,
codec round trips on real and fake alike, spectral statistics, leave-one-family-out models on
dev, and the shipped MLP + calibration in WORK/model/speech.onnx and speech.json."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "detect-train",
        help="train the detectors (blend CNN, frequency, temporal, fusion; --audio: speech) "
        "from the shared data set",
        description="Build the training set from the shared data set's train split (real faces "
        "vs self-blended pseudo-fakes) and train/fit every detector reproducibly.",
        epilog=EPILOG,
        run=run,
    )
    p.add_argument("--data-dir", type=path_arg, required=True, help="the shared data folder")
    p.add_argument("--work-dir", type=path_arg, required=True, help="folder for all artefacts")
    p.add_argument("--minutes", type=float, default=40.0, help="CNN time budget (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--audio", action="store_true", help="train the speech detector instead")
    p.add_argument("--vocoder-minutes", type=float, default=25.0,
                   help="--audio: time budget of each of the two neural vocoders (default 25)")
    p.add_argument("--no-lofo", action="store_true",
                   help="--audio: skip the leave-one-family-out models")
    p.add_argument(
        "--swap-model",
        action="append",
        default=[],
        metavar="PAIR=DIR",
        help="autoencoder model of a designated pair (pair-1 or pair-2) for swap fakes",
    )
    p.add_argument("--net", choices=sorted(NETS), default="small", help="BlendNet size")
    p.add_argument("--device", default="cpu", help="torch device for training (default cpu)")
    p.add_argument("--workers", type=int, default=0, help="batch-making processes (default 0)")
    p.add_argument("--batch", type=int, default=48, help="images per step (default 48)")
    p.add_argument(
        "--swap-share",
        type=float,
        default=0.25,
        help="share of the batch that is (marked real, swap) pairs (default 0.25)",
    )
    p.add_argument(
        "--real-transform",
        type=float,
        default=0.0,
        metavar="P",
        help="share of real faces changed seamlessly in colour, sharpness and geometry, so the "
        "real class is no fixed set to memorise (default 0; see docs/detect.md)",
    )
    p.add_argument(
        "--self-mesh",
        type=float,
        default=0.0,
        metavar="P",
        help="share of the pseudo-fakes made by the mesh swap's own warp and blending from "
        "another face of the same person instead of a self-blend (default 0; see docs/detect.md)",
    )
    p.add_argument(
        "--codec",
        type=float,
        default=0.0,
        metavar="P",
        help="share of training images (real and fake alike) sent through H.264 at CRF 23-40 "
        "and a random face size, as in a compressed video (default 0; see docs/detect.md)",
    )
    p.add_argument(
        "--init",
        type=path_arg,
        default=None,
        metavar="CKPT.pt",
        help="start BlendNet from this checkpoint (fine-tuning; its own size is used)",
    )
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3; "
                   "the shipped fine-tune used 2e-4 with --warmup 0)")
    p.add_argument("--warmup", type=float, default=0.03,
                   help="share of the time budget for learning-rate warm-up (default 0.03)")
    p.add_argument("--eval-every", type=float, default=180.0, metavar="S",
                   help="seconds between held-out evaluations and checkpoints (default 180)")
    p.add_argument("--snapshots", action="store_true",
                   help="also keep the EMA weights of every evaluation as blend/snap_<images>.pt "
                   "(to choose among them with bench/blend_select.py)")


NETS = {
    "small": {},
    "large": {"stem": 24, "widths": (48, 96, 160, 192), "depth": (2, 2, 1, 1)},
}


def _models(specs: list[str]) -> dict[str, Path]:
    from doppelab.core.errors import UsageError
    from doppelab.detect.swapfakes import PAIRS

    out = {}
    for spec in specs:
        pair, _, folder = spec.partition("=")
        if pair not in PAIRS or not folder:
            raise UsageError(f"--swap-model takes PAIR=DIR with PAIR one of {', '.join(PAIRS)}")
        out[pair] = Path(folder)
    return out


def _run_audio(args: argparse.Namespace) -> int:
    import torch

    from doppelab.detect.train_speech import SpeechRecipe, run_speech_recipe

    torch.set_num_threads(args.threads)
    recipe = SpeechRecipe(vocoder_minutes=args.vocoder_minutes, seed=args.seed,
                          lofo=not args.no_lofo)

    card = run_speech_recipe(args.data_dir, args.work_dir, recipe, log_json)
    print(json.dumps(card["metrics"], indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.audio:
        return _run_audio(args)
    from doppelab.core.errors import UsageError
    from doppelab.detect.blendnet import BlendNetConfig

    if args.batch < 4 or args.batch % 2 or not 0 <= args.swap_share < 1 or args.workers < 0:
        raise UsageError("--batch must be even and >= 4, --swap-share in [0, 1), --workers >= 0")
    if not all(0 <= v <= 1 for v in (args.real_transform, args.self_mesh, args.codec)):
        raise UsageError("--real-transform, --self-mesh and --codec must be in [0, 1]")
    if args.lr <= 0 or not 0 <= args.warmup < 1 or args.eval_every <= 0:
        raise UsageError("--lr and --eval-every must be > 0, --warmup in [0, 1)")
    if args.init is not None and not args.init.is_file():
        raise UsageError(f"--init: no checkpoint at {args.init}")
    from doppelab.detect.recipe import run_recipe
    from doppelab.detect.train_blend import TrainConfig

    cfg = TrainConfig(
        minutes=args.minutes,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        workers=args.workers,
        batch=args.batch,
        amp=args.device.startswith("cuda"),
        swap_share=args.swap_share,
        real_transform=args.real_transform,
        self_mesh=args.self_mesh,
        codec=args.codec,
        init=str(args.init) if args.init is not None else "",
        lr=args.lr,
        warmup=args.warmup,
        eval_every=args.eval_every,
        snapshots=args.snapshots,
        net=BlendNetConfig(**NETS[args.net]),  # type: ignore[arg-type]
    )

    models = _models(args.swap_model)
    print(json.dumps(run_recipe(args.data_dir, args.work_dir, cfg, log_json, models), indent=2))
    return 0
