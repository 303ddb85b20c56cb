"""Why does the face detector fail on unseen people? Measurements behind docs/detect.md.

Scores the *same* 32 sampled frames (``detect``'s sampler and crop) of real clips with the blend
network's raw logit and reports:

* ``codec``: each ``dev`` clip as shipped vs. re-encoded by our writer (the bench's real control,
  ``bench/detect.py``): the per-clip median logit of both and their difference. A small
  difference means re-encoding is no cue (no codec confound between the bench's classes);
* ``familiarity``: the median logit of *real* clips of train identities the network was trained
  on, of held-out train identities and of ``dev`` identities. If reals of people the network
  never saw score far higher than reals of people it did, it has learnt who is real;
* ``per_person``: for each ``dev`` clip, the real video's and its self-blended fakes' mean logit,
  and the within-person vs. across-people AUC at video and frame level (``within``: every
  real/fake pair of the same person; ``across``: the usual pooled AUC). A within AUC far above
  the pooled one means a per-person offset, not the seam detection, loses the pooled ranking;
* ``frames``: the share of fake frames scored below their own real video's median.

Usage: python bench/detect_diagnose.py --data-dir ../shared/data --bench-work DIR
       [--onnx MODEL.onnx] [--out bench/results/detect_diagnosis.json]
(``DIR`` holds ``bench/detect.py``'s generated videos, ``--work DIR`` there; missing ones are made.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.detect.blend import BlendDetector
from doppelab.detect.data import is_holdout, list_items
from doppelab.detect.fakevideo import write_video
from doppelab.detect.metrics import roc_auc
from doppelab.detect.predict import Detect, DetectConfig

TRAIN_CLIPS = 8  # train clips of non-held-out people scored (enough for a median)


def clip_logits(det: Detect, blend: BlendDetector, path: Path) -> np.ndarray:
    """Blend logits of the usable faces on ``detect``'s sampled frames (static landmarks)."""
    batch = det.sampled_faces(path)
    if not len(batch):
        return np.zeros(0, np.float32)
    return np.asarray(blend.forward(batch)["logits"], np.float32)


def within_auc(groups: dict[str, tuple[list[float], list[float]]]) -> float:
    """Share of (real, fake) pairs of the same person ordered correctly (ties count half)."""
    good = total = 0.0
    for reals, fakes in groups.values():
        for r in reals:
            for f in fakes:
                good += 1.0 if f > r else 0.5 if f == r else 0.0
                total += 1.0
    return good / total if total else float("nan")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--bench-work", type=Path, required=True)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--onnx", type=Path, default=None, help="BlendNet ONNX (default: shipped)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/detect_diagnosis.json"))
    return ap.parse_args()


def _person(det: Detect, blend: BlendDetector, clip: Path, work: Path, variants: int) -> Any:
    real = work / f"{clip.stem}_real.mp4"
    if not real.exists():
        write_video(clip, real, seed=None)
    fakes = []
    for v in range(variants):
        fake = work / f"{clip.stem}_sbi{v}.mp4"
        if not fake.exists():
            write_video(clip, fake, seed=1000 + v)
        fakes.append(clip_logits(det, blend, fake))
    return clip_logits(det, blend, clip), clip_logits(det, blend, real), fakes


def _median(x: np.ndarray) -> float | None:
    return round(float(np.median(x)), 3) if len(x) else None


def main() -> int:
    args = _args()
    args.bench_work.mkdir(parents=True, exist_ok=True)
    det = Detect(DetectConfig(detectors=("blend",)))
    blend = BlendDetector(onnx_path=args.onnx, threads=1)
    items = [i for i in list_items(args.data_dir) if i.kind == "clip"]
    codec, people, video_groups, frame_groups = [], [], {}, {}
    for item in [i for i in items if i.split == "dev"]:
        orig, real, fakes = _person(det, blend, item.path, args.bench_work, args.variants)
        codec.append(
            {"clip": item.path.name, "original": _median(orig), "re_encoded": _median(real)}
        )
        fake_means = [float(f.mean()) for f in fakes if len(f)]
        people.append(
            {
                "clip": item.path.name,
                "real_mean": round(float(real.mean()), 3),
                "fake_means": [round(m, 3) for m in fake_means],
                "fake_frames_below_real_median": round(
                    float(np.mean(np.concatenate(fakes) < np.median(real))), 3
                ),
            }
        )
        video_groups[item.path.name] = ([float(real.mean())], fake_means)
        frame_groups[item.path.name] = (real.tolist(), np.concatenate(fakes).tolist())
        print(item.path.name, people[-1], file=sys.stderr)
    fam: dict[str, list[float]] = {"train": [], "held_out_train": [], "dev": []}
    trained = [i for i in items if i.split == "train" and not is_holdout(i.identity)]
    for item in trained[:TRAIN_CLIPS] + [
        i for i in items if i.split == "train" and is_holdout(i.identity)
    ]:
        key = "held_out_train" if is_holdout(item.identity) else "train"
        fam[key].append(_median(clip_logits(det, blend, item.path)) or 0.0)
    fam["dev"] = [c["original"] for c in codec if c["original"] is not None]

    def pooled(groups: dict[str, tuple[list[float], list[float]]]) -> float:
        ys = [y for r, f in groups.values() for y in [0] * len(r) + [1] * len(f)]
        ss = [s for r, f in groups.values() for s in list(r) + list(f)]
        return roc_auc(ys, ss)

    report = {
        "model": str(args.onnx or "shipped"),
        "codec": {
            "clips": codec,
            "max_abs_difference": max(
                abs((c["original"] or 0) - (c["re_encoded"] or 0)) for c in codec
            ),
        },
        "familiarity": {k: {"clips": v, "median": _median(np.array(v))} for k, v in fam.items()},
        "per_person": people,
        "auc": {
            "video_within_person": within_auc(video_groups),
            "video_pooled": pooled(video_groups),
            "frame_within_person": within_auc(frame_groups),
            "frame_pooled": pooled(frame_groups),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    medians = {k: v["median"] for k, v in report["familiarity"].items()}
    print(json.dumps({"auc": report["auc"], "familiarity_median": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
