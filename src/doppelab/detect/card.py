"""The model card of the detector files (``model/MODEL_CARD.md``), written from the recipe's
own artefacts: the data lists, the training result and every measured number."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from doppelab.core.storage import atomic_write_text
from doppelab.detect.data import is_holdout, list_items


def _licences(data_dir: str | Path) -> list[str]:
    with open(Path(data_dir) / "clips.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    return [f"| {r['file']} | {r['license_note']} |" for r in rows]


def _swaps(work: Path) -> str:
    from doppelab.detect.swapfakes import work_manifest

    swaps = work_manifest(work)
    if swaps is None:
        return "No swap fakes were made (self-blends only)."
    rows = [
        f"| {v.path} | {v.label} | {v.method} | {v.target} | {v.source} | {v.variant} |"
        for v in swaps.videos
    ]
    head = "| video | label | method | target | source | variant |\n|---|---|---|---|---|---|\n"
    return head + "\n".join(rows)


def _metrics(model: Path) -> str:
    metrics = json.loads((model / "metrics.json").read_text())
    rows = []
    for split, per in metrics.items():
        for det, m in per.items():
            rows.append(f"| {split} | {det} | {m['auc']:.4f} | {m['eer']:.4f} | {m['ap']:.4f} |")
    return "\n".join(rows)


def _video(model: Path) -> str:
    path = model / "video_calibration.json"
    if not path.exists():
        return "Not fitted (no held-out videos were scored)."
    cal: dict[str, Any] = json.loads(path.read_text())
    grid = "\n".join(
        f"| {g['weight']} | {g['cap']} | {g['logloss']:.4f} | {g['auc']:.4f} |" for g in cal["grid"]
    )
    c = cal["chosen"]
    return (
        f"{len(cal['videos'])} held-out train videos; chosen weight {c['weight']}, cap "
        f"{c['cap']}.\n\n| weight | cap | log-loss | AUC |\n|---|---|---|---|\n{grid}"
    )


def write_model_card(data_dir: str | Path, work: Path) -> Path:
    """``model/MODEL_CARD.md``: data, recipe, measured metrics, limitations."""
    model = work / "model"
    train = list_items(data_dir, "train")
    photos = [i for i in train if i.kind == "photo"]
    hold = sorted({i.identity for i in train if is_holdout(i.identity)})
    result = json.loads((work / "blend" / "result.json").read_text())
    text = CARD.format(
        n_clips=sum(i.kind == "clip" for i in train),
        n_photos=len(photos),
        n_people=len({i.identity for i in photos}),
        holdout=", ".join(hold),
        swaps=_swaps(work),
        result=json.dumps(result, indent=2, default=str),
        metrics=_metrics(model),
        video=_video(model),
        licences="\n".join(_licences(data_dir)),
        notes=(work / "notes.md").read_text().strip() if (work / "notes.md").exists() else "",
    )
    atomic_write_text(model / "MODEL_CARD.md", text)
    return model / "MODEL_CARD.md"


CARD = """# doppelab detector weights: model card

Files: `blendnet.onnx` (BlendNet, fp32 ONNX, run with onnxruntime), `blendnet_fp16.npz` (the same
weights in fp16 for the torch fallback), `frequency.npz` (a small MLP over spectral and
boundary statistics, with its feature version), `temporal.json` (statistics of real train
clips), `fusion.json` (fusion, calibration and the video rule), `metrics.json` (face-level
metrics below), `video_calibration.json` (the video rule's fit). Made by `doppelab detect-train`
(src/doppelab/detect/recipe.py); every number below was measured by that run.

## Data

Only the shared data set's `train` split was trained on: {n_clips} talking-head clips (every 3rd
frame) and {n_photos} photos of {n_people} identities (group photos count as one each). A fixed
part of the train identities (sha1 of the name mod 6 == 0) was held out of training and used for
checkpoint choice, calibration, fusion and the video rule: {holdout}. The `dev` split (8 clips,
50 photos, people never trained on) was used only for measuring.

