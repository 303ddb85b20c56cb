"""Training of :class:`~doppelab.detect.blendnet.BlendNet` on real faces vs self-blended fakes.

Recipe (fixed seed, time budget): every step takes ``batch // 2`` real training faces and makes a
self-blended pseudo-fake of each (:func:`~doppelab.detect.selfblend.self_blend`); real and fake
then get the same random degradations (:mod:`doppelab.detect.augment`). Loss = binary
cross-entropy on the label + ``boundary_weight`` x pixel binary cross-entropy of the 32 px
boundary map (zero for reals). AdamW, linear warm-up then cosine decay over the time budget, an
exponential moving average (EMA) of the weights is what gets evaluated and shipped. The
calibration part of train (held-out identities) is scored every ``eval_every`` seconds; the best
EMA checkpoint by that AUC is kept. Logs are JSON lines; checkpoints are written atomically.
"""

from __future__ import annotations

import copy
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
from torch.nn import functional as F

from doppelab.core.storage import atomic_path, ensure_dir
from doppelab.detect.augment import AugmentConfig, augment
from doppelab.detect.blendnet import MAP, BlendNet, BlendNetConfig, to_input
from doppelab.detect.data import FaceTable
from doppelab.detect.metrics import roc_auc
from doppelab.detect.selfblend import BlendConfig, self_blend

Log = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Everything that decides a training run (written next to its outputs)."""

    seed: int = 0
    minutes: float = 40.0
    batch: int = 48
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup: float = 0.03
    boundary_weight: float = 1.0
    ema: float = 0.995
    threads: int = 1
    eval_every: float = 180.0
    eval_faces: int = 400


def make_pairs(
    table: FaceTable,
    idx: npt.NDArray[np.int64],
    rng: np.random.Generator,
    aug: bool = True,
    acfg: AugmentConfig | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Real faces ``idx`` and a self-blend of each: images ``(2n, S, S, 3)``, labels ``(2n,)``,
    boundary targets ``(2n, 32, 32)`` (reals first, then fakes in the same order)."""
    images, maps = [], []
    bcfg, acfg = BlendConfig(), acfg or AugmentConfig()
    zero = np.zeros(table.crops.shape[1:3], np.float32)
    fakes = [self_blend(table.crops[i], table.landmarks[i], rng, bcfg) for i in idx]
    for img, bmap in [(table.crops[i], zero) for i in idx] + [(f.image, f.boundary) for f in fakes]:
        if aug:
            img, bmap = augment(img, bmap, rng, acfg)
        images.append(img)
        maps.append(cv2.resize(bmap, (MAP, MAP), interpolation=cv2.INTER_AREA))
    labels = np.r_[np.zeros(len(idx)), np.ones(len(idx))].astype(np.float32)
    return np.stack(images), labels, np.stack(maps).astype(np.float32)


def _lr_factor(frac: float, warmup: float) -> float:
    if frac < warmup:
        return max(frac / warmup, 0.01)
    return 0.5 * (1.0 + math.cos(math.pi * min((frac - warmup) / (1.0 - warmup), 1.0)))


@torch.no_grad()
def predict(model: BlendNet, images: npt.NDArray[np.uint8], batch: int = 128) -> npt.NDArray:
    """Logits ``(N,)`` of ``(N, 128, 128, 3)`` crops (eval mode)."""
    model.eval()
    out = []
    for s in range(0, len(images), batch):
        x = torch.from_numpy(to_input(images[s : s + batch]))
        out.append(model(x.contiguous(memory_format=torch.channels_last))[0].numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def fixed_eval_set(
    table: FaceTable, n: int, seed: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A reproducible real/self-blended evaluation set from ``table`` (up to ``n`` faces)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(table), size=min(n, len(table)), replace=False))
    images, labels, _ = make_pairs(table, idx, rng, aug=True)
    return images, labels


