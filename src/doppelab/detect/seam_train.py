"""Training of :class:`~doppelab.detect.seam.SeamNet` (CPU, minutes).

Each step takes real training faces and a self-blend of each (``make_pairs`` with the shared
degradations, never flipped so the landmarks stay valid), cuts the boundary patches of both
(:func:`~doppelab.detect.seam.extract_patches`) and keeps every fake patch the seam crosses and
as many real patches, drawn at random. Adam, cosine learning rate over the time budget; the
held-out train identities' real faces vs their self-blends are scored at face level every
``eval_every`` seconds and the best state is kept (``seam.npz``). Logs are JSON lines.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from doppelab.core.storage import atomic_path, ensure_dir
from doppelab.detect.augment import AugmentConfig
from doppelab.detect.data import FaceTable
from doppelab.detect.metrics import roc_auc
from doppelab.detect.seam import (
    PATCH,
    SeamNet,
    SeamNetConfig,
    extract_patches,
    face_scores,
    pack,
    patch_loss,
    seam_in_patches,
    to_tensor,
)
from doppelab.detect.train_blend import make_pairs

Log = Callable[[dict[str, Any]], None]
NO_FLIP = AugmentConfig(p_flip=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeamTrainConfig:
    """Everything that decides a SeamNet run (written next to its outputs)."""

    seed: int = 0
    minutes: float = 20.0
    faces: int = 16  # real faces per step (each with one self-blend)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    threads: int = 1
    eval_every: float = 120.0
    eval_faces: int = 300
    real_transform: float = 0.5  # share of reals changed seamlessly (see train_blend)
    max_steps: int = 0  # also stop after this many steps (0: time budget only)


def patch_batch(
    table: FaceTable, idx: npt.NDArray[np.int64], rng: np.random.Generator, real_transform: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Balanced patches ``(M, PATCH, PATCH, 3)`` and labels ``(M,)`` from faces ``idx``."""
    images, labels, maps = make_pairs(
        table, idx, rng, aug=True, acfg=NO_FLIP, real_transform=real_transform
    )
    lms = np.concatenate([table.landmarks[idx]] * 2)
    patches = extract_patches(images, lms)
    size = images.shape[1]
    fake_p, real_p = [], []
    for i in range(len(images)):
        if labels[i] > 0.5:
            full = cv2.resize(maps[i], (size, size), interpolation=cv2.INTER_LINEAR)
            fake_p.append(patches[i][seam_in_patches(full, lms[i])])
        else:
            real_p.append(patches[i])
    fakes = np.concatenate(fake_p) if fake_p else np.zeros((0, PATCH, PATCH, 3), np.uint8)
    reals = np.concatenate(real_p)
    reals = reals[rng.choice(len(reals), size=min(len(reals), max(len(fakes), 1)), replace=False)]
    x = np.concatenate([reals, fakes])
    y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))].astype(np.float32)
    return x, y


def eval_set(
    table: FaceTable, n: int, seed: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Fixed held-out faces: crops, landmarks and labels (reals then their self-blends)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(table), size=min(n, len(table)), replace=False))
    images, labels, _ = make_pairs(table, idx, rng, aug=True, acfg=NO_FLIP)
    return images, np.concatenate([table.landmarks[idx]] * 2), labels


def _lr(frac: float) -> float:
    return (
        0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))) if frac > 0.02 else max(frac / 0.02, 0.05)
    )


def save(path: Path, model: SeamNet) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **pack(model))


def train_seam(
    table: FaceTable, out_dir: str | Path, cfg: SeamTrainConfig, log: Log | None = None
) -> dict[str, Any]:
    """Train on ``table``'s non-holdout, non-dev faces; keep the best state by held-out face
    AUC as ``out_dir/seam.npz``. Returns a summary."""
    out = ensure_dir(out_dir)
    (out / "seam_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(cfg.seed)
    fit = table.subset(~table.holdout & ~table.dev)
    val = eval_set(table.subset(table.holdout & ~table.dev), cfg.eval_faces, 99)
    model = SeamNet(SeamNetConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    t0, last, step, best, seen = time.perf_counter(), 0.0, 0, -1.0, 0
    budget = cfg.minutes * 60.0
    while True:
        elapsed = time.perf_counter() - t0
        done = elapsed >= budget or (cfg.max_steps and step >= cfg.max_steps)
        if done or elapsed - last >= cfg.eval_every:
            last = elapsed
            auc = roc_auc(val[2], face_scores(model, val[0], val[1])[0])
            rec = {"step": step, "patches": seen, "seconds": round(elapsed, 1), "auc": auc}
            if auc > best:
                best = auc
                save(out / "seam.npz", model)
            with open(out / "seam_log.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            if log:
                log(rec)
        if done:
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr(elapsed / budget)
        x, y = patch_batch(
            fit, rng.choice(len(fit), cfg.faces, replace=False), rng, cfg.real_transform
        )
        model.train()
        loss = patch_loss(model, to_tensor(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step, seen = step + 1, seen + len(y)
    return {"steps": step, "patches": seen, "best_holdout_face_auc": best, "config": asdict(cfg)}
