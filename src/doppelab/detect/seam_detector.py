"""The ``seam`` detector: SeamNet on patches along the face boundary (see
:mod:`doppelab.detect.seam`); ``path`` overrides the shipped ``seam.npz``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from doppelab.detect.base import FaceBatch, Level, Output, output, register
from doppelab.detect.blend import _resize_batch
from doppelab.detect.shipped import SEAM, read_npz


@register("seam")
@dataclass
class SeamDetector:
    """Face logit = mean of the highest patch logits; features: that, the mean and the max
    patch logit. ``threads``: torch CPU threads."""

    name: ClassVar[str] = "seam"
    level: ClassVar[Level] = "face"
    path: str | Path | None = None
    threads: int = 1
    _model: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        import torch

        from doppelab.detect.seam import unpack

        self._model = unpack(read_npz(SEAM, self.path))
        torch.set_num_threads(self.threads)

    def forward(self, batch: FaceBatch) -> Output:
        from doppelab.detect.seam import face_scores

        if len(batch) == 0:
            return output(np.zeros(0), np.zeros((0, 3)))
        crops = _resize_batch(batch.crops)
        scale = crops.shape[1] / batch.crops.shape[1]
        lm = ((batch.landmarks[..., :2] + 0.5) * scale - 0.5).astype(np.float32)
        top, patches = face_scores(self._model, crops, lm)
        return output(top, np.stack([top, patches.mean(axis=1), patches.max(axis=1)], axis=1))

    def describe(self) -> dict[str, Any]:
        from doppelab.detect.seam import K_HULL, PATCH, TOP

        return {"name": self.name, "patches": 2 * K_HULL, "patch_px": PATCH, "top": TOP}
