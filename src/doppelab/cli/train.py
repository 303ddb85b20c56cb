"""``doppelab train``: train the face-swap autoencoder on two FaceSets."""

from __future__ import annotations

import argparse
import json
from typing import Any

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar, show_step

EXAMPLE = """\
examples:
  doppelab train me.faceset them.faceset -o me2them              # 64 px, CPU
  doppelab train a.faceset b.faceset -o model --minutes 30 --gan 0.1
  doppelab train a.faceset b.faceset -o model                    # again: resumes

Ctrl-C saves a checkpoint; running the same command again resumes exactly. Previews (rows A,
A->A, A->B, B, B->B, B->A) are written to MODEL/previews/, losses to MODEL/log.csv."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub,
        "train",
        help="train the face-swap autoencoder on two FaceSets",
        description="Train the classic face-swap autoencoder (shared encoder, one decoder per "
        "identity) with masked DSSIM+L1 losses, eye/mouth priority, a learned mask and an "
        "optional patch-GAN discriminator. CPU by default, CUDA when present.",
        epilog=EXAMPLE,
        run=run,
    )
    p.add_argument("a", type=path_arg, help="FaceSet of identity A (the source)")
    p.add_argument("b", type=path_arg, help="FaceSet of identity B (the target)")
    p.add_argument("-o", "--output", required=True, type=path_arg, help="model folder")
    p.add_argument("--resolution", type=int, default=64, choices=(64, 128, 256),
                   help="face size the model works at, px (default 64)")
    p.add_argument("--width", type=int, default=32, help="base channels (default 32)")
    p.add_argument("--variant", choices=("df", "liae"), default="df",
                   help="df, or liae: per-identity intermediate layers (default df)")
    p.add_argument("--steps", type=int, default=20000,
                   help="total steps to reach (default 20000)")
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes (default: no limit; resumable)")
    p.add_argument("--batch", type=int, default=16, help="faces per identity a step (default 16)")
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--gan", type=float, default=0.0,
                   help="adversarial loss weight (default 0: off; e.g. 0.1)")
    p.add_argument("--save-every", type=int, default=500,
                   help="steps between checkpoints (default 500; also on Ctrl-C and at the end)")
    p.add_argument("--preview-every", type=int, default=250,
                   help="steps between preview images (default 250)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--holdout-every",
        type=int,
        default=0,
        metavar="K",
        help="leave out frames whose index is a multiple of K (for evaluation)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default: torch's choice; 1 when sharing the CPU)")
    add_json(p, "print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from doppelab.swap.autoencoder.model import ModelConfig
    from doppelab.swap.autoencoder.train import TrainConfig, train

    try:
        mcfg = ModelConfig(resolution=args.resolution, width=args.width, variant=args.variant)
    except ValueError as exc:
        from doppelab.core.errors import UsageError

        raise UsageError(str(exc)) from exc
    tcfg = TrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        gan_weight=args.gan,
        save_every=args.save_every,
        preview_every=args.preview_every,
        seed=args.seed,
        minutes=args.minutes,
        device=args.device,
        holdout_every=args.holdout_every,
        threads=args.threads,
    )
    bar: Any = None

    def progress(step: int, losses: dict[str, float]) -> None:
        # made at the first step, so a resumed run starts where it stands (its rate and ETA
        # count this run's steps only); no step total (no ETA) when --minutes ends the run
        nonlocal bar
        if bar is None:
            bar = progress_bar(None if args.minutes else args.steps, initial=step - 1,
                               unit="it", desc="train")
        show_step(bar, step, losses)

    try:
        res = train(args.a, args.b, args.output, mcfg, tcfg, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    out = {
        "path": str(res.path),
        "step": res.step,
        "resumed_from": res.resumed_from,
        "losses": res.losses,
        "model_hash": res.model_hash,
        "perf": res.perf,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    p = res.perf
    print(
        f"trained to step {res.step} (from {res.resumed_from}) at {p.get('it_per_s', 0):.2f} it/s"
        f", {p.get('achieved_flops', 0) / 1e9:.1f} GFLOP/s = "
        f"{100 * p.get('achieved_over_matmul', 0):.0f}% of matmul -> {res.path} "
        f"({res.model_hash[:19]})"
    )
    return 0
