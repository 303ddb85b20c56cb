"""Access to the detector files shipped in ``doppelab/detect/weights`` (see its MODEL_CARD.md).

A detector built without an explicit path uses these; :func:`weights_path` raises a
:class:`~doppelab.core.errors.UsageError` naming the missing file (never downloads anything).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError

BLEND_ONNX = "blendnet.onnx"
BLEND_STATE = "blendnet_fp16.npz"
FREQUENCY = "frequency.npz"
TEMPORAL = "temporal.json"
FUSION = "fusion.json"


def weights_dir() -> Path:
    """The folder of the shipped files (inside the installed package)."""
    return Path(str(resources.files("doppelab.detect.weights")))


def weights_path(name: str, override: str | Path | None = None) -> Path:
    """``override`` when given, else the shipped file ``name``; raises when it is missing."""
    path = Path(override) if override is not None else weights_dir() / name
    if not path.is_file():
        raise UsageError(f"detector file missing: {path} (run `doppelab detect-train` to make it)")
    return path


def read_json(name: str, override: str | Path | None = None) -> dict[str, Any]:
    data = json.loads(weights_path(name, override).read_text())
    if not isinstance(data, dict):
        raise UsageError(f"{name} is not a JSON object")
    return data


def read_npz(name: str, override: str | Path | None = None) -> dict[str, npt.NDArray[Any]]:
    with np.load(weights_path(name, override)) as z:
        return {k: z[k] for k in z.files}
