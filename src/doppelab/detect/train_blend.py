"""Training of :class:`~doppelab.detect.blendnet.BlendNet` on real faces vs generated fakes.

Recipe (fixed seed, time budget): every step takes real training faces and makes a self-blended
pseudo-fake of each (:func:`~doppelab.detect.selfblend.self_blend`); with a swap table
(:mod:`doppelab.detect.swapfakes`) a ``swap_share`` of the batch's pairs are instead a marked
real face and a mesh or autoencoder swap (both carry the watermark, so it is no cue). Every image
then gets the same kind of random degradations (:mod:`doppelab.detect.augment`). Loss = binary
cross-entropy on the label + ``boundary_weight`` x pixel binary cross-entropy of the 32 px
boundary map (zero for reals; swaps, whose exact mask is unknown, have no map loss). AdamW,
linear warm-up then cosine decay over the time budget; an exponential moving average (EMA) of
the weights is what gets evaluated and shipped. The held-out train identities are scored every
``eval_every`` seconds (self-blends of their faces and, when given, the held-out pair's swaps vs
its marked reals); the best EMA checkpoint by the mean of those AUCs is kept. Batches can be made
by ``workers`` processes and the network can run on ``device`` (CUDA, optionally bf16 autocast):
the same code trains on this CPU and on a lent GPU. Logs are JSON lines; checkpoints are atomic.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional as F

from doppelab.core.storage import atomic_path, ensure_dir
from doppelab.detect.augment import AugmentConfig, augment
from doppelab.detect.blendnet import MAP, BlendNet, BlendNetConfig
from doppelab.detect.metrics import roc_auc
from doppelab.detect.selfblend import BlendConfig, BlendSample, global_transform, self_blend
from doppelab.detect.selfmesh import partners, self_mesh

if TYPE_CHECKING:
    from doppelab.detect.data import FaceTable
    from doppelab.detect.swapfakes import SwapTable

Log = Callable[[dict[str, Any]], None]
Batch = tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32], Any]


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
    device: str = "cpu"
    workers: int = 0  # batch-making processes (0: in the training process)
    amp: bool = False  # bf16 autocast on CUDA
    swap_share: float = 0.0  # share of the pairs that are (marked real, swap) when swaps given
    max_steps: int = 0  # also stop after this many steps (0: time budget only)
    real_transform: float = 0.0  # chance that a real face gets a seamless global_transform
    self_mesh: float = 0.0  # chance that a pseudo-fake is a self-mesh (selfmesh.py), not a blend
    codec: float = 0.0  # chance that a training image goes through H.264 (augment.codec)
    init: str = ""  # checkpoint to start from (fine-tuning; its own net config is used)
    snapshots: bool = False  # also keep the EMA weights of every evaluation (snap_<images>.pt)
    net: BlendNetConfig = field(default_factory=BlendNetConfig)


def make_pairs(
    table: FaceTable,
    idx: npt.NDArray[np.int64],
    rng: np.random.Generator,
    aug: bool = True,
    acfg: AugmentConfig | None = None,
    real_transform: float = 0.0,
    mesh: tuple[float, list[npt.NDArray[np.int64]]] | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Real faces ``idx`` and a self-blend of each: images ``(2n, S, S, 3)``, labels ``(2n,)``,
    boundary targets ``(2n, 32, 32)`` (reals first, then fakes in the same order). With
    ``real_transform`` > 0 that share of the reals is changed seamlessly
    (:func:`~doppelab.detect.selfblend.global_transform`). With ``mesh`` = (share, partners of
    every row, :func:`~doppelab.detect.selfmesh.partners`) that share of the fakes is a
    self-mesh from a partner instead (rows without partners keep their self-blend)."""
    images, maps = [], []
    bcfg, acfg = BlendConfig(), acfg or AugmentConfig()
    zero = np.zeros(table.crops.shape[1:3], np.float32)
    fakes = [_fake(table, int(i), rng, bcfg, mesh) for i in idx]
    reals = [
        global_transform(table.crops[i], rng, bcfg)
        if real_transform and rng.random() < real_transform
        else table.crops[i]
        for i in idx
    ]
    for img, bmap in [(r, zero) for r in reals] + [(f.image, f.boundary) for f in fakes]:
        if aug:
            img, bmap = augment(img, bmap, rng, acfg)
        images.append(img)
        maps.append(cv2.resize(bmap, (MAP, MAP), interpolation=cv2.INTER_AREA))
    labels = np.r_[np.zeros(len(idx)), np.ones(len(idx))].astype(np.float32)
    return np.stack(images), labels, np.stack(maps).astype(np.float32)


def _fake(
    table: FaceTable,
    i: int,
    rng: np.random.Generator,
    bcfg: BlendConfig,
    mesh: tuple[float, list[npt.NDArray[np.int64]]] | None,
) -> BlendSample:
    """A self-mesh of row ``i`` (with ``mesh``'s chance, when it has a partner) or a self-blend."""
    if mesh is not None and len(mesh[1][i]) and rng.random() < mesh[0]:
        j = int(rng.choice(mesh[1][i]))
        return self_mesh(table.crops[i], table.landmarks[i], table.crops[j], table.landmarks[j],
                         rng)
    return self_blend(table.crops[i], table.landmarks[i], rng, bcfg)


