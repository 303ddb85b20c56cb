"""Evaluation of the detector on a labelled list of files (``doppelab eval LABELS.csv``).

``LABELS.csv`` has a header with at least ``path`` and ``label`` (``1``/``fake`` or
``0``/``real``) and optionally ``source`` (e.g. the method that made a fake); relative paths are
taken from the CSV's folder. Each file goes through :class:`~doppelab.detect.predict.Detect`
(same protocol as ``detect``). Reported: video-level (one score per file) and frame-level (one
score per sampled frame) AUC, EER, AP and accuracy at the calibrated threshold (P = 0.5), the
same per ``source`` (each fake source against all reals), and the ROC curves as a PNG.
Files without a usable face are counted and left out of the metrics. Audio evidence adds the
levels ``speech`` (one speech-detector probability per file with speech) and ``speech_window``
(one per 2 s window), with the same per-source breakdown (each generator against all reals).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.errors import DoppelabError, UsageError
from doppelab.core.storage import NotRegularFileError, read_regular
from doppelab.detect.metrics import roc_curve, summary
from doppelab.detect.predict import Detect, MediaResult

LABELS = {"1": 1, "fake": 1, "0": 0, "real": 0}
LEVELS = ("video", "frame", "speech", "speech_window")  # of the metrics, in report order


@dataclass(frozen=True, slots=True, kw_only=True)
class Labelled:
    path: Path
    label: int
    source: str


def _decode_csv(raw: bytes) -> str:
    """The text of a labels file: UTF-8 (a leading BOM dropped, as spreadsheets write it) or
    UTF-16 with its BOM; bytes that are not UTF-8 (a path in Latin-1) are kept as surrogate
    escapes, so such a path still names the file it names on disk."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig", errors="surrogateescape")


