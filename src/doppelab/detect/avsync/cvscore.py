"""Ensembles and decision scores evaluated on cross-validation rows (train clips only, never dev).

Every :mod:`doppelab.detect.avsync.cv` run stores, per fold, held-out clip and condition (in
sync ``"0"``, shifted ``"k"``, dubbed ``"swap:NAME"``), the clip's mean lag curve. Runs that differ
only in the training seed hold out the same clips in the same folds (round robin by name), so
an ensemble of their networks is the mean of their curves (the curve is a mean of logits, and the
mean commutes). For each ensemble this module reports the offset accuracy (absolute and relative
to the clip's own in-sync reading) and, for every decision score of
:mod:`doppelab.detect.avsync.decide`, the AUC of in sync vs shifted (also by ``|shift|``) and vs
swapped, and the balanced accuracy at probability 0.5 of a Platt logistic fitted on the other
folds' rows (leave-one-fold-out: the threshold is never fitted on the rows it is judged on).

With ``--lipreg-data DATA``, each curve is first combined (:func:`lipreg.combine`) with the curve
of the audio-to-mouth ridge model (:mod:`doppelab.detect.avsync.lipreg`) fitted, per fold, on
the clips of the other folds: the same held-out clips and conditions, so the combination is
judged exactly like the network alone.

Run: ``python -m doppelab.detect.avsync.cvscore s0.json s1.json s2.json --out ens.json
[--step 200] [--pooling mean|confidence|speech] [--singles] [--lipreg-data ../shared/data
[--cache DIR]]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.storage import atomic_write_text
from doppelab.detect.avsync.analyse import MAX_LAG, curve_peak
from doppelab.detect.avsync.cv import conditions, load_heldout, offset_cases
from doppelab.detect.avsync.dataset import default_cache
from doppelab.detect.avsync.decide import SCORES, curve_scores, fit_platt, platt_probability
from doppelab.detect.avsync.features import anchor_frames, clip_features
from doppelab.detect.avsync.lipreg import combine, fit_lipreg
from doppelab.detect.metrics import auc_real_vs_fake

F64 = npt.NDArray[np.float64]
Key = tuple[int, str, str]  # fold, clip, condition


def load_curves(paths: Sequence[Path], step: int, pooling: str = "mean") -> dict[Key, F64]:
    """Mean curve over the runs at ``paths`` for every (fold, clip, condition) at ``step``.

    Raises:
        UsageError: a file has no curves at that step, or the runs disagree on their rows.
    """
    sums: dict[Key, list[F64]] = {}
    for path in paths:
        rows = [r for r in json.loads(Path(path).read_text())["rows"] if r["step"] == step]
        got = {(int(r["fold"]), str(r["clip"]), cond): np.asarray(v[pooling]["curve"])
               for r in rows for cond, v in r["results"].items()
               if pooling in v and "curve" in v[pooling]}
        if not got:
            raise UsageError(f"no {pooling} curves at step {step} in {path}")
        if sums and set(got) != set(sums):
            raise UsageError(f"{path} holds other folds or conditions than the first run")
        for k, c in got.items():
            sums.setdefault(k, []).append(c)
    return {k: np.mean(v, axis=0) for k, v in sums.items()}


def _label(cond: str) -> str:
    return "in_sync" if cond == "0" else "swapped" if cond.startswith("swap:") else "shifted"


def offset_accuracy(peaks: dict[Key, float]) -> dict[str, Any]:
    """Offset within one frame of the known shift: absolute and relative to the clip's own
    in-sync reading (:func:`~doppelab.detect.avsync.cv.offset_cases`, as the CV summary counts
    them); and each held-out clip's in-sync offset. ``peaks``: each curve's peak offset."""
    by_clip: dict[tuple[int, str], dict[str, float]] = {}
    for (fold, clip, cond), off in peaks.items():
        by_clip.setdefault((fold, clip), {})[cond] = off
    cases = offset_cases((clip, res) for (_, clip), res in by_clip.items())
    base = {c.clip: round(c.in_sync, 2) for c in cases.shifted}
    return {**cases.accuracy(), "cases": len(cases.shifted),
            "in_sync_offsets": dict(sorted(base.items()))}


def score_table(feats: dict[Key, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per decision score: AUCs (shifted, swapped, by ``|shift|``) and the leave-one-fold-out
    balanced accuracy of its Platt probability at 0.5. ``feats``: each curve's
    :func:`~doppelab.detect.avsync.decide.curve_scores`."""
    folds = sorted({k[0] for k in feats})
    out: dict[str, dict[str, float]] = {}
    for name in SCORES:
        real = [f[name] for k, f in feats.items() if _label(k[2]) == "in_sync"]
        rec: dict[str, float] = {}
        for cls in ("shifted", "swapped"):
            fake = [f[name] for k, f in feats.items() if _label(k[2]) == cls]
            rec[f"auc_{cls}"] = auc_real_vs_fake(real, fake)
        for s in (2, 3, 4, 5, 10):
            fake = [f[name] for k, f in feats.items()
                    if _label(k[2]) == "shifted" and abs(int(k[2])) == s]
            rec[f"auc_shift_{s}"] = auc_real_vs_fake(real, fake)
        hits: dict[int, list[bool]] = {0: [], 1: []}
        for fold in folds:
            fit = [(f[name], int(_label(k[2]) != "in_sync")) for k, f in feats.items()
                   if k[0] != fold]
            a, b = fit_platt([x for x, _ in fit], [y for _, y in fit])
            for k, f in feats.items():
                if k[0] == fold:
                    y = int(_label(k[2]) != "in_sync")
                    hits[y].append((platt_probability(f[name], a, b) >= 0.5) == bool(y))
        rec["balanced_accuracy_lofo"] = 0.5 * (float(np.mean(hits[0])) + float(np.mean(hits[1])))
        out[name] = rec
    return out