def _lr_factor(frac: float, warmup: float) -> float:
    if frac < warmup:
        return max(frac / warmup, 0.01)
    return 0.5 * (1.0 + math.cos(math.pi * min((frac - warmup) / (1.0 - warmup), 1.0)))


def swap_draw(
    swaps: SwapTable,
    n: int,
    rng: np.random.Generator,
    *,
    aug: bool = True,
    replace: bool = True,
    acfg: AugmentConfig | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """``n`` marked real faces then ``n`` swapped faces of ``swaps`` (drawn with or without
    ``replace``-ment; degraded with ``acfg`` when ``aug``): their rows ``(2n,)``, images
    ``(2n, S, S, 3)`` and labels ``(2n,)``."""
    reals, fakes = np.flatnonzero(swaps.label == 0), np.flatnonzero(swaps.label == 1)
    idx = np.r_[
        rng.choice(reals, size=n, replace=replace), rng.choice(fakes, size=n, replace=replace)
    ]
    zero = np.zeros(swaps.crops.shape[1:3], np.float32)
    images = [augment(swaps.crops[i], zero, rng, acfg)[0] if aug else swaps.crops[i] for i in idx]
    labels = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    empty = np.zeros((0, *swaps.crops.shape[1:]), np.uint8)
    return idx, np.stack(images) if images else empty, labels


def swap_samples(
    swaps: SwapTable,
    n: int,
    rng: np.random.Generator,
    aug: bool = True,
    acfg: AugmentConfig | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``n`` marked real faces then ``n`` swapped faces of ``swaps`` (:func:`swap_draw`, with
    replacement, degraded like the rest): images ``(2n, S, S, 3)``, labels ``(2n,)``, zero
    boundary maps ``(2n, 32, 32)``."""
    _, images, labels = swap_draw(swaps, n, rng, aug=aug, acfg=acfg)
    return images, labels, np.zeros((2 * n, MAP, MAP), np.float32)


def make_batch(
    fit: FaceTable,
    swaps: SwapTable | None,
    rng: np.random.Generator,
    cfg: TrainConfig,
    partner: list[npt.NDArray[np.int64]] | None = None,
) -> Batch:
    """One training batch: images, labels, boundary targets and per-image map-loss weights.
    ``partner``: :func:`~doppelab.detect.selfmesh.partners` of ``fit`` (made here when
    ``cfg.self_mesh`` needs them and none are given)."""
    half = cfg.batch // 2
    n_sw = round(half * cfg.swap_share) if swaps is not None and len(swaps) else 0
    idx = rng.choice(len(fit), size=half - n_sw, replace=False)
    mesh = None
    if cfg.self_mesh > 0:
        rows = partner if partner is not None else partners(fit.media, fit.identity)
        mesh = (cfg.self_mesh, rows)
    acfg = AugmentConfig(p_codec=cfg.codec)
    images, labels, maps = make_pairs(fit, idx, rng, acfg=acfg, real_transform=cfg.real_transform,
                                      mesh=mesh)
    weights = np.ones(len(labels), np.float32)
    if n_sw and swaps is not None:
        x, y, m = swap_samples(swaps, n_sw, rng, acfg=acfg)
        images, labels = np.concatenate([images, x]), np.concatenate([labels, y])
        maps = np.concatenate([maps, m])
        weights = np.r_[weights, np.ones(n_sw), np.zeros(n_sw)].astype(np.float32)
    return images, labels, maps, weights


class _Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Endless batches; each worker process draws from its own seeded generator."""

    def __init__(self, fit: FaceTable, swaps: SwapTable | None, cfg: TrainConfig) -> None:
        self.fit, self.swaps, self.cfg = fit, swaps, cfg

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.cfg.seed, info.id if info else 0])
        cv2.setNumThreads(1)
        partner = partners(self.fit.media, self.fit.identity) if self.cfg.self_mesh else None
        while True:
            yield make_batch(self.fit, self.swaps, rng, self.cfg, partner)


