"""Held-out choice of an H.264 codec round for the frequency classifier and the fusion.

``bench/detect_robust.py`` showed real videos drifting towards "fake" under H.264 and
downscaling, the frequency classifier most (docs/detect.md, "Compression and size"): training
degrades crops with JPEG, resizing, blur and noise, never with a video codec. This bench fits
three candidates (BlendNet and the temporal statistics unchanged; temporal weight 0 as shipped)
and compares them on held-out train identities only (``dev`` is not read):

* ``base``: the shipped recipe (``recipe.frequency_fit_set``; fusion on the held-out faces'
  2 augmented rounds and the held-out pair's swaps);
* ``c1``: both fit sets plus one codec round (``recipe.CODEC_ONLY``: each face through
  :func:`~doppelab.detect.augment.codec`, H.264 P-frame at CRF 23-40 and face scale 0.6-2.5);
* ``c2``: the frequency classifier of ``base``, the fusion of ``c1`` (recalibration alone).

Measured per candidate: on the held-out videos of ``calibrate_video.calibration_videos`` (the
held-out train clips re-encoded, two self-blended fakes of each, the held-out pair's swaps and
marked reals) under each ``--conditions`` copy (``bench/detect_robust.py`` conditions), the
video AUC, log-loss, false alarms and misses at P = 0.5, from the faces ``detect`` samples
(cached); and the face AUC of ``frequency`` on undegraded held-out self-blends
(``pair_set(seed=31, aug=False)``). The rule chosen before measuring is in docs/detect.md.

Usage: python bench/detect_codec_select.py --work WORK --data-dir ../shared/data
       [--cache /tmp/codec] [--conditions orig,crf40,s256_crf40,s128_crf23]
       [--out bench/results/detect_codec_select.json]
(``WORK``: a ``detect-train`` work folder with its tables, ``model/`` and ``calib_videos/``.)
On 2 shared cores: about 15 minutes for the face sets, 4 minutes per condition for the videos;
both are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_robust import make_copy
from doppelab.core.storage import atomic_write_npz, atomic_write_text
from doppelab.detect.base import FaceBatch
from doppelab.detect.blend import BlendDetector
from doppelab.detect.calibrate_video import calibration_videos
from doppelab.detect.data import FaceTable, read_table
from doppelab.detect.frequency import features, fit_mlp
from doppelab.detect.fusion import fit_fusion
from doppelab.detect.metrics import log_loss, roc_auc
from doppelab.detect.predict import Detect, DetectConfig
from doppelab.detect.recipe import (
    CODEC_ONLY,
    frequency_fit_set,
    join_pairs,
    pair_set,
    swap_pair_set,
)
from doppelab.detect.shipped import BLEND_ONNX
from doppelab.detect.swapfakes import read_swap_table

Arrays = dict[str, np.ndarray]


def _say(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def _cached(path: Path, make: Any) -> Arrays:
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = make()
    atomic_write_npz(path, **out)
    return out


def _encode(pairs: tuple[FaceTable, np.ndarray], blend: BlendDetector | None) -> Arrays:
    faces, y = pairs
    out = {"x": features(faces.crops, faces.landmarks), "y": np.asarray(y, np.float32)}
    if blend is not None:
        batch = FaceBatch(crops=faces.crops, landmarks=faces.landmarks)
        out["blend"] = blend.forward(batch)["logits"]
    return out


def face_sets(work: Path, cache: Path, blend: BlendDetector) -> dict[str, Arrays]:
    """Features (and BlendNet logits where the fusion needs them) of every face set."""
    table, swaps = read_table(work / "train_table.npz"), read_swap_table(work / "swap_table.npz")
    fit, hold = table.subset(~table.holdout), table.subset(table.holdout)
    makers = {
        "fit_base": lambda: _encode(frequency_fit_set(table, swaps), None),
        "fit_codec": lambda: _encode(join_pairs(
            pair_set(fit, seed=16, acfg=CODEC_ONLY),
            swap_pair_set(swaps, False, 17, acfg=CODEC_ONLY)), None),
        "fusion_base": lambda: _encode(join_pairs(
            pair_set(hold, seed=21, rounds=2), swap_pair_set(swaps, True, 25)), blend),
        "fusion_codec": lambda: _encode(join_pairs(
            pair_set(hold, seed=27, acfg=CODEC_ONLY),
            swap_pair_set(swaps, True, 28, acfg=CODEC_ONLY)), blend),
        "eval_clean": lambda: _encode(pair_set(hold, seed=31, aug=False), None),
    }
    out = {}
    for name, make in makers.items():
        _say(f"face set {name}")
        out[name] = _cached(cache / f"{name}.npz", make)
    return out


def video_faces(
    data_dir: Path, work: Path, cache: Path, condition: str, blend: BlendDetector
) -> list[dict[str, Any]]:
    """Per held-out video under ``condition``: label, source, the sampled faces' frame indices,
    frequency features and BlendNet logits (cached per condition)."""
    path = cache / f"videos_{condition}.json"
    if path.exists():
        rows = json.loads(path.read_text())
        with np.load(cache / f"videos_{condition}.npz") as z:
            for i, r in enumerate(rows):
                r.update(frames=z[f"f{i}"], x=z[f"x{i}"], blend=z[f"b{i}"])
        return rows
    det = Detect(DetectConfig(detectors=()))
    rows, arrays = [], {}
    for i, (src, label, source) in enumerate(calibration_videos(data_dir, work)):
        video = make_copy(src, condition, cache / "copies", src.parent.name)
        frames, batch = det.sampled_frames(video)
        arrays[f"f{i}"] = frames
        arrays[f"x{i}"] = features(batch.crops, batch.landmarks)
        arrays[f"b{i}"] = (blend.forward(batch)["logits"] if len(frames)
                           else np.zeros(0, np.float32))
        rows.append({"path": src.name, "label": int(label), "source": source})
        _say(f"{condition} {src.name}: {len(frames)} faces")
    atomic_write_npz(cache / f"videos_{condition}.npz", **arrays)
    atomic_write_text(path, json.dumps(rows, indent=1))
    for i, r in enumerate(rows):
        r.update(frames=arrays[f"f{i}"], x=arrays[f"x{i}"], blend=arrays[f"b{i}"])
    return rows


def video_logit(row: dict[str, Any], fused: np.ndarray, fusion: Any) -> float | None:
    """``fusion``'s video logit (temporal weight 0, as shipped) of each frame's most suspicious
    face."""
    if not len(fused):
        return None
    return fusion.video_logit([fused[row["frames"] == f].max() for f in np.unique(row["frames"])],
                              None)


def candidate(sets: dict[str, Arrays], freq_codec: bool, fusion_codec: bool) -> Any:
    """(frequency classifier, fusion) of a candidate."""
    x, y = sets["fit_base"]["x"], sets["fit_base"]["y"]
    if freq_codec:
        x = np.concatenate([x, sets["fit_codec"]["x"]])
        y = np.concatenate([y, sets["fit_codec"]["y"]])
    clf = fit_mlp(x, y)
    parts = ["fusion_base"] + (["fusion_codec"] if fusion_codec else [])
    logits = {
        "blend": np.concatenate([sets[p]["blend"] for p in parts]),
        "frequency": np.concatenate([clf.logits(sets[p]["x"]) for p in parts]),
    }
    fusion = fit_fusion(logits, np.concatenate([sets[p]["y"] for p in parts]))
    return clf, fusion


def score(clf: Any, fusion: Any, videos: list[dict[str, Any]]) -> dict[str, Any]:
    ys, logits, freq = [], [], []
    for r in videos:
        if not len(r["frames"]):
            continue
        f = clf.logits(r["x"])
        fused = fusion.face_logits({"blend": r["blend"], "frequency": f})
        ys.append(r["label"])
        logits.append(video_logit(r, fused, fusion))
        freq.append(float(np.mean(f)))
    y, lg = np.array(ys, np.float64), np.array(logits)
    return {
        "videos": len(y), "auc": roc_auc(y, lg), "logloss": log_loss(y, lg),
        "false_alarms": int(((lg >= 0) & (y == 0)).sum()), "reals": int((y == 0).sum()),
        "misses": int(((lg < 0) & (y == 1)).sum()), "fakes": int((y == 1).sum()),
        "frequency_auc": roc_auc(y, np.array(freq)),
        "mean_real_logit": float(lg[y == 0].mean()), "mean_fake_logit": float(lg[y == 1].mean()),
    }


CANDIDATES = {"base": (False, False), "c1": (True, True), "c2": (False, True)}
RULE = ("adopt iff, against base: (1) mean video log-loss over the compressed conditions lower; "
        "(2) their mean video AUC >= base - 0.005; (3) orig video AUC >= base - 0.01 and orig "
        "log-loss <= base + 0.02; (4) frequency face AUC on undegraded held-out self-blends >= "
        "base - 0.01. Both pass: the lower compressed log-loss")


def verdict(c: dict[str, Any], base: dict[str, Any]) -> dict[str, bool]:
    """The rule (written before measuring) for candidate ``c`` against ``base``."""
    cm, bm = c["compressed_mean"], base["compressed_mean"]
    co, bo = c["video"]["orig"], base["video"]["orig"]
    return {
        "1_compressed_logloss": cm["logloss"] < bm["logloss"],
        "2_compressed_auc": cm["auc"] >= bm["auc"] - 0.005,
        "3_orig": co["auc"] >= bo["auc"] - 0.01 and co["logloss"] <= bo["logloss"] + 0.02,
        "4_clean_faces": c["face_auc_frequency_undegraded"]
        >= base["face_auc_frequency_undegraded"] - 0.01,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/codec_select"))
    ap.add_argument("--conditions", default="orig,crf40,s256_crf40,s128_crf23")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect_codec_select.json"))
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    blend = BlendDetector(onnx_path=args.work / "model" / BLEND_ONNX, threads=1)
    sets = face_sets(args.work, args.cache, blend)
    conditions = args.conditions.split(",")
    videos = {c: video_faces(args.data_dir, args.work, args.cache, c, blend) for c in conditions}
    result: dict[str, Any] = {"conditions": conditions, "candidates": {}}
    for name, (fc, uc) in CANDIDATES.items():
        clf, fusion = candidate(sets, fc, uc)
        ev = sets["eval_clean"]
        res = {
            "fusion": {"weights": fusion.weights, "bias": fusion.bias},
            "face_auc_frequency_undegraded": roc_auc(ev["y"], clf.logits(ev["x"])),
            "video": {c: score(clf, fusion, videos[c]) for c in conditions},
        }
        comp = [c for c in conditions if c != "orig"]
        res["compressed_mean"] = {
            k: float(np.mean([res["video"][c][k] for c in comp])) for k in ("auc", "logloss")
        }
        result["candidates"][name] = res
        _say(f"{name}: {json.dumps(res['compressed_mean'])} orig {res['video'].get('orig')}")
    base = result["candidates"]["base"]
    for name in ("c1", "c2"):
        checks = verdict(result["candidates"][name], base)
        result["candidates"][name]["rule"] = {**checks, "adopt": all(checks.values())}
        _say(f"{name}: {checks}")
    result["rule"] = RULE
    result["faces"] = {k: len(v["y"]) for k, v in sets.items()}
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
