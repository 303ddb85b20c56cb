"""Leave-clips-out cross-validation of the sync network on the ``train`` clips (never ``dev``).

The training clips are split into ``folds`` groups (round robin by name); for each group a network
is trained on the others and, every ``save_every`` steps, measured on the held-out clips: each
clip as published, with its audio moved by ``+-2..10`` frames (the audio track's start time moved,
the same as re-timing it in the container) and with the other held-out clips' audio (dubbed).
For every checkpoint, clip-level pooling and condition it records the offset, confidence and the
pooled lag curve, so designs, seed ensembles and decision scores can be chosen from these rows
(:mod:`doppelab.detect.avsync.cvscore`) without touching ``dev``.

Run: ``python -m doppelab.detect.avsync.cv --data ../shared/data --out cv.json [--lip-norm rms]
[--rates 0.85 1.15] [--fps 20 30] [--lip-input velocity] [--mel-input delta] [--steps 1200]``;
:func:`summarise` turns the rows into the bench's measures.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from doppelab.audio import Segment
from doppelab.core.storage import atomic_write_text
from doppelab.detect.avsync.analyse import MAX_LAG, curve_peak, pooled_curve
from doppelab.detect.avsync.dataset import cached_face_track, default_cache, list_clips
from doppelab.detect.avsync.features import (
    ClipFeatures,
    anchor_frames,
    audio_segments,
    clip_features,
    lag_logits,
)
from doppelab.detect.avsync.net import SyncNet, SyncNetConfig
from doppelab.detect.avsync.streams import AudioTrack, FaceTrack, read_audio
from doppelab.detect.avsync.train import Recipe, clip_items, fit

SHIFTS = tuple(k for k in range(-10, 11) if abs(k) >= 2)
POOLINGS = ("mean", "confidence", "speech")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldOut:
    """One held-out clip's decoded streams."""

    name: str
    track: FaceTrack
    audio: AudioTrack
    segments: list[Segment]


def conditions(clip: HeldOut, others: list[HeldOut]) -> dict[str, ClipFeatures]:
    """Features of ``clip`` in sync (``"0"``), shifted by ``k`` frames (``"k"``) and with each
    other clip's audio (``"swap:NAME"``)."""
    out = {}
    for k in (0, *SHIFTS):
        moved = replace(clip.audio, start_s=clip.audio.start_s + k / clip.track.fps)
        out[str(k)] = clip_features(clip.track, moved, clip.segments)
    for other in others:
        out[f"swap:{other.name}"] = clip_features(clip.track, other.audio, other.segments)
    return out


def measure(model: SyncNet, feats: dict[str, ClipFeatures]) -> dict[str, Any]:
    """Offset and confidence of every condition under every pooling, and the pooled ``curve``
    itself (rounded to 1e-4), so ensembles and decision scores can be evaluated from the rows
    without retraining (:mod:`doppelab.detect.avsync.decide`)."""
    rows: dict[str, Any] = {}
    for cond, f in feats.items():
        logits = lag_logits(model, f, MAX_LAG)
        usable = anchor_frames(f, MAX_LAG)
        rec = {}
        for pooling in POOLINGS:
            curve = pooled_curve(logits, usable, pooling, f.speech)
            if curve is not None:
                off, conf = curve_peak(curve)
                rec[pooling] = {"offset": off, "confidence": conf,
                                "curve": [round(float(x), 4) for x in curve]}
        rows[cond] = rec
    return rows


def load_heldout(data: Path, cache: Path) -> list[HeldOut]:
    """The ``train`` clips that have an audio track, decoded."""
    out = []
    for clip in list_clips(data, "train"):
        audio = read_audio(clip.path)
        if audio is not None:
            out.append(HeldOut(name=clip.name, track=cached_face_track(clip.path, cache),
                               audio=audio, segments=audio_segments(audio)))
    return out


def run_cv(clips: list[HeldOut], cfg: SyncNetConfig, recipe: Recipe, folds: int,
           save_every: int, out: Path | None = None) -> list[dict[str, Any]]:
    """Rows ``{fold, step, clip, results}`` of every fold and checkpoint (see the module doc);
    with ``out``, the rows so far and their summary are written there after every checkpoint."""
    items = {c.name: clip_items(c.name, c.track, c.audio, c.segments, cfg.lip_norm,
                                recipe.rates, recipe.fps) for c in clips}
    clips = [c for c in clips if any(it.name.endswith("@1") for it in items[c.name])]
    rows: list[dict[str, Any]] = []
    for fold in range(folds):
        held = [c for i, c in enumerate(clips) if i % folds == fold]
        train = [it for c in clips if c not in held for it in items[c.name]]
        feats = {c.name: conditions(c, [o for o in held if o is not c]) for c in held}
        _log.info("fold %d: held out %s", fold, [c.name for c in held])

        def on_save(step: int, model: SyncNet, fold: int = fold,
                    feats: dict[str, dict[str, ClipFeatures]] = feats) -> None:
            for name, f in feats.items():
                rows.append({"fold": fold, "step": step, "clip": name,
                             "results": measure(model, f)})
            _log.info("fold %d step %d measured", fold, step)
            if out is not None:
                write_result(out, cfg, recipe, folds, rows)

        fit(train, cfg, recipe, save_every=save_every, on_save=on_save)
    return rows