def to_device(images: Any, device: torch.device) -> torch.Tensor:
    """``(N, S, S, 3)`` uint8 RGB (array or tensor) -> ``(N, 3, S, S)`` in [-1, 1] on
    ``device``, channels-last (the same scaling as :func:`~doppelab.detect.blendnet.to_input`)."""
    x = torch.as_tensor(images).to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict(
    model: BlendNet, images: npt.NDArray[np.uint8], batch: int = 128, device: str = "cpu"
) -> npt.NDArray:
    """Logits ``(N,)`` of ``(N, 128, 128, 3)`` crops (eval mode)."""
    model.eval()
    out = []
    for s in range(0, len(images), batch):
        x = to_device(np.ascontiguousarray(images[s : s + batch]), torch.device(device))
        out.append(model(x)[0].float().cpu().numpy())
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
    model: BlendNet, opt: torch.optim.Optimizer, batch: Batch, cfg: TrainConfig
) -> dict[str, float]:
    dev = torch.device(cfg.device)
    images, labels, maps, weights = batch
    x = to_device(images, dev)
    y, m, w = (torch.as_tensor(a).to(dev, non_blocking=True) for a in (labels, maps, weights))
    model.train()
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cfg.amp):
        logit, bmap = model(x)
    cls = F.binary_cross_entropy_with_logits(logit.float(), y)
    per = F.binary_cross_entropy_with_logits(bmap.float(), m, reduction="none").mean(dim=(1, 2))
    seam = (per * w).sum() / w.sum().clamp_min(1.0)
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
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state": state, "config": model.cfg.to_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | Path) -> tuple[BlendNet, dict[str, Any]]:
    """A :class:`BlendNet` in eval mode and the checkpoint's metadata."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = dict(ck["config"])
    cfg["widths"] = tuple(cfg["widths"])
    cfg["depth"] = tuple(cfg.get("depth", (1, 1, 1, 1)))
    model = BlendNet(BlendNetConfig(**cfg))
    model.load_state_dict(ck["state"])
    model.eval()
    return model, dict(ck["meta"])


def validation_sets(
    table: FaceTable, swaps: SwapTable | None, n: int
) -> dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]]:
    """Fixed, degraded held-out sets: ``selfblend`` (held-out train identities and their
    self-blends) and, with swaps, ``swap`` (the held-out pair's marked reals vs its swaps)."""
    out = {"selfblend": fixed_eval_set(table.subset(table.holdout & ~table.dev), n, 1234)}
    if swaps is not None:
        held = swaps.subset(swaps.holdout)
        if (held.label == 0).any() and (held.label == 1).any():
            rng = np.random.default_rng(4321)
            x, y, _ = swap_samples(held, n // 2, rng)
            out["swap"] = (x, y)
    return out


def train(
    table: FaceTable,
    out_dir: str | Path,
    cfg: TrainConfig,
    log: Log | None = None,
    swaps: SwapTable | None = None,
) -> dict[str, Any]:
    """Train on ``table``'s (and ``swaps``') non-holdout, non-dev faces; evaluate on the
    held-out ones (:func:`validation_sets`)."""
    out = ensure_dir(out_dir)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    fit = table.subset(~table.holdout & ~table.dev)
    fit_swaps = swaps.subset(~swaps.holdout) if swaps is not None else None
    val = validation_sets(table, swaps, cfg.eval_faces)
    base = load_checkpoint(cfg.init)[0] if cfg.init else BlendNet(cfg.net)
    model = base.to(cfg.device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "seen": 0, "best": -1.0, "t0": time.perf_counter(), "last_eval": 0.0}
    loader = torch.utils.data.DataLoader(
        _Stream(fit, fit_swaps, cfg),
        batch_size=None,
        num_workers=cfg.workers,
        pin_memory=cfg.device.startswith("cuda"),
        prefetch_factor=4 if cfg.workers else None,
        persistent_workers=cfg.workers > 0,
        # fresh processes: OpenCV's and OpenMP's thread pools do not survive a fork
        multiprocessing_context="spawn" if cfg.workers else None,
    )
    budget = cfg.minutes * 60.0
    losses: dict[str, float] = {}
    for batch in loader:
        elapsed = time.perf_counter() - state["t0"]
        if elapsed >= budget or (cfg.max_steps and state["step"] >= cfg.max_steps):
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(elapsed / budget, cfg.warmup)
        losses = _step(model, opt, batch, cfg)
        _ema_update(ema, model, cfg.ema if state["step"] > 100 else 0.9)
        state["step"] += 1
        state["seen"] += len(batch[1])
        if elapsed - state["last_eval"] >= cfg.eval_every:
            state["last_eval"] = elapsed
            _evaluate(ema, out, state, val, losses, log, cfg)
    _evaluate(ema, out, state, val, losses, log, cfg)
    save_checkpoint(out / "last.pt", ema, _meta(state, cfg))
    return {**_meta(state, cfg), "best": state["best"]}


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
    val: dict[str, tuple[Any, Any]],
    losses: dict[str, float],
    log: Log | None,
    cfg: TrainConfig,
) -> None:
    """Held-out AUCs of the EMA weights, logged; ``best.pt`` when they improve, and with
    ``cfg.snapshots`` the weights as ``snap_<images>.pt`` (to choose among afterwards,
    ``bench/blend_select.py``)."""
    aucs = {
        f"holdout_{k}_auc": roc_auc(y, predict(ema, x, device=cfg.device))
        for k, (x, y) in val.items()
    }
    score = float(np.mean(list(aucs.values())))
    rec = {
        "step": state["step"],
        "seen": state["seen"],
        "seconds": round(time.perf_counter() - state["t0"], 1),
        "score": round(score, 4),
        **{k: round(v, 4) for k, v in aucs.items()},
        **{k: round(v, 4) for k, v in losses.items()},
    }
    if score > state["best"]:
        state["best"] = score
        save_checkpoint(out / "best.pt", ema, {**rec})
    if cfg.snapshots:
        save_checkpoint(out / f"snap_{state['seen']:07d}.pt", ema, {"seen": state["seen"]})
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    if log:
        log(rec)
