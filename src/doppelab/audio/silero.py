"""Silero VAD's network re-laid out for fast CPU inference (same weights, same functions).

The ``silero-vad`` wheel ships the 16 kHz model as an ONNX sequence export: input ``(T, 576)``
(512 new samples of each 32 ms frame after the last 64 of the previous one), an STFT done as a
convolution (258 filters of 256 taps, stride 128), four 3-tap convolutions over the 4 STFT frames
of each row, one LSTM over the T rows and a sigmoid head. onnxruntime runs each of those
convolutions once per row, as T tiny matrix products of 4 columns, which is where three quarters
of its time went. :func:`gemm_model` builds, from the shipped file's own initializers, a graph
that computes the same functions with every convolution written as one large matrix product over
all rows: framing by reshape and slices, then ``MatMul`` with the filter bank; each 3-tap
convolution over the 4, 2 or 1 positions of a row as one ``MatMul`` with a block matrix that
holds each tap where it applies and zeros where it would read the padding; the same LSTM node
over the whole sequence. Inputs and outputs are those of the shipped model (``input``, ``h``,
``c`` -> ``speech_probs``, ``hn``, ``cn``). The probabilities agree with the shipped graph to
float32 rounding (under 1e-5 on 60 s of dev speech, identical segments; see
``tests/audio/test_fast_paths.py`` and ``bench/audio.py --speed-only``) and the run is about
three times faster. Nothing is downloaded or copied: the graph is rebuilt in memory from the
installed wheel at first use.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import CheckpointError

__all__ = ["basis_is_hann_dft", "gemm_model", "stft_magnitude"]

_ROW = 576  # 64 context + 512 new samples
_TAPS, _STEP = 256, 128  # STFT filter length and stride
_FRAMES = 4  # STFT frames per row kept by the model (the first of five is dropped)
_BINS = 129
_STRIDES = (1, 2, 2, 1)  # the four encoder convolutions
_LSTM = ("onnx::LSTM_209", "onnx::LSTM_210", "onnx::LSTM_211")


class _Graph:
    """A tiny builder: nodes and initializers with generated names."""

    def __init__(self) -> None:
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.count = 0

    def const(self, value: npt.ArrayLike) -> str:
        from onnx import numpy_helper

        self.count += 1
        name = f"k{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self.count += 1
        out = f"t{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int, step: int = 1) -> str:
        ints = [self.const(np.array([v], np.int64)) for v in (start, end, axis, step)]
        return self.op("Slice", [x, *ints])


def _weights(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a damaged wheel file
        raise CheckpointError(f"cannot read the Silero VAD model {path}: {exc}") from None
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    needed = ["stft.forward_basis_buffer", "output.weight", "output.bias", *_LSTM,
              *(f"encoder.{i}.{p}" for i in range(4) for p in ("weight", "bias"))]
    missing = [n for n in needed if n not in weights]
    if missing:
        raise CheckpointError(f"unexpected Silero VAD model (no {missing[0]}): {path}")
    return weights


def _magnitude(g: _Graph, basis: npt.NDArray[np.float32]) -> str:
    """``input (T, 576)`` -> STFT magnitude ``(T, 4, 129)`` (right edge reflect-padded)."""
    need = (_FRAMES + 1) * _STEP  # 640 samples make the 4 kept frames
    tail = g.slice("input", _ROW - 2, _ROW - 2 - (need - _ROW), 1, -1)  # reflect, edge excluded
    padded = g.op("Concat", ["input", tail], axis=1)
    blocks = g.op("Reshape", [padded, g.const(np.array([0, _FRAMES + 1, _STEP], np.int64))])
    frames = g.op("Concat", [g.slice(blocks, 0, _FRAMES, 1), g.slice(blocks, 1, _FRAMES + 1, 1)],
                  axis=2)  # (T, 4, 256): frame j = blocks j and j + 1
    spec = g.op("MatMul", [frames, g.const(np.ascontiguousarray(basis[:, 0, :].T))])
    re, im = g.slice(spec, 0, _BINS, 2), g.slice(spec, _BINS, 2 * _BINS, 2)
    power = g.op("Add", [g.op("Mul", [re, re]), g.op("Mul", [im, im])])
    return g.op("Sqrt", [power])


def _dense_conv(weight: npt.NDArray[np.float32], bias: npt.NDArray[np.float32], length: int,
                stride: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], int]:
    """A 3-tap, pad-1 convolution over ``length`` positions as one matrix on the flattened
    (position, channel) axis: tap ``k`` of output ``j`` reads input ``stride j + k - 1``, taps
    that fall on the zero padding are left out. Returns (matrix, bias per output, out length)."""
    c_out, c_in, taps = weight.shape
    out_len = (length - 1) // stride + 1
    dense = np.zeros((length, c_in, out_len, c_out), np.float32)
    for j in range(out_len):
        for k in range(taps):
            p = stride * j + k - 1
            if 0 <= p < length:
                dense[p, :, j, :] = weight[:, :, k].T
    return dense.reshape(length * c_in, out_len * c_out), np.tile(bias, out_len), out_len


@functools.lru_cache(maxsize=1)
def _periodic_hann() -> npt.NDArray[np.float32]:
    n = np.arange(_TAPS)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / _TAPS)).astype(np.float32)


def stft_magnitude(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """What the model's STFT convolution computes, by FFT: rows ``(T, 576)`` (right edge
    reflect-padded by 64 samples, edge excluded) -> magnitudes of the 4 kept 256-sample frames
    (stride 128) under a periodic Hann window, flattened. Shape: (T, 576) -> (T, 516).

    The wheel's filter bank is exactly this windowed DFT (to float32 rounding, checked by
    :func:`basis_is_hann_dft`); an FFT costs about a tenth of the 258 x 256 matrix product."""
    from scipy.fft import rfft

    need = (_FRAMES + 1) * _STEP
    padded = np.empty((len(rows), need), np.float32)
    padded[:, :_ROW] = rows
    padded[:, _ROW:] = rows[:, _ROW - 2:2 * _ROW - need - 2:-1]
    frames = np.lib.stride_tricks.sliding_window_view(padded, _TAPS, axis=1)[:, ::_STEP]
    spec = rfft(frames[:, :_FRAMES] * _periodic_hann(), axis=-1, workers=1)
    return np.abs(spec).reshape(len(rows), _FRAMES * _BINS)


def basis_is_hann_dft(path: Path, tol: float = 1e-6) -> bool:
    """Whether the model's STFT filter bank is the periodic-Hann DFT :func:`stft_magnitude`
    computes (real parts, then imaginary parts of 129 bins), within ``tol``."""
    basis = _weights(path)["stft.forward_basis_buffer"][:, 0, :].astype(np.float64)
    n = np.arange(_TAPS)
    angle = 2 * np.pi * np.arange(_BINS)[:, None] * n / _TAPS
    win = 0.5 - 0.5 * np.cos(2 * np.pi * n / _TAPS)
    want = np.concatenate([np.cos(angle) * win, -np.sin(angle) * win])
    return basis.shape == want.shape and float(np.abs(basis - want).max()) <= tol


def gemm_model(path: Path, *, magnitude_input: bool = False) -> bytes:
    """The GEMM layout (see module doc) of the Silero sequence model at ``path``, as ONNX bytes.

    ``magnitude_input`` leaves the STFT out: the graph's ``input`` is then what
    :func:`stft_magnitude` gives, ``(T, 516)``.

    Raises:
        CheckpointError: the file cannot be read or is not the expected model.
    """
    from onnx import TensorProto, helper

    w = _weights(path)
    g = _Graph()
    if magnitude_input:
        x = "input"
    else:
        mag = _magnitude(g, w["stft.forward_basis_buffer"])  # (T, 4, 129)
        x = g.op("Reshape", [mag, g.const(np.array([0, -1], np.int64))])
    length = _FRAMES
    for i, stride in enumerate(_STRIDES):
        dense, bias, length = _dense_conv(w[f"encoder.{i}.weight"], w[f"encoder.{i}.bias"],
                                          length, stride)
        x = g.op("Relu", [g.op("Add", [g.op("MatMul", [x, g.const(dense)]), g.const(bias)])])
    # (T, 128) -> (T, 1, 128) = (sequence, batch 1, features), what the shipped graph feeds
    # its LSTM
    x = g.op("Unsqueeze", [x, g.const(np.array([1], np.int64))])
    lstm_in = [x, *(g.const(w[n]) for n in _LSTM), "", "h", "c"]
    g.nodes.append(helper.make_node("LSTM", lstm_in, ["y", "hn", "cn"], hidden_size=128))
    hidden = g.op("Relu", [g.op("Reshape", ["y", g.const(np.array([-1, 128], np.int64))])])
    logit = g.op("Add", [g.op("MatMul", [hidden, g.const(w["output.weight"][0])]),
                         g.const(w["output.bias"])])
    g.nodes.append(helper.make_node("Reshape", [g.op("Sigmoid", [logit]),
                                                g.const(np.array([-1], np.int64))],
                                    ["speech_probs"]))
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, "silero_vad_gemm",  # type: ignore[arg-type]
        [helper.make_tensor_value_info("input", f32,
                                       ["T", _FRAMES * _BINS if magnitude_input else _ROW]),
         helper.make_tensor_value_info("h", f32, [1, 1, 128]),
         helper.make_tensor_value_info("c", f32, [1, 1, 128])],
        [helper.make_tensor_value_info("speech_probs", f32, ["T"]),
         helper.make_tensor_value_info("hn", f32, [1, 1, 128]),
         helper.make_tensor_value_info("cn", f32, [1, 1, 128])],
        g.inits)  # type: ignore[arg-type]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())