@dataclass(frozen=True, slots=True)
class ShiftCase:
    """One shifted condition of a held-out clip: the known ``shift``, the offset read with it and
    the clip's own in-sync reading."""

    clip: str
    shift: int
    offset: float
    in_sync: float

    @property
    def within_1_frame(self) -> bool:
        """The reading is within one frame of the shift (the published clip taken as in sync)."""
        return abs(self.offset - self.shift) <= 1.0

    @property
    def relative_within_1_frame(self) -> bool:
        """The reading is within one frame of the shift plus the clip's in-sync reading."""
        return abs(self.offset - self.in_sync - self.shift) <= 1.0


@dataclass(frozen=True, slots=True)
class OffsetCases:
    """Offsets of held-out clips sorted into cases (see :func:`offset_cases`)."""

    shifted: list[ShiftCase]
    in_sync: list[float]  # the in-sync offset of every clip that has one
    swapped: list[float]  # the offset of every dubbed condition of those clips

    def accuracy(self) -> dict[str, float]:
        """Share of the shifted cases read within one frame: ``within_1_frame`` (absolute) and
        ``relative_within_1_frame``."""
        return {
            "within_1_frame": float(np.mean([c.within_1_frame for c in self.shifted])),
            "relative_within_1_frame": float(
                np.mean([c.relative_within_1_frame for c in self.shifted])
            ),
        }


def offset_cases(clips: Iterable[tuple[str, Mapping[str, float]]]) -> OffsetCases:
    """Sort ``(clip, {condition: offset})`` readings into cases; conditions as in :func:`conditions`
    (``"0"``, ``"k"``, ``"swap:NAME"``). A clip without an in-sync (``"0"``) reading is skipped."""
    shifted: list[ShiftCase] = []
    in_sync: list[float] = []
    swapped: list[float] = []
    for clip, res in clips:
        if "0" not in res:
            continue
        b = res["0"]
        in_sync.append(b)
        for cond, off in res.items():
            if cond.startswith("swap:"):
                swapped.append(off)
            elif cond != "0":
                shifted.append(ShiftCase(clip=clip, shift=int(cond), offset=off, in_sync=b))
    return OffsetCases(shifted=shifted, in_sync=in_sync, swapped=swapped)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per checkpoint step and pooling: offset accuracy (absolute: the published clip taken as in
    sync; relative: against the clip's own in-sync estimate), in-sync offsets within one frame and
    AUC of ``|offset|`` for in sync vs shifted and vs swapped."""
    from doppelab.detect.metrics import auc_real_vs_fake

    out: dict[str, dict[str, dict[str, float]]] = {}
    for step in sorted({r["step"] for r in rows}):
        at = [r for r in rows if r["step"] == step]
        out[str(step)] = {}
        for pooling in POOLINGS:
            cases = offset_cases(
                (r["clip"], {k: v[pooling]["offset"] for k, v in r["results"].items()
                             if pooling in v}) for r in at)
            if not cases.shifted:
                continue
            real = [abs(b) for b in cases.in_sync]
            out[str(step)][pooling] = {
                **cases.accuracy(),
                "in_sync_within_1_frame": float(np.mean([b <= 1.0 for b in real])),
                "auc_shifted": auc_real_vs_fake(real, [abs(c.offset) for c in cases.shifted]),
                "auc_swapped": auc_real_vs_fake(real, [abs(v) for v in cases.swapped]),
            }
    return out


def write_result(out: Path, cfg: SyncNetConfig, recipe: Recipe, folds: int,
                 rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write config, recipe, summary and rows to ``out`` (atomically); return the summary."""
    summary = summarise(rows)
    result = {"config": cfg.to_dict(), "recipe": asdict(recipe), "folds": folds,
              "folds_done": len({r["fold"] for r in rows}), "summary": summary, "rows": rows}
    atomic_write_text(out, json.dumps(result, indent=1))
    return summary


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--save-every", type=int, default=300)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lip-norm", choices=("scale", "rms"), default="scale")
    ap.add_argument("--lip-input", choices=("both", "velocity"), default="both")
    ap.add_argument("--mel-input", choices=("mel", "delta"), default="mel")
    ap.add_argument("--rates", type=float, nargs="*", default=[])
    ap.add_argument("--fps", type=float, nargs="*", default=[],
                    help="extra frame rates of every training clip (lips resampled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this many steps of the --steps long LR schedule")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    cfg = SyncNetConfig(dropout=args.dropout, lip_norm=args.lip_norm,
                        lip_input=args.lip_input, mel_input=args.mel_input)
    recipe = Recipe(steps=args.steps, seed=args.seed, rates=tuple(args.rates), fps=tuple(args.fps),
                    stop_at=args.stop_at)
    rows = run_cv(load_heldout(args.data, args.cache), cfg, recipe, args.folds, args.save_every,
                  args.out)
    print(json.dumps(write_result(args.out, cfg, recipe, args.folds, rows), indent=1))


if __name__ == "__main__":
    main()