def _step(
    model: BlendNet, opt: torch.optim.Optimizer, batch: tuple[Any, ...], cfg: TrainConfig
) -> dict[str, float]:
    images, labels, maps = batch
    x = torch.from_numpy(to_input(images)).contiguous(memory_format=torch.channels_last)
    y, m = torch.from_numpy(labels), torch.from_numpy(maps)
    model.train()
    logit, bmap = model(x)
    cls = F.binary_cross_entropy_with_logits(logit, y)
    seam = F.binary_cross_entropy_with_logits(bmap, m)
    loss = cls + cfg.boundary_weight * seam
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "cls": cls.item(), "seam": seam.item()}


@torch.no_grad()
def _ema_update(ema: BlendNet, model: BlendNet, decay: float) -> None:
    for pe, pm in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
        if pe.dtype.is_floating_point:
            pe.mul_(decay).add_(pm.detach(), alpha=1.0 - decay)
        else:
            pe.copy_(pm)


def save_checkpoint(path: Path, model: BlendNet, meta: dict[str, Any]) -> None:
    """Atomically write ``{"state": ..., "config": ..., "meta": ...}``."""
    with atomic_path(path) as tmp:
        torch.save({"state": model.state_dict(), "config": model.cfg.to_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | Path) -> tuple[BlendNet, dict[str, Any]]:
    """A :class:`BlendNet` in eval mode and the checkpoint's metadata."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = dict(ck["config"])
    cfg["widths"] = tuple(cfg["widths"])
    model = BlendNet(BlendNetConfig(**cfg))
    model.load_state_dict(ck["state"])
    model.eval()
    return model, dict(ck["meta"])


def train(
    table: FaceTable, out_dir: str | Path, cfg: TrainConfig, log: Log | None = None
) -> dict[str, Any]:
    """Train on ``table``'s non-holdout, non-dev faces; evaluate on its holdout faces."""
    out = ensure_dir(out_dir)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    fit = table.subset(~table.holdout & ~table.dev)
    val_x, val_y = fixed_eval_set(table.subset(table.holdout & ~table.dev), cfg.eval_faces, 1234)
    model = BlendNet().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "seen": 0, "best_auc": -1.0, "t0": time.perf_counter(), "last_eval": 0.0}
    budget = cfg.minutes * 60.0
    while (elapsed := time.perf_counter() - state["t0"]) < budget:
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(elapsed / budget, cfg.warmup)
        idx = rng.choice(len(fit), size=cfg.batch // 2, replace=False)
        losses = _step(model, opt, make_pairs(fit, idx, rng), cfg)
        _ema_update(ema, model, cfg.ema if state["step"] > 100 else 0.9)
        state["step"] += 1
        state["seen"] += cfg.batch
        if elapsed - state["last_eval"] >= cfg.eval_every:
            state["last_eval"] = elapsed
            _evaluate(ema, out, state, val_x, val_y, losses, log)
    _evaluate(ema, out, state, val_x, val_y, {}, log)
    save_checkpoint(out / "last.pt", ema, _meta(state, cfg))
    return {**_meta(state, cfg), "best_auc": state["best_auc"]}


def _meta(state: dict[str, Any], cfg: TrainConfig) -> dict[str, Any]:
    return {
        "steps": state["step"],
        "images_seen": state["seen"],
        "seconds": round(time.perf_counter() - state["t0"], 1),
        "train": asdict(cfg),
    }


def _evaluate(
    ema: BlendNet,
    out: Path,
    state: dict[str, Any],
    vx: Any,
    vy: Any,
    losses: dict[str, float],
    log: Log | None,
) -> None:
    auc = roc_auc(vy, predict(ema, vx))
    rec = {
        "step": state["step"],
        "seen": state["seen"],
        "seconds": round(time.perf_counter() - state["t0"], 1),
        "holdout_auc": round(auc, 4),
        **{k: round(v, 4) for k, v in losses.items()},
    }
    if auc > state["best_auc"]:
        state["best_auc"] = auc
        save_checkpoint(out / "best.pt", ema, {**rec})
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    if log:
        log(rec)
