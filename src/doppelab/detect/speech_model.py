"""The speech detector's network: a small MLP over spectral statistics, trained in torch, run by
ONNX.

Input (B, 192) statistics (:mod:`doppelab.detect.speech_features`), standardised inside the model
(train mean/std stored as buffers, so the ONNX file is self-contained) -> 256 -> 128 (ReLU,
dropout 0.3) -> one logit (larger = more likely synthetic). About 82 k parameters.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

__all__ = ["SpeechMLP", "SpeechTrainConfig", "export_onnx", "fit", "predict_logits"]


class SpeechMLP(nn.Module):
    """Statistics (B, D) -> logits (B,)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_in: int, hidden: tuple[int, int] = (256, 128), dropout: float = 0.3
                 ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden[0]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden[1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)


@dataclass(frozen=True)
class SpeechTrainConfig:
    """Training settings (written into the model card and ``speech.json``)."""

    steps: int = 2000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-3
    seed: int = 0
    noise: float = 0.05  # Gaussian noise on the standardised inputs (augmentation)
    consistency: float = 0.0  # weight of the squared logit gap of codec twins (``pairs``)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _pair_loss(model: SpeechMLP, x: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor],
               batch: int, gen: torch.Generator) -> torch.Tensor:
    """Mean squared logit gap of ``batch`` random pairs (rows ``a[j]`` and ``b[j]`` of ``x``)."""
    j = torch.randint(0, len(pairs[0]), (batch,), generator=gen)
    return ((model(x[pairs[0][j]]) - model(x[pairs[1][j]])) ** 2).mean()


def fit(features: npt.NDArray[np.float32], labels: npt.NDArray[np.int64],
        cfg: SpeechTrainConfig, log: list[dict[str, float]] | None = None,
        pairs: Pairs | None = None) -> SpeechMLP:
    """Train on (N, D) features with labels (N,) 1 = fake; classes balanced by weighting.

    With ``pairs`` (row indices ``a``, ``b`` of the same length: a window and its codec twin)
    and ``cfg.consistency > 0``, each step also adds ``consistency`` times the mean squared gap
    between the logits of a batch of pairs, so a re-encoding does not move the score.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.from_numpy(np.ascontiguousarray(features, np.float32))
    y = torch.from_numpy(labels.astype(np.float32))
    model = SpeechMLP(x.shape[1])
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0) + 1e-6)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)
    pos = float(y.mean())
    weight = torch.where(y > 0, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    tpairs = None
    if pairs is not None and len(pairs[0]) > 0 and cfg.consistency > 0:
        tpairs = (torch.from_numpy(pairs[0]), torch.from_numpy(pairs[1]))
    model.train()
    running = 0.0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(y), (cfg.batch,), generator=gen)
        xb = x[idx] + cfg.noise * model.std * torch.randn(len(idx), x.shape[1], generator=gen)
        loss = (loss_fn(model(xb), y[idx]) * weight[idx]).mean()
        if tpairs is not None:
            loss = loss + cfg.consistency * _pair_loss(model, x, tpairs, cfg.batch, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if log is not None and (step + 1) % 500 == 0:
            log.append({"step": step + 1, "loss": running / 500})
            running = 0.0
    return model.eval()


def predict_logits(model: SpeechMLP, features: npt.NDArray[np.float32]
                   ) -> npt.NDArray[np.float32]:
    """Logits of (N, D) features with the torch model (training-time evaluation)."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(features, np.float32))).numpy()


def export_onnx(model: SpeechMLP, n_features: int) -> bytes:
    """The model as ONNX bytes, dynamic batch (input ``features`` (B, D), output ``logit``)."""
    buf = io.BytesIO()
    dummy = torch.zeros(1, n_features)
    torch.onnx.export(model.eval(), (dummy,), buf,  # type: ignore[arg-type]
                      input_names=["features"], output_names=["logit"],
                      dynamic_axes={"features": {0: "batch"}, "logit": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return buf.getvalue()