Fakes: self-blended pseudo-fakes made on the fly (a face blended with a colour/sharpness/
geometry-changed copy of itself through a random soft landmark mask), and mesh and autoencoder
swaps of the designated pairs only (pair-1 = lp_d18 <-> lp_d19, pair-2 = lp_d3 <-> lp_d6, both
directions, two post-processing variants each). pair-1 contains a held-out identity (lp_d19), so
all its videos are held out (validation); pair-2's are trained on.

Watermark: every swap carries the creation watermark (there is no opt-out), so each pair clip
also has a *marked real* control: the unchanged clip with the same watermark embedder and H.264
settings. Training draws one marked real for every swap, so the mark is equally common in both
classes; self-blends and their reals carry no mark. A test checks the batches and that the
shipped BlendNet's score moves far less for the mark than for a self-blend of the same face.

{swaps}

Train clips and their licences (the photos' sources and licences are in photos.csv):

| clip | licence note |
|---|---|
{licences}

## Recipe

Faces aligned to the extraction template at 256 px with the mesh spanning 65% of the crop, then
resized to 128 px. BlendNet: residual CNN trained from scratch, or from `--init`'s checkpoint
when fine-tuning (configuration below), batches of
reals + their self-blends + (marked real, swap) pairs, AdamW, warm-up + cosine decay over a fixed
time budget, EMA weights, loss = BCE(label) + BCE(32 px boundary map 4m(1-m); none for swaps).
With `real_transform` > 0 that share of the reals is changed seamlessly (colour, sharpness,
small geometry; still labelled real). With `self_mesh` > 0 that share of the self-blends is instead
a self-mesh (the mesh swap's warp, colour transfer and blending from another face of the same
person; `doppelab/detect/selfmesh.py`). Every image gets random JPEG (q35-95), down-up resize,
blur, noise, tone and flip. The best EMA checkpoint by the mean of the held-out AUCs
(self-blends; pair-1 swaps vs marked reals) is shipped unless the notes below say otherwise.
The frequency MLP (`recipe.frequency_fit_set`) is fitted on non-holdout train reals vs their
self-blends in two degraded rounds and one undegraded round, plus pair-2's swaps vs its
marked reals, degraded and undegraded.

```
{result}
```

{notes}

## Measured (face level, balanced; threshold 0 on the logit)

| split | detector | AUC | EER | AP |
|---|---|---|---|---|
{metrics}

`holdout` = held-out train identities vs their self-blends; `holdout_swap` = pair-1 (held out)
marked reals vs its mesh and autoencoder swaps; both were used to fit the fusion, so their
`fused` rows are optimistic. `dev` = unseen people vs their self-blends, with the training
degradations; `dev_clean` = the same without degradation. Video-level numbers:
bench/results/detect.json (`python bench/detect.py`).

## Video rule (temporal weight and cap)

{video}

## Limitations

- The swap fakes come from two pairs of four people (the only ones that may be swapped); one
  pair is held out, so swap detection is validated on one unseen pair only. Fakes made without
  a blending seam (fully synthesised frames, talking-head reenactment, diffusion edits) are
  outside what `blend` and the boundary features look for.
- The temporal detector is an anomaly score calibrated on real train clips; its weight was fitted
  on a handful of held-out videos.
- The calibration assumes a 50/50 prior and the training fake distribution; on other material
  the probability is a score, not a frequency.
- Small data: 36 train clips and ~200 photo identities; a handful of dev clips decide the
  video-level numbers.
- Check that BlendNet scores seams, not people, before shipping it: `python
  bench/detect_diagnose.py --data-dir DATA --bench-work WORK/bench --onnx model/blendnet.onnx`
  compares the raw logits of real clips of trained, held-out and dev people and the within- vs.
  across-person AUC.
"""
