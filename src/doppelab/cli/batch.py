"""``doppelab batch DIR|LIST.csv -o RESULTS.parquet|.jsonl``: detect + verify at scale (Ray)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar

EPILOG = """\
examples:
  doppelab batch suspects/ -o results.parquet                 # local Ray, 2 workers
  doppelab batch list.csv -o results.jsonl --workers 4        # CSV with a 'path' column
  doppelab batch suspects/ -o results.parquet --address ray://head:10001
  doppelab batch suspects/ -o results.parquet                 # again: finished files skipped

One row per file: verdict, P(fake), per-detector scores, frames and faces, provenance layers
(manifest, watermark, registry) and seconds; unreadable files get status "error" and a reason.
A folder is searched for images, videos and audio files (WAV, FLAC, MP3, M4A, AAC, OGG, Opus);
audio files get the speech verdict and no provenance layers (verify reads images and videos).
Interrupt any time: finished rows are kept and a re-run resumes."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "batch",
        help="check many files (detect + verify) on Ray, resumable",
        description="Run face extraction, detection (faces, speech, lip sync) and provenance "
        "verification over a folder or a CSV list of media files on Ray (local by default) into "
        "Parquet or JSONL.",
        epilog=EPILOG,
        run=run,
    )
    p.add_argument("source", type=path_arg, metavar="DIR|LIST.csv", help="folder or CSV of paths")
    p.add_argument("-o", "--output", type=path_arg, required=True, metavar="RESULTS",
                   help="results file (.parquet or .jsonl)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    p.add_argument("--address", default=None, help="existing Ray cluster (default: local)")
    p.add_argument("--frames", type=int, default=32, help="frames sampled per video (32)")
    add_json(p, "print the run summary as JSON")


def run(args: argparse.Namespace) -> int:
    from doppelab.scale.batch import run_batch

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(total, unit="file", desc="batch")
        bar.update(1)

    try:
        summary = run_batch(args.source, args.output, workers=args.workers,
                            address=args.address, frames=args.frames, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps({**asdict(summary), "files_per_second": summary.files_per_second}))
    else:
        print(f"{summary.output}: {summary.processed} checked ({summary.errors} errors), "
              f"{summary.skipped} already done, {summary.total} in all; "
              f"{summary.files_per_second:.2f} files/s after {summary.startup_seconds:.1f} s "
              "start-up")
    return 0