def _read_regular(p: Path) -> bytes:
    """The bytes of the regular file ``p``. Anything else is refused before a byte is read: a
    FIFO would block until some writer came, ``/dev/zero`` or ``/dev/urandom`` would fill the
    memory (:func:`~doppelab.core.storage.read_regular`)."""
    try:
        return read_regular(p)
    except IsADirectoryError:
        raise UsageError(f"cannot read {p}: a folder, not a labels CSV file") from None
    except NotRegularFileError:
        raise UsageError(f"cannot read {p}: not a regular file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None


def _dialect(text: str) -> str:
    """The delimiter: a comma, else a semicolon or tab when the header holds one and no comma
    (spreadsheets in many locales save CSV with semicolons)."""
    header = text.split("\n", 1)[0]
    if "," not in header:
        for sep in (";", "\t"):
            if sep in header:
                return sep
    return ","


def read_labels(csv_path: str | Path) -> list[Labelled]:
    """Rows of a LABELS.csv (see module doc); raises :class:`UsageError` on a bad file.

    Tolerated: a UTF-8 BOM or UTF-16, CRLF line ends, semicolon or tab delimiters, header names
    in any case with spaces around them, spaces around values.
    """
    p = Path(csv_path)
    raw = _read_regular(p)
    try:
        text = _decode_csv(raw)
        if "\x00" in text:
            raise csv.Error("NUL bytes: a binary file")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
        table = [(reader.line_num, [cell.strip() for cell in row]) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:  # a binary file, NUL bytes, a broken quote
        raise UsageError(f"{p} is not a readable CSV text file ({exc})") from None
    table = [(i, row) for i, row in table if any(row)]  # blank lines
    header = [h.lower() for h in table[0][1]] if table else []
    if len(table) < 2 or not {"path", "label"} <= set(header):
        first = f" (first line: {','.join(table[0][1])[:80]!r})" if table else " (no lines)"
        raise UsageError(f"{p} needs a header with 'path' and 'label' columns and some "
                         f"rows{first}")
    col = {name: header.index(name) for name in ("path", "label", "source") if name in header}
    out = []
    for i, r in table[1:]:
        cells = {name: (r[k] if k < len(r) else "") for name, k in col.items()}
        lab = LABELS.get(cells["label"].lower())
        if lab is None:
            raise UsageError(f"{p} line {i}: label must be 0/1/real/fake, not {cells['label']!r}")
        if not cells["path"]:
            raise UsageError(f"{p} line {i}: empty path")
        path = Path(cells["path"])
        src = cells.get("source") or ("real" if lab == 0 else "fake")
        out.append(
            Labelled(path=path if path.is_absolute() else p.parent / path, label=lab, source=src)
        )
    return out


def _level_rows(results: list[tuple[Labelled, MediaResult]]
                ) -> dict[str, list[tuple[int, float, str]]]:
    """(label, P(fake), source) rows of every level of :data:`LEVELS`, in that order."""
    return {
        "video": [(x.label, r.probability, x.source) for x, r in results
                  if r.probability is not None],
        "frame": [(x.label, t["probability"], x.source) for x, r in results for t in r.timeline],
        # audio: the speech detector alone, per file and per 2 s window
        "speech": [(x.label, r.speech["probability"], x.source) for x, r in results
                   if r.speech and r.speech.get("probability") is not None],
        "speech_window": [(x.label, w["probability"], x.source) for x, r in results
                          if r.speech for w in r.speech.get("windows", [])],
    }


def _scores(results: list[tuple[Labelled, MediaResult]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level, rows in _level_rows(results).items():
        if not rows:
            continue
        y = np.array([r[0] for r in rows])
        s = np.array([r[1] for r in rows], np.float64)
        src = np.array([r[2] for r in rows])
        per = {}
        for name in sorted(set(src[y == 1])):
            keep = (y == 0) | (src == name)
            per[name] = summary(y[keep], s[keep], 0.5)
        out[level] = {"all": summary(y, s, 0.5), "per_source": per}
    return out


def roc_png(results: list[tuple[Labelled, MediaResult]], path: str | Path) -> None:
    """ROC curves (video and frame level) as a PNG file."""
    from doppelab.core.storage import atomic_path
    from doppelab.detect.report import pyplot

    fig = _roc_figure(results)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)


def _roc_figure(results: list[tuple[Labelled, MediaResult]]) -> Any:
    from doppelab.detect.report import pyplot

    fig, ax = pyplot().subplots(figsize=(4.5, 4.5))
    for level, rows in _level_rows(results).items():  # every level with both classes
        y = np.array([a for a, _, _ in rows])
        if len(rows) and 0 < y.sum() < len(y):
            fpr, tpr, _ = roc_curve(y, [b for _, b, _ in rows])
            ax.plot(fpr, tpr, label=level)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if ax.get_legend_handles_labels()[0]:  # no curve when one class is missing: no legend
        ax.legend()
    return fig


def report_html(metrics: dict[str, Any], results: list[tuple[Labelled, MediaResult]]) -> str:
    """eval's ``report.html``: the metrics of every level and source, the ROC curves and each
    file's label and verdict, then the detect report of every file (one self-contained page)."""
    import html

    from doppelab.detect.report import figure_uri, to_html

    e = html.escape

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    rows = "".join(
        f"<tr><td>{e(level)}</td><td>{e(name)}</td><td>{s['n']} ({s['fake']} fake, "
        f"{s['real']} real)</td><td>{num(s['auc'])}</td><td>{num(s['eer'])}</td>"
        f"<td>{num(s['ap'])}</td><td>{num(s['accuracy'])}</td></tr>"
        for level in LEVELS if level in metrics
        for name, s in [("all", metrics[level]["all"]), *metrics[level]["per_source"].items()]
    )
    files = "".join(
        f"<tr><td>{e(Path(x.path).name)}</td><td>{'fake' if x.label else 'real'}</td>"
        f"<td>{e(x.source)}</td><td>{e(r.verdict)}</td><td>{num(r.probability)}</td></tr>"
        for x, r in results
    )
    failed = "".join(f"<li>{e(f['path'])}: {e(f['error'])}</li>" for f in metrics["failed"])
    counts = [f"{metrics['scored']}/{metrics['files']} files scored"]
    if metrics["unscored"]:
        counts.append(f"{len(metrics['unscored'])} without a face or speech")
    if metrics["failed"]:
        counts.append(f"{len(metrics['failed'])} failed")
    failed_list = f"<p>Failed:</p><ul>{failed}</ul>" if failed else ""
    preface = (
        f"<section><h2>Metrics</h2><p>{', '.join(counts)}. Video level: one "
        "score per file (images and audio files included); frame: one per sampled frame; "
        "speech and speech_window: the speech detector per file and per 2 s window. Each "
        "source is its fakes against all reals; accuracy at P(fake) = 0.5.</p>"
        "<table><tr><th>level</th><th>source</th><th>n</th><th>AUC</th><th>EER</th><th>AP</th>"
        f"<th>accuracy</th></tr>{rows}</table>"
        f'<img src="{figure_uri(_roc_figure(results))}" alt="ROC curves">'
        "<table><tr><th>file</th><th>label</th><th>source</th><th>verdict</th><th>P(fake)</th>"
        f"</tr>{files}</table>{failed_list}</section>"
    )
    return to_html([r for _, r in results], "doppelab eval", preface)


def evaluate(
    rows: list[Labelled], detect: Detect, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], list[tuple[Labelled, MediaResult]]]:
    """Run ``detect`` on every row; metrics dict (see module doc) and the per-file results."""
    results: list[tuple[Labelled, MediaResult]] = []
    failed: list[dict[str, str]] = []
    for row in rows:
        try:
            results.append((row, detect.run(row.path)))
        except DoppelabError as exc:
            failed.append({"path": str(row.path), "error": str(exc)})
        if progress:
            progress(1)
    no_face = [str(x.path) for x, r in results if r.probability is None]
    metrics = {
        "files": len(rows),
        "scored": len(results) - len(no_face),
        "unscored": no_face,
        "failed": failed,
        **_scores(results),
    }
    return metrics, results
