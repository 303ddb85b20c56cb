"""The detector must not learn the creation watermark as the cue for "fake".

Two guards: the training batches put the watermark in both classes (every swap fake drawn comes
with a marked real), and the shipped BlendNet's score moves far less for the mark than for a
self-blend of the same face.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from doppelab.core.geometry import warp_to_crop
from doppelab.detect.base import FaceBatch, create_detector
from doppelab.detect.data import CROP, FaceTable, net_landmarks, to_net
from doppelab.detect.selfblend import self_blend
from doppelab.detect.swapfakes import SwapTable
from doppelab.detect.train_blend import TrainConfig, make_batch
from doppelab.extract.align import crop_from_landmarks
from doppelab.extract.landmarks import FaceTracker, TrackerConfig
from doppelab.provenance import watermark


def _tables(
    astronaut_face: tuple, one_person_table: Callable[[npt.ArrayLike], FaceTable]
) -> tuple[FaceTable, SwapTable]:
    crop, lm = astronaut_face
    fit = one_person_table(np.zeros(8, bool))
    label = np.r_[np.zeros(3), np.ones(5)].astype(np.int64)  # more fakes than marked reals
    swaps = SwapTable(
        crops=np.stack([crop] * 8),
        landmarks=np.stack([lm] * 8),
        label=label,
        method=np.where(label == 1, "mesh", "real"),
        target=np.full(8, "t"),
        source=np.full(8, "s"),
        video=np.full(8, "v"),
        holdout=np.zeros(8, bool),
    )
    return fit, swaps


def test_batches_carry_the_watermark_in_both_classes(
    astronaut_face: tuple, one_person_table: Callable[[npt.ArrayLike], FaceTable]
) -> None:
    fit, swaps = _tables(astronaut_face, one_person_table)
    cfg = TrainConfig(batch=16, swap_share=0.5)
    images, labels, maps, weights = make_batch(fit, swaps, np.random.default_rng(0), cfg)
    assert images.shape == (16, 128, 128, 3) and maps.shape == (16, 32, 32)
    # 4 self-blend pairs (unmarked), then 4 marked reals and 4 swaps (marked): 50/50 per group
    assert labels.tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 4 + [1.0] * 4
    assert weights.tolist() == [1.0] * 12 + [0.0] * 4  # no seam target for swaps
    none = make_batch(fit, None, np.random.default_rng(0), cfg)
    assert none[1].tolist() == [0.0] * 8 + [1.0] * 8


def test_watermark_moves_the_score_far_less_than_a_blend(astronaut: np.ndarray) -> None:
    """Scale-free: the mark's shift of the BlendNet logit must be a small share of the shift a
    self-blend of the same face causes (a model that had learned the mark would move far)."""
    with FaceTracker(TrackerConfig(static=True)) as tracker:
        lm = tracker.process(astronaut)[0].landmarks
    m = crop_from_landmarks(lm, CROP)
    frames = [astronaut] + [watermark.embed(astronaut, pid) for pid in range(1, 7)]
    crops = to_net(np.stack([warp_to_crop(f, m, CROP.size) for f in frames]))
    net_lm = net_landmarks(lm[None], m[None])[0]
    blends = [self_blend(crops[0], net_lm, np.random.default_rng(s)).image for s in range(6)]
    allc = np.concatenate([crops, np.stack(blends)])
    batch = FaceBatch(crops=allc, landmarks=np.zeros((len(allc), 478, 2), np.float32))
    logits = create_detector("blend").forward(batch)["logits"]
    plain, marked, blended = logits[0], logits[1:7], logits[7:]
    blend_shift = float(np.mean(blended - plain))
    assert blend_shift > 1.0, logits  # the detector does see the self-blends
    assert abs(float(np.mean(marked - plain))) < 0.05 * blend_shift, logits
    assert float(np.max(np.abs(marked - plain))) < 0.1 * blend_shift, logits
