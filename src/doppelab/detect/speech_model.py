"""The speech detector's network: a light CNN over LFCC windows, trained in torch, run by ONNX.

Input (B, 1, 60, T) LFCC (:mod:`doppelab.detect.speech_features`); four 3x3 convolution blocks
(16, 32, 48, 64 channels, batch norm, ReLU, 2x2 max-pool after the first three) -> mean and max
over frequency and time (128) -> dropout -> one logit (larger = more likely synthetic).
About 47 k parameters, ~30 M multiply-adds per 2 s window.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

__all__ = ["SpeechCNN", "SpeechTrainConfig", "export_onnx", "fit", "predict_logits"]


class SpeechCNN(nn.Module):
    """LFCC (B, 1, F, T) -> logits (B,)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 48, 64), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * c_in, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features. Shape: (B, 1, F, T) -> (B, 2 * channels[-1])."""
        h = self.body(x)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.embed(x))).squeeze(1)


@dataclass(frozen=True)
class SpeechTrainConfig:
    """Training settings (written into the model card and metrics JSON)."""

    epochs: int = 8
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    spec_mask: int = 8  # SpecAugment-style: one random band of up to this many rows zeroed

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _augment(x: torch.Tensor, cfg: SpeechTrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random time shift (roll) and one masked band of static coefficients (not the c0 row)."""
    _, _, f, t = x.shape
    shift = int(torch.randint(0, t, (1,), generator=gen))
    x = torch.roll(x, shift, dims=3)
    if cfg.spec_mask:
        width = int(torch.randint(0, cfg.spec_mask + 1, (1,), generator=gen))
        start = int(torch.randint(1, max(2, f // 3 - width), (1,), generator=gen))
        x = x.clone()
        x[:, :, start:start + width] = 0
    return x


def fit(features: npt.NDArray[np.float32], labels: npt.NDArray[np.int64],
        cfg: SpeechTrainConfig, log: list[dict[str, float]] | None = None) -> SpeechCNN:
    """Train on (N, 60, T) features with labels (N,) 1 = fake; classes balanced by weighting."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = SpeechCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * (-(-len(labels) // cfg.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)
    x_all = torch.from_numpy(features)[:, None]
    y_all = torch.from_numpy(labels.astype(np.float32))
    pos = float(labels.mean())
    weight = torch.where(y_all > 0, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(labels), generator=gen)
        total = 0.0
        for i in range(0, len(order), cfg.batch):
            idx = order[i:i + cfg.batch]
            logits = model(_augment(x_all[idx], cfg, gen))
            loss = (loss_fn(logits, y_all[idx]) * weight[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            log.append({"epoch": epoch + 1, "loss": total / len(labels)})
    return model.eval()


def predict_logits(model: SpeechCNN, features: npt.NDArray[np.float32],
                   batch: int = 256) -> npt.NDArray[np.float32]:
    """Logits of (N, 60, T) features with the torch model (training-time evaluation)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(features), batch):
            out.append(model(torch.from_numpy(features[i:i + batch])[:, None]).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def export_onnx(model: SpeechCNN, n_features: int, n_frames: int) -> bytes:
    """The model as ONNX bytes with a dynamic batch axis (input ``lfcc``, output ``logit``)."""
    buf = io.BytesIO()
    dummy = torch.zeros(1, 1, n_features, n_frames)
    torch.onnx.export(model.eval(), (dummy,), buf,  # type: ignore[arg-type]
                      input_names=["lfcc"], output_names=["logit"],
                      dynamic_axes={"lfcc": {0: "batch"}, "logit": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return buf.getvalue()
