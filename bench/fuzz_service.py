"""Robustness fuzz campaign, second part: ``doppelab serve`` (HTTP API) and ``doppelab batch``.

The cases are ``bench/fuzz_corpus.py``'s (made in a temporary folder, nothing downloaded).

* ``serve``: one ``doppelab serve --workers 2`` (process pool) on loopback with its own
  ``DOPPELAB_HOME`` and ``TMPDIR``, an API key from ``doppelab keys api create``. Every corpus
  case that is a file is uploaded (POST /v1/checks), polled until done (180 s limit), and its JSON
  and HTML report are fetched; then API abuse (keys, content types, file names, sizes, ids).
  Afterwards: a normal check still works, no stray files in uploads/reports/TMPDIR, every check
  deleted leaves those folders empty, and the server log has no traceback.
* ``batch``: ``doppelab batch`` over the corpus folder to Parquet, over a CSV list (missing
  paths, a folder, duplicate rows) to JSONL, and a run interrupted by SIGINT / SIGTERM after a
  few rows and resumed.

Each outcome is classified as in ``bench/fuzz_inputs.py``: ``OK`` (checked normally), ``TYPED``
(a 4xx problem+json, a check failed with a one-line reason, a batch row with status "error"),
``CRASH`` (5xx, traceback, hang, server died, wrong exit code), ``LEAK`` (a stray or temporary
file, a server path in a response), ``REJECT`` (a valid image or video refused), ``WRONG`` (a
face-less picture called "likely real", an abuse request accepted, duplicate or lost rows).

Usage: python bench/fuzz_service.py [--phase before|after] [--skip serve,batch]
       [--only REGEX] [--src DIR] [--out bench/results/fuzz_service.json]

The ``before`` block of the shipped JSON ran the code of commit 0c41b91 (``git archive 0c41b91
src`` unpacked elsewhere, given as ``--src``); ``after`` the fixed code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_corpus import make_corpus
from fuzz_run import count_table, save_phase
from fuzz_service_batch import phase_batch
from fuzz_service_http import phase_serve

CLASSES = ("OK", "TYPED", "CRASH", "LEAK", "REJECT", "WRONG")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", default="before", help="block of the JSON to (re)write")
    ap.add_argument("--skip", default="", help="comma-separated: serve, batch")
    ap.add_argument("--only", help="regular expression: only the matching corpus cases")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "fuzz_service.json")
    ap.add_argument("--src", type=Path, help="doppelab sources the commands run (default: ./src)")
    args = ap.parse_args()
    if args.src is not None:
        os.environ["DOPPELAB_FUZZ_SRC"] = str(args.src.resolve())
    root = Path(tempfile.mkdtemp(prefix="doppelab_fuzzsvc_")) if args.work is None else args.work
    for old in ("cases", "base", "serve", "batch"):
        shutil.rmtree(root / old, ignore_errors=True)
    cases, _ = make_corpus(root)
    if args.only:
        only = re.compile(args.only)
        cases = [c for c in cases if only.search(c.name)]
    started = time.time()
    records: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if "serve" not in args.skip:
        recs, extra["serve"] = phase_serve(cases, root / "serve")
        records += recs
    if "batch" not in args.skip:
        recs, extra["batch"] = phase_batch(cases, root / "cases", root / "batch")
        records += recs
    table = count_table(records, CLASSES, lambda r: r.get("detail", "")[:200])
    save_phase(args.out, args.phase, {"seconds": round(time.time() - started, 1),
                                      "cases": len(cases), "counts": table, "facts": extra,
                                      "runs": records})
    print(f"\n{len(records)} outcomes in {time.time() - started:.0f} s -> {args.out}")
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
