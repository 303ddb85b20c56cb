"""One contract for every face-swap method, registered by name.

A method works in the aligned crop space of the extraction stage: it gets the target's aligned
crop and landmarks (crop pixels) and returns the swapped crop and the mask where it is valid.
Conversion (:mod:`doppelab.swap.convert`) does everything around it: tracking, choosing the
person, smoothing, post-processing, pasting back and labelling the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from doppelab.core.errors import UsageError
from doppelab.core.types import Embedding, ImageU8, Landmarks, MaskF32


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetFace:
    """What a method sees of one target face (crop space). ``track_id`` lets stateful methods
    keep per-track state (e.g. a neutral-shape estimate)."""

    crop: ImageU8
    landmarks: Landmarks
    track_id: int
    timestamp: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapOutput:
    """The swapped crop and the mask where the method's output is valid (both crop space)."""

    crop: ImageU8
    mask: MaskF32


class SwapMethod(Protocol):
    """The method contract. ``crop_size`` and ``coverage`` are the alignment the method works in;
    ``source_identity`` the embedding of the person it puts in; ``target_identity`` the person it
    may replace (``None``: anyone chosen by the caller); ``model_hash`` names the weights."""

    name: str
    crop_size: int
    coverage: float
    model_hash: str
    source_identity: Embedding | None
    target_identity: Embedding | None

    def swap(self, face: TargetFace) -> SwapOutput: ...


_REGISTRY: dict[str, Callable[..., SwapMethod]] = {}
T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator adding a method factory under ``name``."""

    def deco(factory: T) -> T:
        _REGISTRY[name] = factory  # type: ignore[assignment]
        return factory

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def create_method(name: str, **cfg: Any) -> SwapMethod:
    """Build a registered method by name (``mesh``, ``autoencoder``)."""
    # importing the implementations registers them
    from doppelab.swap import autoencoder, mesh  # noqa: F401

    if name not in _REGISTRY:
        raise UsageError(f"unknown swap method {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**cfg)
