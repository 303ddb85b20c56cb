"""Run an array function over consecutive blocks of its first axis.

Many feature functions are computed per row (per window, per frame) but allocate temporaries
proportional to their input; feeding them a few rows at a time keeps those temporaries in the
CPU cache. Because every output row depends only on its own input row, the blocked result is
the same as one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

__all__ = ["in_blocks"]

R = TypeVar("R")


def in_blocks(fn: Callable[[Any], R], x: Any, size: int) -> R:
    """``fn`` applied to ``x[i:i + size]`` for consecutive blocks, the results concatenated
    along the first axis (element-wise when ``fn`` returns a tuple of arrays).

    Args:
        fn: a row-wise function of an array (its first axis indexes independent rows).
        x: the input; sliced along its first axis.
        size: rows per call (>= 1). An input of at most ``size`` rows is one call of ``fn``.

    Returns:
        What ``fn(x)`` would return: an array, or a tuple of arrays.
    """
    if size < 1:
        raise ValueError(f"block size must be >= 1, got {size}")
    if len(x) <= size:
        return fn(x)
    parts: list[Any] = [fn(x[i:i + size]) for i in range(0, len(x), size)]
    if isinstance(parts[0], tuple):
        return cast(R, tuple(np.concatenate(p) for p in zip(*parts, strict=True)))
    return cast(R, np.concatenate(parts))
