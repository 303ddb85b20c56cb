"""The ``blend`` detector: BlendNet on aligned face crops, with its boundary map as evidence.

Runs the shipped ONNX export with onnxruntime when it is installed (the fast CPU path) and falls
back to torch with the shipped fp16 state dict otherwise (``backend="torch"`` forces that).
Export and packing helpers (:func:`export_onnx`, :func:`pack_state`) are used by the recipe.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.inference import onnx_session
from doppelab.core.storage import atomic_write_bytes
from doppelab.detect.base import FaceBatch, Level, Output, output, register, sigmoid
from doppelab.detect.blendnet import INPUT, to_input
from doppelab.detect.shipped import BLEND_ONNX, BLEND_STATE, read_npz, weights_path


def _resize_batch(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if crops.shape[1:3] == (INPUT, INPUT):
        return crops
    import cv2

    return np.stack([cv2.resize(c, (INPUT, INPUT), interpolation=cv2.INTER_AREA) for c in crops])


@register("blend")
@dataclass
class BlendDetector:
    """Self-blend seam CNN. ``backend``: "auto" (onnxruntime if importable), "onnx" or "torch";
    ``threads``: CPU threads for inference; ``onnx_path``/``state_path`` override the shipped
    files; ``batch``: faces per inference call."""

    name: ClassVar[str] = "blend"
    level: ClassVar[Level] = "face"
    backend: str = "auto"
    threads: int = 1
    onnx_path: str | Path | None = None
    state_path: str | Path | None = None
    batch: int = 32
    _run: Any = field(init=False, default=None, repr=False)
    used: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "onnx", "torch"):
            raise UsageError(f"backend must be auto, onnx or torch, not {self.backend!r}")
        if self.backend in ("auto", "onnx"):
            try:
                self._run = self._onnx_runner()
                self.used = "onnxruntime"
                return
            except ImportError:
                if self.backend == "onnx":
                    raise UsageError("onnxruntime is not installed") from None
        self._run = self._torch_runner()
        self.used = "torch"

    def _onnx_runner(self) -> Any:
        sess = onnx_session(weights_path(BLEND_ONNX, self.onnx_path), threads=self.threads)
        return lambda x: tuple(sess.run(None, {"x": x}))

    def _torch_runner(self) -> Any:
        import torch

        model = load_state(read_npz(BLEND_STATE, self.state_path))
        torch.set_num_threads(self.threads)

        def run(x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
            with torch.no_grad():
                logit, bmap = model(torch.from_numpy(x))
            return logit.numpy(), bmap.numpy()

        return run

    def forward(self, batch: FaceBatch) -> Output:
        """Logits, probabilities, 2 features (logit, mean seam) and 32 px seam heatmaps."""
        if len(batch) == 0:
            return output(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 32, 32)))
        crops = _resize_batch(batch.crops)
        logits, maps = [], []
        for s in range(0, len(crops), self.batch):
            lg, bm = self._run(to_input(crops[s : s + self.batch]))
            logits.append(lg)
            maps.append(bm)
        lg_all = np.concatenate(logits).astype(np.float32)
        heat = sigmoid(np.concatenate(maps))
        feats = np.stack([lg_all, heat.reshape(len(heat), -1).mean(axis=1)], axis=1)
        return output(lg_all, feats, heat)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.used, "input": INPUT, "threads": self.threads}


def pack_state(model: Any) -> dict[str, npt.NDArray[Any]]:
    """A BlendNet's weights as fp16 arrays (+ its config as JSON bytes) for ``np.savez``."""
    import json

    out: dict[str, npt.NDArray[Any]] = {}
    for k, v in model.state_dict().items():
        arr = v.detach().cpu().numpy()
        out[k] = arr.astype(np.float16) if arr.dtype.kind == "f" else arr
    out["__config__"] = np.frombuffer(json.dumps(model.cfg.to_dict()).encode(), np.uint8)
    return out


def load_state(arrays: dict[str, npt.NDArray[Any]]) -> Any:
    """Rebuild a BlendNet (eval mode, fp32) from :func:`pack_state` arrays."""
    import json

    import torch

    from doppelab.detect.blendnet import BlendNet, BlendNetConfig

    cfg = json.loads(bytes(arrays["__config__"]).decode())
    cfg["widths"] = tuple(cfg["widths"])
    cfg["depth"] = tuple(cfg.get("depth", (1, 1, 1, 1)))
    model = BlendNet(BlendNetConfig(**cfg))
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k != "__config__"}
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    return model.eval()


def export_onnx(model: Any, path: str | Path) -> None:
    """Export a BlendNet (eval mode) to ONNX with a dynamic batch axis (needs the onnx package)."""
    import torch

    model = model.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no extras
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(torch, model, buf)
    atomic_write_bytes(path, buf.getvalue())


def _export(torch: Any, model: Any, buf: io.BytesIO) -> None:
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, INPUT, INPUT),),
        buf,  # type: ignore[arg-type]
        dynamo=False,
        input_names=["x"],
        output_names=["logit", "boundary"],
        opset_version=17,
        dynamic_axes={"x": {0: "n"}, "logit": {0: "n"}, "boundary": {0: "n"}},
    )
