"""The shipped weights load with both runtimes and tell a real crop from its self-blend."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.detect.base import FaceBatch, create_detector
from doppelab.detect.selfblend import self_blend
from doppelab.detect.shipped import (
    BLEND_ONNX,
    BLEND_STATE,
    FREQUENCY,
    FUSION,
    TEMPORAL,
    weights_dir,
)


def test_files_shipped_and_small() -> None:
    for name in (BLEND_ONNX, BLEND_STATE, FREQUENCY, FUSION, TEMPORAL, "MODEL_CARD.md"):
        path = weights_dir() / name
        assert path.is_file(), name
        assert path.stat().st_size < 6_000_000


def _batch(astronaut_face: tuple, n: int = 6) -> FaceBatch:
    crop, lm = astronaut_face
    fakes = [self_blend(crop, lm, np.random.default_rng(s)).image for s in range(n)]
    return FaceBatch(crops=np.stack([crop, *fakes]), landmarks=np.stack([lm] * (n + 1)))


def test_onnx_and_torch_agree(astronaut_face: tuple) -> None:
    pytest.importorskip("onnxruntime")
    batch = _batch(astronaut_face, 2)
    a = create_detector("blend", backend="onnx").forward(batch)
    b = create_detector("blend", backend="torch").forward(batch)
    assert np.allclose(a["logits"], b["logits"], atol=0.05)  # fp16 state vs fp32 ONNX
    assert np.allclose(a["evidence"], b["evidence"], atol=0.02)


def test_real_and_blended_scores_differ(astronaut_face: tuple) -> None:
    out = create_detector("blend").forward(_batch(astronaut_face))
    real, fakes = out["logits"][0], out["logits"][1:]
    assert not np.allclose(fakes, real)
    assert fakes.mean() > real  # on average the self-blends look more blended


def test_fusion_weights_are_evidence() -> None:
    from doppelab.detect.fusion import Fusion

    fusion = Fusion.load()
    assert all(w > 0 for w in fusion.weights.values())
