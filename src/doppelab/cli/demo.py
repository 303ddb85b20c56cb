"""``doppelab demo``: the whole loop on built-in material, no data of your own needed.

Makes a short test clip from NASA's public-domain astronaut portrait (shipped in scikit-image),
extracts its faces, puts Grace Hopper's public-domain U.S. Navy portrait (shipped in matplotlib)
into it with the training-free mesh method (and, with --train-minutes, a small autoencoder),
labels every fake (watermark, signed C2PA manifest, registry), detects real vs fake, verifies
the provenance of every file and writes one self-contained HTML report plus the same facts as
JSON. Creates the lab's signing keys if there are none yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar, show_step

EXAMPLE = """\
examples:
  doppelab demo                          # writes ./doppelab-demo/demo.html (~15 s, 2 cores)
  doppelab demo -o /tmp/demo --json      # the facts as JSON on stdout
  doppelab demo --train-minutes 3        # also a small face-swap autoencoder"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub,
        "demo",
        help="run the whole loop on built-in material (no data needed)",
        description=__doc__,
        epilog=EXAMPLE,
        run=run,
    )
    p.add_argument(
        "-o", "--output", type=path_arg, default=Path("doppelab-demo"),
        help="folder for the demo's files (default ./doppelab-demo)",
    )
    p.add_argument("--train-minutes", type=float, default=0.0, metavar="N",
                   help="also train a small autoencoder for N minutes and swap with it")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the test clip (default 3)")
    p.add_argument("--size", type=int, default=512, help="side of the test clips in px (512)")
    p.add_argument("--frames", type=int, default=24, help="frames the detector samples (24)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the networks (1)")
    add_json(p, "print the facts as JSON")


def run(args: argparse.Namespace) -> int:
    from doppelab.demo import DemoConfig, run_demo, write_report
    from doppelab.detect.report import clean_json

    cfg = DemoConfig(seconds=args.seconds, size=args.size, train_minutes=args.train_minutes,
                     detect_frames=args.frames, threads=args.threads)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    bar = None

    def train_progress(step: int, losses: dict[str, float]) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(unit="it", desc="train")
        show_step(bar, step, losses)

    try:
        res = run_demo(args.output, cfg, say=say, train_progress=train_progress)
    finally:
        if bar is not None:
            bar.close()
    html_path, json_path = write_report(res)
    if args.json:
        print(json.dumps(clean_json({**res.facts, "report": str(html_path),
                                     "report_json": str(json_path)}), indent=2))
        return 0
    for line in res.facts["summary"]:
        print(line)
    print(f"demo done in {res.facts['seconds']:.1f} s; report: {html_path} (facts: {json_path})")
    return 0
