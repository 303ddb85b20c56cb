"""core.blocks.in_blocks: blocked evaluation equals one pass."""

import numpy as np
import pytest

from doppelab.core.blocks import in_blocks


def test_array_result_matches_one_pass_and_calls_in_blocks() -> None:
    x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    sizes: list[int] = []

    def row_norm(b: np.ndarray) -> np.ndarray:
        sizes.append(len(b))
        return np.sqrt((b**2).sum(axis=1))

    out = in_blocks(row_norm, x, 5)
    assert sizes == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(out, np.sqrt((x**2).sum(axis=1)))


def test_tuple_result_is_concatenated_element_wise() -> None:
    x = np.arange(10.0)
    a, b = in_blocks(lambda v: (v * 2, v[:, None] + 1), x, 3)
    np.testing.assert_array_equal(a, x * 2)
    np.testing.assert_array_equal(b, x[:, None] + 1)


def test_small_input_is_one_call() -> None:
    calls: list[int] = []
    in_blocks(lambda v: calls.append(len(v)) or v, np.zeros(4), 4)
    assert calls == [4]


def test_bad_size() -> None:
    with pytest.raises(ValueError, match="block size"):
        in_blocks(lambda v: v, np.zeros(3), 0)
