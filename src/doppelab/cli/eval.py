"""``doppelab eval LABELS.csv``: frame- and video-level AUC, EER, AP, accuracy; ROC plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar
from doppelab.core.errors import NothingFoundError, OutputError

EPILOG = """\
examples:
  doppelab eval labels.csv
  doppelab eval labels.csv --out eval_out/ --frames 32 --json

LABELS.csv: a header with path,label[,source]; label 1/fake or 0/real; relative paths are read
from the CSV's folder. Writes OUT/eval.json, OUT/roc.png and OUT/report.html."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "eval",
        help="evaluate the detector on labelled files (AUC, EER, AP, ROC)",
        description="Run detect on every file of a labels CSV and report video-level and "
        "frame-level AUC, EER, AP and accuracy at the calibrated threshold (P=0.5), per source.",
        epilog=EPILOG,
        run=run,
    )
    p.add_argument("labels", type=path_arg, metavar="LABELS.csv")
    p.add_argument("--out", type=path_arg, default=Path("eval_out"),
                   help="output folder (default ./eval_out)")
    p.add_argument("--frames", type=int, default=32,
                   help="frames sampled per video (default 32)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the CNN (default 1)")
    add_json(p, "print the metrics as JSON")


_LEVELS = ("video", "frame", "speech", "speech_window")


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _text(m: dict[str, Any]) -> str:
    lines = [f"{m['scored']}/{m['files']} files scored"]
    if m["failed"]:
        lines.append(f"{len(m['failed'])} failed (first: {m['failed'][0]['error']})")
    one_class = [lv for lv in _LEVELS if lv in m and not (m[lv]["all"]["fake"]
                                                           and m[lv]["all"]["real"])]
    if one_class:
        lines.append(f"only one class (real or fake) at level {', '.join(one_class)}: AUC, EER "
                     "and AP need both and are n/a")
    for level in _LEVELS:
        if level not in m:
            continue
        for name, s in [("all", m[level]["all"]), *m[level]["per_source"].items()]:
            lines.append(
                f"{level:13s} {name:20s} n={s['n']:5d} AUC={_f(s['auc'])} EER={_f(s['eer'])} "
                f"AP={_f(s['ap'])} acc@0.5={_f(s['accuracy'])}"
            )
    return "\n".join(lines)


def _check_out(out: Path) -> None:
    """An --out that cannot become the results folder is refused before the (long) evaluation
    runs, not after it; the folder itself is made only once there is something to write."""
    from doppelab.core.storage import check_folder_possible, name_problem

    problem = name_problem(out)
    if problem:
        raise OutputError(f"cannot create folder {out}: {problem}")
    check_folder_possible(out, f"--out {out}")


def run(args: argparse.Namespace) -> int:
    from doppelab.core.storage import atomic_write_text, ensure_dir
    from doppelab.detect.evaluate import evaluate, read_labels, report_html, roc_png
    from doppelab.detect.predict import Detect, DetectConfig
    from doppelab.detect.report import clean_json

    rows = read_labels(args.labels)
    _check_out(args.out)
    det = Detect(DetectConfig(frames=args.frames, threads=args.threads))
    with progress_bar(len(rows), unit="file", desc="eval") as bar:
        metrics, results = evaluate(rows, det, progress=bar.update)
    if not any(level in metrics for level in _LEVELS):  # nothing to measure: no report
        failed = metrics["failed"]
        first = f" (first: {failed[0]['error']})" if failed else ""
        raise NothingFoundError(
            f"no file of {args.labels} could be scored: {len(failed)} failed{first}, "
            f"{len(metrics['unscored'])} without a face or speech")
    out = ensure_dir(args.out)
    metrics = clean_json(metrics)
    atomic_write_text(out / "eval.json", json.dumps(metrics, indent=2) + "\n")
    roc_png(results, out / "roc.png")
    atomic_write_text(out / "report.html", report_html(metrics, results))
    print(json.dumps(metrics, indent=2) if args.json else _text(metrics))
    if not args.json:
        print(f"-> {out}/ (eval.json, roc.png, report.html)")
    return 0
