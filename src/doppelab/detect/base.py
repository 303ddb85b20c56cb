"""The detector contract and registry (one way in: :func:`create_detector`).

Every detector takes a batch of its own input level and returns the same dictionary (the
DeepfakeBench contract):

* ``"logits"`` ``(N,)`` float32: larger means more likely fake;
* ``"probability"`` ``(N,)`` float32: ``sigmoid(logits)`` (the detector's own, uncalibrated);
* ``"features"`` ``(N, D)`` float32: what the classifier saw (or the named raw measurements);
* ``"evidence"`` optional ``(N, H, W)`` float32 heatmap in [0, 1] over the face crop.

Levels: ``"face"`` detectors take a :class:`FaceBatch` (one row per face), ``"track"`` detectors a
:class:`TrackSeries` (one face followed through a video; N = 1), ``"audio"`` detectors an
:class:`~doppelab.detect.speech.AudioWindows` (one row per 2 s speech window).

Example:
    >>> det = create_detector("frequency")             # doctest: +SKIP
    >>> out = det.forward(FaceBatch.from_crops(crops, landmarks))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError

Output = dict[str, npt.NDArray[np.float32]]
Level = Literal["face", "track", "audio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceBatch:
    """Aligned faces. Shape: ``crops`` (N, 128, 128, 3) uint8 (template of
    :data:`doppelab.detect.data.CROP` resized to 128 px); ``landmarks`` (N, 478, 2) float32 in
    those crops' pixels."""

    crops: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.crops.ndim != 4 or self.crops.shape[3] != 3 or self.crops.dtype != np.uint8:
            raise ValueError(f"crops must be (N, S, S, 3) uint8, got {self.crops.shape}")
        if self.landmarks.shape[:1] != self.crops.shape[:1] or self.landmarks.ndim != 3:
            raise ValueError(
                f"landmarks must be (N, 478, 2|3), got {self.landmarks.shape} for "
                f"{len(self.crops)} crops"
            )

    def __len__(self) -> int:
        return len(self.crops)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackSeries:
    """One face followed through a video.

    Shape: ``landmarks`` (T, 478, 3) float32 frame px of consecutive tracked frames;
    ``timestamps`` (T,) seconds; ``embeddings`` (K, D) float32 L2-normalised identity
    embeddings of K sampled frames (K may be 0).
    """

    landmarks: npt.NDArray[np.float32]
    timestamps: npt.NDArray[np.float64]
    embeddings: npt.NDArray[np.float32]

    @property
    def duration(self) -> float:
        return float(self.timestamps[-1] - self.timestamps[0]) if len(self.timestamps) else 0.0


class Detector(Protocol):
    """What every registered detector offers."""

    name: ClassVar[str]
    level: ClassVar[Level]

    def forward(self, batch: Any) -> Output: ...

    def describe(self) -> dict[str, Any]: ...


D = TypeVar("D")
_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[type[D]], type[D]]:
    """Class decorator: make ``name`` available to :func:`create_detector`."""

    def deco(cls: type[D]) -> type[D]:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} registered twice")
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    # importing the modules runs their @register decorators
    from doppelab.detect import (  # noqa: F401
        blend,
        frequency_detector,
        speech,
        temporal,
    )


def available() -> list[str]:
    """Names of the registered detectors."""
    _load_builtin()
    return sorted(_REGISTRY)


def create_detector(name: str, **cfg: Any) -> Any:
    """The detector registered as ``name``, built with keyword settings ``cfg``."""
    _load_builtin()
    if name not in _REGISTRY:
        raise UsageError(f"unknown detector {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**cfg)


def sigmoid(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Numerically stable logistic function."""
    z = np.asarray(x, dtype=np.float64)
    return np.asarray(
        np.where(
            z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z)))
        ),
        np.float32,
    )


def verdict(probability: float, margin: float, *, fake_reason: str | None = None,
            unsure_reason: str = "score near the decision threshold") -> tuple[str, str | None]:
    """(verdict, reason) of a calibrated probability: ``likely fake`` at or above
    ``0.5 + margin`` (reason ``fake_reason``), ``likely real`` at or below ``0.5 - margin``
    (no reason), else ``inconclusive`` (reason ``unsure_reason``)."""
    if probability >= 0.5 + margin:
        return "likely fake", fake_reason
    if probability <= 0.5 - margin:
        return "likely real", None
    return "inconclusive", unsure_reason


def output(
    logits: npt.ArrayLike, features: npt.ArrayLike, evidence: npt.ArrayLike | None = None
) -> Output:
    """Build the contract dictionary (checks shapes)."""
    lg = np.asarray(logits, np.float32).reshape(-1)
    ft = np.asarray(features, np.float32)
    ft = ft.reshape(len(lg), ft.shape[-1] if ft.ndim > 1 else -1)
    out: Output = {"logits": lg, "probability": sigmoid(lg), "features": ft}
    if evidence is not None:
        ev = np.asarray(evidence, np.float32)
        if ev.ndim != 3 or len(ev) != len(lg):
            raise ValueError(f"evidence must be (N, H, W), got {ev.shape}")
        out["evidence"] = ev
    return out
