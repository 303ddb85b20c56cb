"""Codec twins of the speech detector's train windows, for paired codec-consistency training.

Every original train window (both classes, the order of :func:`~doppelab.detect.speech_data.
load_shards`) is re-encoded through each condition of :data:`PAIR_CONDITIONS` (MP3 at 32 kb/s
and 8 kHz mu-law telephone audio: the two re-encodings the invariance check applies to whole
files) and its window features are computed. The twins are cached as
``<work>/features-v3-pairs[-<extra>...]-s<tag>-train.npz`` with, for each twin, the index of
its original window, so training can penalise the gap between the logits of a window and of
its twin (:func:`~doppelab.detect.speech_model.fit` with ``pairs``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.detect.speech_data import Condition, apply_condition, load_shards, shards_tag
from doppelab.detect.speech_extra import cache_suffix, train_families
from doppelab.detect.speech_phase import FEATURES_VERSION

__all__ = ["PAIR_CONDITIONS", "codec_pair_features"]

PAIR_CONDITIONS = (Condition("mp3-32k", "mp3", 32_000), Condition("tel-mulaw-8k", "mulaw", None,
                                                                   8_000))
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def codec_pair_features(work: Path, progress: Callable[[int], None] | None = None,
                        extra: tuple[str, ...] = (), prosody: bool = False
                        ) -> tuple[F32, I64, I64]:
    """Features of the codec twins of every original train window (cached).

    Returns:
        ``(x, origin, label)``: twin features (M, D), the index (M,) of each twin's original
        window in the train windows (which are also the first rows of the train features of
        :func:`~doppelab.detect.train_speech.features`), and its label (M,) 1 = fake.
        ``extra`` names the extra families whose shards the train windows include; with
        ``prosody`` the prosody statistics follow as the last columns (a cache of their own).
    """
    from doppelab.detect.speech_cache import cached_features
    from doppelab.detect.speech_prosody import PROSODY_VERSION

    suffix = cache_suffix(extra) + shards_tag(work / "shards", "train", train_families(extra))

    def make() -> tuple[F32, dict[str, npt.NDArray]]:
        windows, y, _, _ = load_shards(work / "shards", "train", train_families(extra))
        twins, origin = [], []
        for cond in PAIR_CONDITIONS:
            for i, w in enumerate(windows):
                twins.append(apply_condition(w, cond))
                origin.append(i)
                if progress and len(twins) % 200 == 0:
                    progress(len(twins))
        org = np.array(origin, np.int64)
        return np.stack(twins), {"origin": org, "y": y[org]}

    name = f"pairs{suffix}-train.npz"
    x, z = cached_features(work / f"features-{FEATURES_VERSION}-{name}",
                           work / f"prosody-{PROSODY_VERSION}-{name}", prosody, make)
    return x, z["origin"], z["y"]
