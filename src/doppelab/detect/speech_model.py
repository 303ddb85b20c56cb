"""The speech detector's network: a small MLP over spectral statistics, trained in torch, run by
ONNX, optionally fused with a real-speech density.

Input (B, D) statistics (:mod:`doppelab.detect.speech_features` and the other front ends),
standardised inside the model (train mean/std stored as buffers, so the ONNX file is
self-contained) -> 256 -> 128 (ReLU, dropout 0.3) -> one logit (larger = more likely synthetic).
About 90 k parameters.

:class:`FusedSpeech` adds a one-class term that does not depend on which fake families were
trained on: the log Mahalanobis distance of a window's statistics (columns ``first:``) from a
Gaussian fitted to *real* train windows only (covariance shrunk towards the identity). Both
scores are standardised by their values on the real train windows and added with weight
``density_weight`` for the density: ``logit = (mlp - m1) / s1 + w (log d2 - m2) / s2``. The
two-class MLP knows the fakes it saw; the density flags whatever lies far from real speech
(chosen on train-speaker folds, each fake family left out in turn; see the model card).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

__all__ = ["FusedSpeech", "SpeechMLP", "SpeechTrainConfig", "export_onnx", "fit", "fit_fused",
           "predict_logits"]


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
    density_weight: float = 0.0  # > 0: fuse with a real-speech Gaussian (:class:`FusedSpeech`)
    density_first: int = 192  # the density sees columns density_first: (phase + prosody)
    density_shrink: float = 0.1  # covariance shrinkage towards the identity

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


class FusedSpeech(nn.Module):
    """A :class:`SpeechMLP` plus a real-speech Gaussian density (see module doc).
    Statistics (B, D) -> logits (B,)."""

    mu: torch.Tensor
    sd: torch.Tensor
    precision: torch.Tensor
    norm: torch.Tensor

    def __init__(self, mlp: SpeechMLP, first: int, weight: float, n_in: int) -> None:
        super().__init__()
        self.mlp, self.first, self.weight = mlp, first, weight
        k = n_in - first
        self.register_buffer("mu", torch.zeros(k))
        self.register_buffer("sd", torch.ones(k))
        self.register_buffer("precision", torch.eye(k))
        self.register_buffer("norm", torch.tensor([0.0, 1.0, 0.0, 1.0]))  # m1, s1, m2, s2

    def log_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Log squared Mahalanobis distance from the real-speech Gaussian. (B, D) -> (B,)."""
        z = (x[:, self.first:] - self.mu) / self.sd
        return torch.log(((z @ self.precision) * z).sum(-1) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm
        return (self.mlp(x) - n[0]) / n[1] + self.weight * (self.log_distance(x) - n[2]) / n[3]


def fit_fused(features: npt.NDArray[np.float32], labels: npt.NDArray[np.int64],
              cfg: SpeechTrainConfig, log: list[dict[str, float]] | None = None,
              pairs: Pairs | None = None) -> SpeechMLP | FusedSpeech:
    """:func:`fit`, then (``cfg.density_weight > 0``) the Gaussian of the real rows
    (``labels == 0``) and both scores' standardisation on them: a :class:`FusedSpeech`."""
    mlp = fit(features, labels, cfg, log, pairs)
    if cfg.density_weight <= 0:
        return mlp
    real = np.ascontiguousarray(features[labels == 0], np.float64)
    part = real[:, cfg.density_first:]
    mu, sd = part.mean(axis=0), part.std(axis=0) + 1e-6
    cov = np.cov((part - mu) / sd, rowvar=False)
    cov = (1 - cfg.density_shrink) * cov + cfg.density_shrink * np.eye(len(cov))
    model = FusedSpeech(mlp, cfg.density_first, cfg.density_weight, features.shape[1])
    model.mu.copy_(torch.from_numpy(mu))
    model.sd.copy_(torch.from_numpy(sd))
    model.precision.copy_(torch.from_numpy(np.linalg.inv(cov)))
    with torch.no_grad():
        xr = torch.from_numpy(real.astype(np.float32))
        s, d = mlp(xr), model.log_distance(xr)
        model.norm.copy_(torch.stack([s.mean(), s.std() + 1e-6, d.mean(), d.std() + 1e-6]))
    return model.eval()


def predict_logits(model: nn.Module, features: npt.NDArray[np.float32]
                   ) -> npt.NDArray[np.float32]:
    """Logits of (N, D) features with the torch model (training-time evaluation)."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(features, np.float32))).numpy()


def export_onnx(model: nn.Module, n_features: int) -> bytes:
    """The model as ONNX bytes, dynamic batch (input ``features`` (B, D), output ``logit``)."""
    buf = io.BytesIO()
    dummy = torch.zeros(1, n_features)
    torch.onnx.export(model.eval(), (dummy,), buf,  # type: ignore[arg-type]
                      input_names=["features"], output_names=["logit"],
                      dynamic_axes={"features": {0: "batch"}, "logit": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return buf.getvalue()
