"""Cached window features of the speech detector's training sets.

A set's features live in two ``.npz`` files so that each can be made (and versioned) on its
own: the main cache (``x``, the :func:`~doppelab.detect.speech_phase.window_features`, plus the
set's own arrays such as labels) and the prosody cache (``p``, the
:func:`~doppelab.detect.speech_prosody.prosody_stats`). The windows, which are costly to make,
are only made when a wanted cache is missing, and then once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.core.storage import atomic_write_npz
from doppelab.detect.speech_phase import window_features
from doppelab.detect.speech_prosody import prosody_stats

__all__ = ["cached_features"]

F32 = npt.NDArray[np.float32]
Arrays = dict[str, npt.NDArray]


def cached_features(main: Path, pros: Path, prosody: bool,
                    make: Callable[[], tuple[F32, Arrays]]) -> tuple[F32, Arrays]:
    """Features of a set of windows, from its caches (made first where missing).

    Args:
        main: the main cache (window features and the set's arrays).
        pros: the prosody cache; read and made only with ``prosody``.
        prosody: append the prosody statistics as the last columns.
        make: returns the set's windows (B, L) and the arrays stored beside ``x`` in ``main``.

    Returns:
        ``(x, arrays)``: float32 features (B, D) and the main cache's other arrays.
    """
    if not main.exists() or (prosody and not pros.exists()):
        windows, arrays = make()
        if not main.exists():
            atomic_write_npz(main, x=window_features(windows), **arrays)
        if prosody and not pros.exists():
            atomic_write_npz(pros, p=prosody_stats(windows))
    with np.load(main) as z:
        stored = {k: z[k] for k in z.files}
    x = stored.pop("x").astype(np.float32)
    if prosody:
        with np.load(pros) as z:
            x = np.concatenate([x, z["p"].astype(np.float32)], axis=1)
    return x, stored
