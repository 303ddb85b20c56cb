"""Held-out comparison of BlendNet checkpoints (how the session-14 fine-tune snapshot was chosen).

Reads only the train side of a ``detect-train`` work folder, never ``dev``. For each checkpoint
(``.pt`` as ``train_blend`` writes them) it reports, on held-out train identities:

* ``blend`` face AUC on the held-out identities' reals vs self-blends (``pair_set(seed=31)``,
  degraded 2 rounds and clean 1 round) and on pair-1's swaps vs its marked reals
  (``swap_pair_set(seed=32)``, degraded and clean); the per-identity AUC and per-person offset
  (``bench/detect_select.py``);
* *familiarity*: the median logit of held-out people's real faces minus that of 600 real faces
  of people it was trained on (faces), and the same with the mean logit of the 32 sampled frames
  of their real clips (clips); a net that learnt who is real scores the unfamiliar higher;
* the video AUC of the 22 held-out videos (``calibrate_video.calibration_videos``: held-out
  clips re-encoded, their self-blended fakes, pair-1's swaps and marked reals), ``blend`` alone
  (mean frame logit) and fused with the work folder's frequency classifier by a logistic fitted
  on the held-out faces; and the fused grouped CV of ``bench/detect_select.py``;
* ``swap_mesh_auc`` / ``swap_ae_auc`` (and ``_clean``): the pair-1 face AUCs split by swap
  method, each method's swaps against all of the set's marked reals (not in the rule);
* ``six``: the mean of the six numbers of the selection rule (self-blend faces degraded and
  clean, pair-1 faces degraded and clean, fused video AUC, fused CV per-identity AUC).

Usage: python bench/blend_select.py --work WORK [--data-dir ../shared/data] CKPT.pt...
       [--out bench/results/blend_select.json]
Faces, video crops and frequency logits are cached in WORK/blend_select_cache.npz; the
frequency features come from WORK/select_features.npz (``bench/detect_select.py``, made there
when missing) and are scored with the work folder's own ``model/frequency.npz``. About 2 minutes
per checkpoint on one CPU core after the caches exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_select import build, fused_cv, offset, per_identity_auc
from doppelab.core.storage import atomic_write_text
from doppelab.detect.data import is_holdout, list_items, read_table
from doppelab.detect.metrics import roc_auc
from doppelab.detect.recipe import pair_set, swap_pair_draw, swap_pair_set
from doppelab.detect.swapfakes import read_swap_table

ROOT = Path(__file__).resolve().parents[1]
FACE_SETS = ("hold", "hold_clean", "swap", "swap_clean", "fitreal", "holdreal")


def cache(work: Path, data: Path) -> dict[str, Any]:
    """Held-out faces, video crops (+ frequency logits) and clip lists, made once."""
    path = work / "blend_select_cache.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    from doppelab.detect.calibrate_video import calibration_videos
    from doppelab.detect.frequency_detector import FrequencyDetector
    from doppelab.detect.predict import Detect, DetectConfig

    table, swaps = read_table(work / "train_table.npz"), read_swap_table(work / "swap_table.npz")
    hold, fit = table.subset(table.holdout), table.subset(~table.holdout)
    out: dict[str, Any] = {}
    for name, (faces, y) in {
        "hold": pair_set(hold, 31, 2), "hold_clean": pair_set(hold, 31, 1, aug=False),
        "swap": swap_pair_set(swaps, True, 32),
        "swap_clean": swap_pair_set(swaps, True, 32, aug=False),
    }.items():
        out[f"{name}_c"], out[f"{name}_y"] = faces.crops, y
    idx = np.random.default_rng(5).choice(len(fit), 600, replace=False)
    out["fitreal_c"], out["holdreal_c"] = fit.crops[idx], hold.crops
    det = Detect(DetectConfig(detectors=("blend",)))
    freq = FrequencyDetector(path=work / "model" / "frequency.npz")
    videos = calibration_videos(data, work)
    clips = [i for i in list_items(data, "train") if i.kind == "clip"]
    for k, (p, _, _) in enumerate(videos):
        batch = det.sampled_faces(p)  # what `detect` scores: 32 sampled frames, usable faces
        out[f"v{k}_c"], out[f"v{k}_f"] = batch.crops, freq.forward(batch)["logits"]
    out["v_label"] = np.array([label for _, label, _ in videos])
    out["v_swap"] = np.array([p.parent.name == "swaps" for p, _, _ in videos])  # pair-1
    out["v_name"] = np.array([p.name for p, _, _ in videos])
    for k, item in enumerate(clips):
        out[f"c{k}_c"] = det.sampled_faces(item.path).crops
    out["c_hold"] = np.array([is_holdout(i.identity) for i in clips])
    np.savez(path, **out)
    return out


def swap_methods(work: Path) -> np.ndarray:
    """The swap method of every row of the cached pair-1 sets (``swap`` and ``swap_clean`` draw
    the same rows: ``swap_pair_draw`` draws them before it degrades anything)."""
    sub, idx, _, _ = swap_pair_draw(read_swap_table(work / "swap_table.npz"), True, 32, aug=False)
    return np.asarray(sub.method[idx])


def by_method(y: np.ndarray, s: np.ndarray, method: np.ndarray, name: str) -> float:
    """Face AUC of the swaps made by ``name`` against all the marked reals."""
    keep = (y == 0) | (method == name)
    return roc_auc(y[keep], s[keep])


def evaluate(ckpt: Path, c: dict[str, Any], sel: dict[str, np.ndarray],
             fq: dict[str, np.ndarray], method: np.ndarray | None = None) -> dict[str, Any]:
    from doppelab.detect.frequency import fit_logistic
    from doppelab.detect.train_blend import load_checkpoint, predict

    model, meta = load_checkpoint(ckpt)
    b = {k: predict(model, c[f"{k}_c"]) for k in FACE_SETS}
    d = {"hold_y": c["hold_y"], "hold_id": sel["hold_id"], "hold_round": sel["hold_round"],
         "swap_y": c["swap_y"], "hold_blend": b["hold"], "swap_blend": b["swap"]}
    r: dict[str, Any] = {"images_seen": meta.get("seen", meta.get("images_seen"))}
    for k in ("hold", "hold_clean", "swap", "swap_clean"):
        r[f"{k}_auc"] = roc_auc(c[f"{k}_y"], b[k])
    for k in ("swap", "swap_clean") if method is not None else ():
        for m, tag in (("mesh", "mesh"), ("autoencoder", "ae")):
            r[f"{k.replace('swap', f'swap_{tag}')}_auc"] = by_method(c[f"{k}_y"], b[k], method, m)
    r["per_identity_auc"] = per_identity_auc(b["hold"], d)
    r["per_person_offset"] = offset(b["hold"], c["hold_y"], sel["hold_id"])
    r["familiar_gap_faces"] = float(np.median(b["holdreal"]) - np.median(b["fitreal"]))
    clip_mean = np.array([predict(model, c[f"c{j}_c"]).mean() for j in range(len(c["c_hold"]))])
    r["familiar_gap_clips"] = float(np.median(clip_mean[c["c_hold"]])
                                    - np.median(clip_mean[~c["c_hold"]]))
    fus = fit_logistic(np.r_[np.c_[b["hold"], fq["hold"]], np.c_[b["swap"], fq["swap"]]],
                       np.r_[c["hold_y"], c["swap_y"]], l2=1e-3)
    y, sw = c["v_label"], c["v_swap"]
    vb, vf = [], []
    for j in range(len(y)):
        lg = predict(model, c[f"v{j}_c"])
        vb.append(lg.mean())
        vf.append(fus.logits(np.c_[lg, c[f"v{j}_f"]]).mean())
    for name, s in (("blend", np.array(vb)), ("fused", np.array(vf))):
        r[f"video_{name}_auc"] = roc_auc(y, s)
        r[f"video_{name}_auc_selfblend"] = roc_auc(y[~sw], s[~sw])
        r[f"video_{name}_auc_pair1"] = roc_auc(y[sw], s[sw])
    r["fused_cv"] = fused_cv(fq["hold"], fq["swap"], d)
    six = [r["hold_auc"], r["hold_clean_auc"], r["swap_auc"], r["swap_clean_auc"],
           r["video_fused_auc"], r["fused_cv"]["per_identity_auc"]]
    r["six"] = float(np.mean(six))
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "blend_select.json")
    args = ap.parse_args()
    import torch

    from doppelab.detect.frequency import load_classifier

    torch.set_num_threads(1)
    sel = build(args.work)
    c = cache(args.work, args.data_dir)
    if not ((sel["hold_y"] == c["hold_y"]).all() and (sel["swap_y"] == c["swap_y"]).all()):
        raise SystemExit("select_features.npz and the held-out sets disagree; delete both caches")
    freq_path = args.work / "model" / "frequency.npz"
    with np.load(freq_path) as z:
        freq = load_classifier(dict(z), freq_path)
    fq = {k: freq.logits(sel[f"{k}_x"]) for k in ("hold", "swap")}
    report: dict[str, Any] = {}
    if args.out.exists():
        report = json.loads(args.out.read_text())
    method = swap_methods(args.work)
    if len(method) != len(c["swap_y"]):
        raise SystemExit("the swap table and the cached pair-1 set disagree; delete the caches")
    for ck in args.checkpoints:
        r = evaluate(ck, c, sel, fq, method)
        report[str(ck)] = r
        print(ck, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()
                              if k != "fused_cv"}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
