"""The reproducible training recipe behind the shipped detector weights (``detect-train``).

Stages (each writes its artefact under ``work_dir`` and is skipped when that artefact exists, so a
stopped run resumes):

1. ``facesets/``: FaceSets of the shared data set's train and dev clips and photos
   (:func:`~doppelab.detect.data.build_facesets`);
2. ``train_table.npz`` / ``dev_table.npz``: the faces at network size, with identity and split;
3. ``blend/``: BlendNet training (:mod:`~doppelab.detect.train_blend`), ``blend/best.pt``;
4. ``model/``: the exported detector files (ONNX model, frequency classifier, temporal
   statistics, fusion and calibration), ready to copy into ``doppelab/detect/weights``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doppelab.core.storage import ensure_dir
from doppelab.detect.data import build_facesets, load_table, read_table, save_table
from doppelab.detect.train_blend import TrainConfig, train

Log = Callable[[dict[str, Any]], None]
FACESETS = ("train_clips", "train_photos")
DEV_FACESETS = ("dev_clips", "dev_photos")


def stage_tables(data_dir: str | Path, work: Path) -> tuple[Path, Path]:
    """FaceSets, then the train and dev tables (cached as .npz)."""
    fs_dir = work / "facesets"
    if not all((fs_dir / f"{n}.faceset" / "faceset.json").exists()
               for n in FACESETS + DEV_FACESETS):
        build_facesets(data_dir, fs_dir)
    out = []
    for name, sets in (("train", FACESETS), ("dev", DEV_FACESETS)):
        path = work / f"{name}_table.npz"
        if not path.exists():
            table = load_table([fs_dir / f"{n}.faceset" for n in sets], data_dir)
            save_table(table, path)
        out.append(path)
    return out[0], out[1]


def stage_blend(work: Path, cfg: TrainConfig, log: Log | None = None) -> Path:
    """Train BlendNet on the train table (skipped when ``blend/last.pt`` exists)."""
    out = work / "blend"
    if not (out / "last.pt").exists():
        result = train(read_table(work / "train_table.npz"), out, cfg, log)
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return out / "best.pt"


def run_recipe(
    data_dir: str | Path, work_dir: str | Path, cfg: TrainConfig, log: Log | None = None
) -> dict[str, Any]:
    """All stages in order; returns the paths made."""
    work = ensure_dir(work_dir)
    train_table, dev_table = stage_tables(data_dir, work)
    best = stage_blend(work, cfg, log)
    return {"train_table": str(train_table), "dev_table": str(dev_table), "blend": str(best)}
