"""BlendNet: a compact CNN that scores a face crop for blending traces and maps the seam.

A plain residual CNN trained from scratch: a stride-2 stem to 64 px, then residual stages at 32,
16, 8 and 4 px (:class:`BlendNetConfig`: the default, one block per stage, is about 1.2M
parameters and ~60M multiply-adds; sized for a shared 2-core CPU, where the cost is in FLOPs,
not parameters). Two heads:

* ``logit`` ``(N,)``: fake (blended) vs real, from global average + max pooling of the 4 px stage;
* ``boundary`` ``(N, 32, 32)``: logits of the blending-boundary map (Face X-ray target), from the
  32 px stage; it is the model's explanation heatmap and an auxiliary training signal.

Input: ``(N, 3, 128, 128)`` float32, RGB scaled to [-1, 1] (see :func:`to_input`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

INPUT = 128
MAP = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class BlendNetConfig:
    """Widths of the stem and the four stages, residual blocks per stage (the first of each
    halves the resolution); dropout before the classifier."""

    stem: int = 16
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    depth: tuple[int, int, int, int] = (1, 1, 1, 1)
    dropout: float = 0.2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _Block(nn.Module):
    """conv3x3-BN-SiLU-conv3x3-BN + projected shortcut, optional stride 2."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.b1(self.c1(x)))
        return F.silu(self.b2(self.c2(y)) + self.short(x))


class BlendNet(nn.Module):
    """Classifier + boundary-map CNN (see module doc). ``forward`` returns (logit, boundary)."""

    def __init__(self, cfg: BlendNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or BlendNetConfig()
        w = self.cfg.widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, self.cfg.stem, 3, 2, 1, bias=False),
            nn.BatchNorm2d(self.cfg.stem),
            nn.SiLU(),
        )
        self.s32 = _Block(self.cfg.stem, w[0], 2)
        self.s16 = _Block(w[0], w[1], 2)
        self.s8 = _Block(w[1], w[2], 2)
        self.s4 = _Block(w[2], w[3], 2)
        # extra stride-1 blocks per stage (empty for depth 1, so older weights keep their keys)
        self.x32, self.x16, self.x8, self.x4 = (
            nn.Sequential(*[_Block(c, c, 1) for _ in range(d - 1)])
            for c, d in zip(w, self.cfg.depth, strict=True)
        )
        self.map_head = nn.Sequential(nn.Conv2d(w[0], 16, 3, 1, 1), nn.SiLU(), nn.Conv2d(16, 1, 1))
        self.drop = nn.Dropout(self.cfg.dropout)
        self.fc = nn.Linear(2 * w[3], 1)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features ``(N, 2 * widths[3])`` and the 32 px feature map."""
        f32 = self.x32(self.s32(self.stem(x)))
        f4 = self.x4(self.s4(self.x8(self.s8(self.x16(self.s16(f32))))))
        pooled = torch.cat([f4.mean(dim=(2, 3)), f4.amax(dim=(2, 3))], dim=1)
        return pooled, f32

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, f32 = self.features(x)
        logit = self.fc(self.drop(pooled)).squeeze(1)
        boundary = self.map_head(f32).squeeze(1)
        return logit, boundary


def to_input(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """``(N, 128, 128, 3)`` uint8 RGB -> ``(N, 3, 128, 128)`` float32 in [-1, 1]."""
    if crops.ndim != 4 or crops.shape[1:] != (INPUT, INPUT, 3):
        raise ValueError(f"need (N, {INPUT}, {INPUT}, 3) crops, got {crops.shape}")
    x = crops.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0
    return np.ascontiguousarray(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
