"""The ``frequency`` detector: spectral and boundary statistics + a shipped small MLP."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from doppelab.detect.base import FaceBatch, Level, Output, output, register
from doppelab.detect.blend import _resize_batch
from doppelab.detect.frequency import (
    FEATURES_VERSION,
    Logistic,
    SmallMLP,
    features,
    load_classifier,
)
from doppelab.detect.shipped import FREQUENCY, read_npz


@register("frequency")
@dataclass
class FrequencyDetector:
    """Azimuthal spectrum + boundary-band statistics (see :mod:`doppelab.detect.frequency`);
    ``path`` overrides the shipped classifier (``frequency.npz``)."""

    name: ClassVar[str] = "frequency"
    level: ClassVar[Level] = "face"
    path: str | Path | None = None
    _clf: Logistic | SmallMLP = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._clf = load_classifier(read_npz(FREQUENCY, self.path), self.path or FREQUENCY)

    def forward(self, batch: FaceBatch) -> Output:
        crops = _resize_batch(batch.crops) if len(batch) else batch.crops
        scale = crops.shape[1] / batch.crops.shape[1] if len(batch) else 1.0
        lm = (batch.landmarks[..., :2] + 0.5) * scale - 0.5
        x = features(crops, lm.astype(np.float32))
        logits = self._clf.logits(x) if len(x) else np.zeros(0)
        return output(logits, x)

    def describe(self) -> dict[str, Any]:
        kind = type(self._clf).__name__
        return {
            "name": self.name,
            "features": len(self._clf.mean),
            "features_version": FEATURES_VERSION,
            "classifier": kind,
        }