def platt_on_all(feats: dict[Key, dict[str, float]], score: str) -> tuple[float, float]:
    """The Platt logistic of ``score`` fitted on every row (what ships); ``feats`` as in
    :func:`score_table`.

    Raises:
        UsageError: unknown ``score``.
    """
    if score not in SCORES:
        raise UsageError(f"unknown decision score {score!r} ({', '.join(SCORES)})")
    rows = [(f[score], int(_label(k[2]) != "in_sync")) for k, f in feats.items()]
    return fit_platt([x for x, _ in rows], [y for _, y in rows])


def with_lipreg(curves: dict[Key, F64], data: Path, cache: Path) -> dict[Key, F64]:
    """``curves`` each combined with the ridge model's curve of the same held-out clip and
    condition, the model fitted on the other folds' clips (in sync, as published); a condition
    whose ridge curve has too few frames is dropped.

    Raises:
        UsageError: a clip of the rows is not among the train clips with audio in ``data``.
    """
    clips = {c.name: c for c in load_heldout(data, cache)}
    folds: dict[int, set[str]] = {}
    for fold, clip, _ in curves:
        folds.setdefault(fold, set()).add(clip)
    missing = {n for names in folds.values() for n in names} - set(clips)
    if missing:
        raise UsageError(f"clips of the CV rows not found in {data}: {sorted(missing)}")
    out: dict[Key, F64] = {}
    for fold, held in sorted(folds.items()):
        train = [clips[n] for f, names in folds.items() if f != fold for n in sorted(names)]
        model = fit_lipreg([clip_features(c.track, c.audio, c.segments) for c in train], MAX_LAG)
        for name in sorted(held):
            others = [clips[n] for n in sorted(held) if n != name]
            for cond, feats in conditions(clips[name], others).items():
                key = (fold, name, cond)
                linear = model.curve(feats, anchor_frames(feats, MAX_LAG), MAX_LAG)
                if key in curves and linear is not None:
                    out[key] = combine([curves[key], linear])
    return out


def evaluate(
    paths: Sequence[Path], step: int, pooling: str = "mean",
    lipreg: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Offset accuracy, score table and Platt fits of the ensemble of the runs at ``paths``
    (each mean curve's peak and decision scores computed once); ``lipreg``: ``(data, cache)``
    to combine every curve with the ridge model's first (:func:`with_lipreg`)."""
    curves = load_curves(paths, step, pooling)
    if lipreg is not None:
        curves = with_lipreg(curves, *lipreg)
    peaks = {k: curve_peak(c)[0] for k, c in curves.items()}
    feats = {k: curve_scores(c, peaks[k]) for k, c in curves.items()}
    return {"runs": [str(p) for p in paths], "step": step, "members": len(paths),
            "pooling": pooling, "lipreg": lipreg is not None, "conditions": len(curves),
            "offset": offset_accuracy(peaks), "scores": score_table(feats),
            "platt_all_rows": {s: platt_on_all(feats, s) for s in SCORES}}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("runs", type=Path, nargs="+", help="cv result files (same folds)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--step", type=int, default=200)
    ap.add_argument("--pooling", default="mean", choices=("mean", "confidence", "speech"))
    ap.add_argument("--singles", action="store_true", help="also evaluate each run alone")
    ap.add_argument("--lipreg-data", type=Path, default=None,
                    help="combine with the audio-to-mouth model fitted per fold on this data")
    ap.add_argument("--cache", type=Path, default=default_cache(), help="face-track cache")
    args = ap.parse_args(argv)
    lipreg = None if args.lipreg_data is None else (args.lipreg_data, args.cache)
    result = {"ensemble": evaluate(args.runs, args.step, args.pooling, lipreg)}
    if args.singles:
        result["singles"] = {str(p): evaluate([p], args.step, args.pooling) for p in args.runs}
    atomic_write_text(args.out, json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
