"""The reverberation gate of the speech detector, measured on held-out train speakers.

Protocol (pre-registered in the session notes, "Session 19, reverberation gate"):

* the train speakers are hashed into 4 folds (``speaker_folds``); fold 0 is held out;
* the speech model: the shipped recipe retrained on the other three folds (codec pairs
  included), Platt-calibrated as in training (``train_speech._final``);
* the reverberation estimator (``bench/speech_reverb.py``): a logistic regression on the dry
  train window features (real and fake) against their room twins (RT60 0.2-0.9 s, DRR
  -3..+12 dB, 3-6 early reflections), fitted on the same three folds;
* its threshold: dry held-out "files" are the (family, recording, codec condition) sets of
  original train windows of fold 0; a file's score is the sigmoid of its mean window logit;
  the threshold is the largest per-family 97th percentile (<= 3% of every family gated);
* measured with and without the gate: fake files of every family still "likely fake" (offline,
  from the file means), real files' verdicts as published and under every condition of
  ``bench/speech_rooms.py`` (40 held-out real recordings through ``analyse_speech``).

Adopt iff (a) room "likely fake" (three rooms summed) fall by >= 50%; (b) every fake family's
"likely fake" share falls by <= 0.03 and dry real verdicts change in <= 5%; (c) noise "likely
fake" do not rise. ``--weights-out`` writes the measured estimator (npz). Result of session 19:
no candidate met the rule, so no gate ships (``bench/results/speech_reverb_gate.json``).

Candidates (``--candidate``): A, the logistic regression on every detector feature (235); B, on
the 192 magnitude statistics only; C, on the sub-band decay statistics
(``speech_reverb.decay_stats``) followed by every detector feature (291 columns). The twin
features are cached (``--twins``, ``--decay-twins``; built in about 2 and 4 minutes).

Usage: python bench/speech_reverb_gate.py --work WORK [--data-dir ../shared/data]
       [--candidate C] [--twins CACHE.npz] [--decay-twins CACHE.npz] [--weights-out reverb.npz]
       [--out bench/results/speech_reverb_gate.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.audio import load_audio
from doppelab.audio.encode import write_audio
from doppelab.core.storage import atomic_write_bytes, atomic_write_npz, atomic_write_text
from doppelab.detect import train_speech as ts
from doppelab.detect.base import sigmoid
from doppelab.detect.frequency import fit_logistic
from doppelab.detect.metrics import roc_auc
from doppelab.detect.speech import analyse_speech
from doppelab.detect.speech_extra import train_families
from doppelab.detect.speech_features import N_FEATURES
from doppelab.detect.speech_model import export_onnx, predict_logits
from doppelab.detect.speech_pairs import codec_pair_features
from speech_reverb import (
    Estimator,
    RecordingDetector,
    decay_stats,
    detector_stats,
    to_arrays,
    twin_features,
)
from speech_rooms import conditions
from speech_select import speaker_folds

MARGIN = 0.15
ROOMS = ("room_rt0.3_drr10", "room_rt0.5_drr5", "room_rt0.5_drr0")
NOISES = ("white_20db", "pink_10db", "babble_10db")


def shard_conditions(work: Path, families: tuple[str, ...]) -> list[str]:
    """Codec condition of every original train window, in ``load_shards`` order."""
    out: list[str] = []
    for fam in families:
        path = work / "shards" / f"train-{fam}.npz"
        if path.exists():
            with np.load(path) as z:
                out += [str(c) for c in z["conditions"]]
    return out


def speech_model(work: Path, recipe: ts.SpeechRecipe, tr: tuple, held0: np.ndarray
                 ) -> tuple[Any, dict[str, float]]:
    """The shipped recipe trained on the train speakers outside ``held0`` (as rt_exp's base)."""
    twins = codec_pair_features(work, extra=recipe.extra_families, prosody=recipe.prosody)
    full, pairs = ts.with_codec_pairs(tr, twins)
    held = np.concatenate([held0, held0[twins[1]]])
    x, y, fam, group = full
    keep = ~held
    sub = (x[keep], y[keep], [f for f, k in zip(fam, keep, strict=True) if k],
           [g for g, k in zip(group, keep, strict=True) if k])
    model, cal, _, _ = ts._final(sub, (x[:10], y[:10], fam[:10], group[:10]), recipe,
                                 lambda r: None, ts.subset_pairs(pairs, keep))
    return model, cal


def file_means(keys: list[tuple[str, str, str]], values: np.ndarray
               ) -> dict[tuple[str, str, str], float]:
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for k, v in zip(keys, values, strict=True):
        acc[k].append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def offline_files(rv_logits: np.ndarray, sp_logits: np.ndarray, cal: dict[str, float],
                  keys: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Per file: reverberation score and speech probability; per family the 97th percentile."""
    rv = file_means(keys, rv_logits)
    sp = file_means(keys, sp_logits)
    fams = sorted({k[0] for k in rv})
    score = {k: float(sigmoid(v)) for k, v in rv.items()}
    prob = {k: float(sigmoid(cal["a"] * v + cal["b"])) for k, v in sp.items()}
    q97 = {f: float(np.quantile([s for k, s in score.items() if k[0] == f], 0.97)) for f in fams}
    return {"score": score, "probability": prob, "q97": q97, "families": fams}


def offline_summary(off: dict[str, Any], threshold: float) -> dict[str, Any]:
    out = {}
    for f in off["families"]:
        ks = [k for k in off["score"] if k[0] == f]
        fake = np.array([off["probability"][k] >= 0.5 + MARGIN for k in ks])
        gated = np.array([off["score"][k] > threshold for k in ks])
        out[f] = {"files": len(ks), "gated_share": float(gated.mean()),
                  "likely_fake": float(fake.mean()), "likely_fake_gated": float(
                      (fake & ~gated).mean()), "verdict_changes": int((fake & gated).sum())}
    return out


def held_real_rows(data: Path, n: int) -> list[dict[str, str]]:
    """``n`` drawn real train recordings of held-out speakers (rt_exp's pick)."""
    with open(data / "speech.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    fold = speaker_folds(data, [r["file"] for r in rows], n=4)
    speakers = {r["speaker"] for r, k in zip(rows, fold, strict=True) if k == 0}
    rows = [r for r in rows if r["speaker"] in speakers]
    pick = np.random.default_rng(0).choice(len(rows), min(n, len(rows)), replace=False)
    return [rows[i] for i in sorted(pick)]


def gated(v: str, score: float | None, threshold: float) -> str:
    """The verdict after the gate: "likely fake" of a strongly reverberant file -> inconclusive."""
    return "inconclusive" if v == "likely fake" and score is not None and score > threshold else v


def pipeline(data: Path, det: RecordingDetector, threshold: float, n: int
             ) -> dict[str, dict[str, Any]]:
    """Every held-out real file as published and under every speech_rooms condition:
    [gated verdict, ungated verdict, probability, reverberation score]."""
    assert det.estimator is not None
    rows = held_real_rows(data, n)
    per: dict[str, dict[str, Any]] = {}

    def one(path: Path) -> list[Any]:
        r = analyse_speech(path, det)
        seen = det.take()
        score = det.estimator.file_score(seen) if seen and det.estimator else None
        return [gated(r.verdict, score, threshold), r.verdict, r.probability, score]

    with tempfile.TemporaryDirectory() as tmp:
        for k, row in enumerate(rows):
            clip = load_audio(data / row["file"], normalize=False)
            base = one(data / row["file"])
            if base[2] is None:
                continue
            other = load_audio(data / rows[(k + 7) % len(rows)]["file"], normalize=False,
                               sample_rate=clip.sample_rate)
            out = {"published": base}
            rng = np.random.default_rng(1)
            for name, fn in conditions(other.samples, clip.sample_rate).items():
                path = write_audio(Path(tmp) / "v.wav", fn(clip.samples, rng), clip.sample_rate)
                out[name] = one(path)
            per[row["file"]] = out
    return per


def pipeline_summary(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for c in next(iter(per.values())):
        got = [v[c] for v in per.values()]
        out[c] = {"files": len(got), "likely_fake_before": sum(g[1] == "likely fake" for g in got),
                  "likely_fake_after": sum(g[0] == "likely fake" for g in got),
                  "verdict_changes": sum(g[0] != g[1] for g in got)}
    return out


def rule(pipe: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    before = sum(pipe[c]["likely_fake_before"] for c in ROOMS)
    after = sum(pipe[c]["likely_fake_after"] for c in ROOMS)
    drops = {f: v["likely_fake"] - v["likely_fake_gated"] for f, v in off.items() if f != "real"}
    real_off = off.get("real", {}).get("verdict_changes", 0) / max(1, off["real"]["files"])
    real_pipe = pipe["published"]["verdict_changes"] / max(1, pipe["published"]["files"])
    noise = (sum(pipe[c]["likely_fake_before"] for c in NOISES),
             sum(pipe[c]["likely_fake_after"] for c in NOISES))
    res = {"a_rooms_before_after": [before, after],
           "a": after <= 0.5 * before,
           "b_fake_drop_max": max(drops.values()), "b_real_changes": [real_pipe, real_off],
           "b": max(drops.values()) <= 0.03 and real_pipe <= 0.05 and real_off <= 0.05,
           "c_noise_before_after": list(noise), "c": noise[1] <= noise[0]}
    res["adopt"] = bool(res["a"] and res["b"] and res["c"])
    return res


def candidate_features(args: argparse.Namespace, recipe: ts.SpeechRecipe, dry: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, str, int]:
    """(dry, twin, kind, detector columns) window features of ``args.candidate``: ``A`` every
    detector column, ``B`` the 192 magnitude columns, ``C`` the decay statistics and every
    detector column."""
    _, twins = twin_features(args.work, recipe, args.twins or args.work / "reverb-twins.npz",
                             detector_stats, with_dry=False)
    if args.candidate == "C":
        d, t = twin_features(args.work, recipe,
                             args.decay_twins or args.work / "reverb-decay-twins.npz",
                             decay_stats, with_dry=True)
        assert d is not None
        return np.c_[d, dry], np.c_[t, twins], "decay", dry.shape[1]
    cols = N_FEATURES if args.candidate == "B" else dry.shape[1]
    return dry[:, :cols], twins[:, :cols], "detector", cols


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    recipe = ts.SpeechRecipe()
    tr = ts.features(args.work, "train", True, recipe.extra_families, recipe.prosody,
                     recipe.rooms)
    x, _, fam, group = tr
    n_half = len(fam) // 2
    dry, twins, kind, cols = candidate_features(args, recipe, x[:n_half])
    held0 = speaker_folds(args.data_dir, group, n=4) == 0
    h = held0[:n_half]
    clf = fit_logistic(np.r_[dry[~h], twins[~h]].astype(np.float64),
                       np.r_[np.zeros((~h).sum()), np.ones((~h).sum())], l2=1e-2)
    auc = roc_auc(np.r_[np.zeros(h.sum()), np.ones(h.sum())],
                  np.r_[clf.logits(dry[h].astype(np.float64)),
                        clf.logits(twins[h].astype(np.float64))])
    conds = shard_conditions(args.work, train_families(recipe.extra_families))
    rows = np.flatnonzero(held0[: len(conds)])
    keys = [(fam[i], group[i], conds[i]) for i in rows]
    model, cal = speech_model(args.work, recipe, tr, held0)
    off = offline_files(clf.logits(dry[rows].astype(np.float64)),
                        predict_logits(model, x[rows]), cal, keys)
    est = Estimator(model=clf, kind=kind, columns=cols, threshold=max(off["q97"].values()))
    if args.weights_out:
        atomic_write_npz(args.weights_out, **to_arrays(est))
    offs = offline_summary(off, est.threshold)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "speech.onnx"
        atomic_write_bytes(onnx, export_onnx(model, x.shape[1]))
        atomic_write_text(onnx.with_suffix(".json"), json.dumps({"calibration": cal}))
        per = pipeline(args.data_dir, RecordingDetector(path=onnx, estimator=est),
                       est.threshold, args.files)
    pipe = pipeline_summary(per)
    return {"window_auc_held_out": float(auc), "threshold": est.threshold, "q97": off["q97"],
            "windows_fit": int((~h).sum()) * 2, "calibration": cal, "offline_files": offs,
            "pipeline": pipe, "rule": rule(pipe, offs), "per_file": per}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--work", type=Path, required=True, help="the speech recipe's work folder")
    ap.add_argument("--data-dir", type=Path,
                    default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--candidate", choices=("A", "B", "C"), default="C",
                    help="A: every detector feature, B: magnitude columns, C: decay statistics")
    ap.add_argument("--twins", type=Path, default=None, help="room-twin feature cache")
    ap.add_argument("--decay-twins", type=Path, default=None, help="decay-statistics cache")
    ap.add_argument("--weights-out", type=Path, default=None)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("bench/results/speech_reverb_gate.json"))
    args = ap.parse_args()
    result = run(args)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    old.setdefault("candidates", {})[args.candidate] = result
    old["what"] = __doc__.splitlines()[0] if __doc__ else ""
    atomic_write_text(args.out, json.dumps(old, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "per_file"}, indent=1))


if __name__ == "__main__":
    main()
