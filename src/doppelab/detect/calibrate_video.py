"""Video-level rule of the fusion, fitted on held-out train identities only.

The video logit is ``mean frame logit + temporal_weight * clip(temporal logit, 0, temporal_cap)``
(:class:`~doppelab.detect.fusion.Fusion`). Weight and cap are chosen here on videos of the
held-out part of ``train`` (never on ``dev``): each held-out train clip re-encoded (real), two
self-blended fake videos of each (:mod:`doppelab.detect.fakevideo`), and, when the swap stage
made them, the held-out pair's swaps and marked reals (:mod:`doppelab.detect.swapfakes`). The
temporal statistics used there must come from the other train clips (``recipe.stage_temporal``
leaves the held-out clips out), so the held-out reals are as unseen for it as for the CNN.

Selection: the grid point with the lowest mean log-loss of the video probability (ties go to
the smaller weight); the whole grid and every video's two logits are written to
``video_calibration.json`` so the choice can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from doppelab.core.storage import atomic_write_text, ensure_dir
from doppelab.detect.data import is_holdout, list_items
from doppelab.detect.metrics import log_loss, roc_auc

WEIGHTS = (0.0, 0.25, 0.5, 1.0)
CAPS = (1.0, 2.0)
Log = Callable[[dict[str, Any]], None]


def calibration_videos(data_dir: str | Path, work: Path) -> list[tuple[Path, int, str]]:
    """(path, label, source) of the held-out videos, generating the missing ones."""
    from doppelab.detect.fakevideo import write_video

    out = ensure_dir(work / "calib_videos")
    rows: list[tuple[Path, int, str]] = []
    for item in list_items(data_dir, "train"):
        if item.kind != "clip" or not is_holdout(item.identity):
            continue
        real = out / f"{item.path.stem}_real.mp4"
        if not real.exists():
            write_video(item.path, real, seed=None)
        rows.append((real, 0, "real"))
        for v in range(2):
            fake = out / f"{item.path.stem}_sbi{v}.mp4"
            if not fake.exists():
                write_video(item.path, fake, seed=2000 + v)
            rows.append((fake, 1, "self-blend"))
    from doppelab.detect.swapfakes import pair_held_out, work_manifest

    swaps = work_manifest(work)
    for video in swaps.videos if swaps is not None else []:
        if pair_held_out(video.target):
            rows.append((work / "swaps" / video.path, video.label, video.method))
    return rows


def fit_video_rule(
    data_dir: str | Path, work: Path, model_dir: Path, log: Log | None = None
) -> dict[str, Any]:
    """Score the held-out videos with the detectors in ``model_dir`` and choose weight and cap;
    writes ``model_dir/video_calibration.json`` and returns it."""
    from doppelab.detect.blend import BlendDetector
    from doppelab.detect.frequency_detector import FrequencyDetector
    from doppelab.detect.fusion import Fusion
    from doppelab.detect.predict import Detect, DetectConfig
    from doppelab.detect.shipped import BLEND_ONNX, FREQUENCY, FUSION, TEMPORAL
    from doppelab.detect.temporal import TemporalDetector

    det = Detect(DetectConfig(detectors=()))
    det.models = {
        "blend": BlendDetector(onnx_path=model_dir / BLEND_ONNX),
        "frequency": FrequencyDetector(path=model_dir / FREQUENCY),
        "temporal": TemporalDetector(path=model_dir / TEMPORAL),
    }
    det.fusion = Fusion.load(model_dir / FUSION)
    rows = []
    for path, label, source in calibration_videos(data_dir, work):
        res = det.run(path)
        frame = [t["logit"] for t in res.timeline]
        temporal = res.detectors.get("temporal")
        rows.append(
            {
                "path": path.name,
                "label": label,
                "source": source,
                "frame_logit": float(np.mean(frame)) if frame else None,
                "temporal_logit": None
                if temporal is None
                else float(np.log(temporal / max(1 - temporal, 1e-9))),
            }
        )
    return _choose(rows, model_dir, log)


def _choose(rows: list[dict[str, Any]], model_dir: Path, log: Log | None) -> dict[str, Any]:
    rows_ok = [r for r in rows if r["frame_logit"] is not None]
    y = np.array([r["label"] for r in rows_ok], np.float64)
    base = np.array([r["frame_logit"] for r in rows_ok])
    tl = np.array(
        [r["temporal_logit"] if r["temporal_logit"] is not None else 0.0 for r in rows_ok]
    )
    grid = []
    for w in WEIGHTS:
        for cap in CAPS:
            logit = base + w * np.clip(tl, 0.0, cap)
            grid.append(
                {"weight": w, "cap": cap, "logloss": log_loss(y, logit), "auc": roc_auc(y, logit)}
            )
    best = min(grid, key=lambda g: (round(g["logloss"], 4), g["weight"]))
    result = {"videos": rows, "grid": grid, "chosen": best}
    atomic_write_text(model_dir / "video_calibration.json", json.dumps(result, indent=1) + "\n")
    if log:
        log({"video_calibration": best, "videos": len(rows_ok)})
    return result
