"""Temporal smoothing of landmarks: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012).

Low jitter when the face is still, little lag when it moves: the cut-off frequency rises with
the (smoothed) speed of each coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def _alpha(cutoff: npt.NDArray[np.float64] | float, dt: float) -> npt.NDArray[np.float64]:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt), dtype=np.float64)


@dataclass(slots=True)
class OneEuro:
    """One Euro filter over arrays of any fixed shape. ``min_cutoff`` in Hz (lower = smoother),
    ``beta`` speed coefficient (higher = less lag); ``strength`` 0 disables the filter."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    _x: npt.NDArray[np.float64] | None = field(default=None, init=False)
    _dx: npt.NDArray[np.float64] | None = field(default=None, init=False)
    _t: float | None = field(default=None, init=False)

    def __call__(self, x: F32, t: float) -> F32:
        """Filtered value of ``x`` observed at time ``t`` (seconds)."""
        x64 = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x64, np.zeros_like(x64), t
            return np.asarray(x, dtype=np.float32)
        dt = t - self._t
        assert self._dx is not None
        dx = (x64 - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x64 + (1 - a) * self._x
        self._t = t
        return np.asarray(self._x, dtype=np.float32)


def smoother(strength: float) -> OneEuro | None:
    """A filter for landmarks in frame pixels: ``strength`` 0 (off) to 1 (strong)."""
    if strength <= 0:
        return None
    return OneEuro(min_cutoff=max(0.3, 4.0 * (1.0 - strength) + 0.3), beta=0.02)
