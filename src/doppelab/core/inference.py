"""One way to open an ONNX model for CPU inference (onnxruntime), thread caps included.

Every ONNX model of the project (Silero VAD, the speech MLP, the blend CNN) is run through
:func:`onnx_session`, so the thread policy lives in one place: ``threads`` intra-op threads
(1 by default: the machines this runs on are shared, and two threads on two busy cores collapse
throughput) and one inter-op thread, on the CPU execution provider.

Example:
    >>> session = onnx_session("model.onnx")                   # doctest: +SKIP
    >>> (logits,) = session.run(None, {"features": x})          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doppelab.core.errors import CheckpointError, UsageError

__all__ = ["onnx_session"]


def onnx_session(model: str | Path | bytes, *, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model`` (a path or serialized ONNX bytes).

    Raises:
        UsageError: ``threads`` < 1.
        CheckpointError: the model file is missing or onnxruntime cannot load it.
        ImportError: onnxruntime is not installed (callers with a fallback catch it).
    """
    if threads < 1:
        raise UsageError(f"threads must be >= 1, got {threads}")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes) and not Path(model).is_file():
        raise CheckpointError(f"ONNX model not found: {model}")
    try:
        return ort.InferenceSession(source, sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        name = "<bytes>" if isinstance(model, bytes) else model
        raise CheckpointError(f"cannot load ONNX model {name}: {type(exc).__name__}") from None
