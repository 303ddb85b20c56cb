"""Every fuzz case through the audio-visual sync check's excerpt path (seeking in damaged files).

A video longer than the sync budget is sampled in excerpts found by seeking
(:mod:`doppelab.core.media_spans`), a path the ``detect`` runs of ``bench/fuzz_inputs.py`` reach
only for files over two minutes. Here the budget is ``--budget`` seconds (default 1), so every
video case over a second is sampled; ``--force-speech`` counts every excerpt as speech, so the
face tracker runs on every excerpt's frames too. Each case is classified ``OK`` (a result, with
its status and how many spans were analysed), ``TYPED`` (one of doppelab's input or usage
errors) or ``CRASH`` (anything else, or over ``--timeout`` seconds).

Usage: python bench/fuzz_avsync_excerpts.py [--work DIR] [--budget 1] [--force-speech]
       [--out bench/results/fuzz_avsync_excerpts.json]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from doppelab.core.errors import InputError, UsageError
from doppelab.core.storage import atomic_write_text
from doppelab.detect.avsync import analyse, analyse_av_sync
from fuzz_corpus import make_corpus

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".ts", ".mpg", ".m4v", ".flv", ".h264")


def _alarm(*_: Any) -> None:
    raise TimeoutError("over the time limit")


def run_case(path: Path, budget: float, timeout: int) -> str:
    """The class of one case's run (see module doc)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        res = analyse_av_sync(path, max_seconds=budget)
        return f"OK {res.status} spans={len(res.spans)}"
    except (InputError, UsageError) as exc:
        return f"TYPED {type(exc).__name__}"
    except Exception as exc:  # the point of the bench: anything else is a crash
        return f"CRASH {type(exc).__name__}: {exc} | {traceback.format_exc().splitlines()[-3]}"
    finally:
        signal.alarm(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=None, help="corpus folder (default: a temp)")
    ap.add_argument("--budget", type=float, default=1.0, help="sync budget in seconds")
    ap.add_argument("--force-speech", action="store_true", help="every excerpt counts as speech")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "results"
                    / "fuzz_avsync_excerpts.json")
    args = ap.parse_args()
    if args.force_speech:
        analyse.audio_speech_seconds = lambda audio, fps, segments=None: 2.0  # type: ignore
    with tempfile.TemporaryDirectory() as tmp:
        cases, _ = make_corpus(args.work or Path(tmp))
        runs: dict[str, str] = {}
        for case in cases:
            if case.skip or not (case.family == "video" or case.path.suffix in VIDEO_SUFFIXES):
                continue
            if case.path.exists() and case.path.is_fifo():
                continue
            runs[case.name] = run_case(case.path, args.budget, args.timeout)
            print(case.name, runs[case.name], flush=True)
    counts = Counter(v.split(" ")[0] for v in runs.values())
    sampled = sum(1 for v in runs.values() if v.startswith("OK") and not v.endswith("spans=0"))
    out = {"budget_s": args.budget, "force_speech": args.force_speech, "counts": dict(counts),
           "sampled_in_excerpts": sampled, "runs": runs}
    atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("counts", "sampled_in_excerpts")}))


if __name__ == "__main__":
    main()
