"""The trained autoencoder as a swap method: encode the target face, decode with the source
identity's decoder; the decoder's learned mask says where the face is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from doppelab.core.errors import CheckpointError
from doppelab.core.types import Embedding
from doppelab.swap.autoencoder import checkpoint
from doppelab.swap.autoencoder.model import FaceSwapAE, ModelConfig
from doppelab.swap.methods import SwapOutput, TargetFace, register


def read_config(model_dir: Path) -> dict[str, object]:
    path = model_dir / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{model_dir} is not a doppelab model ({exc})") from exc
    if cfg.get("format") != "doppelab.model" or cfg.get("method") != "autoencoder":
        raise CheckpointError(f"{model_dir} is not a doppelab autoencoder model")
    return dict(cfg)


@register("autoencoder")
@dataclass(slots=True)
class AutoencoderMethod:
    """``source`` identity ("a" or "b") is put into faces of the other one (the target)."""

    model: Path
    source: str = "a"
    name: str = "autoencoder"
    crop_size: int = field(init=False, default=64)
    coverage: float = field(init=False, default=0.75)
    model_hash: str = field(init=False, default="")
    source_identity: Embedding | None = field(init=False, default=None)
    target_identity: Embedding | None = field(init=False, default=None)
    _net: FaceSwapAE | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        model_dir = Path(self.model)
        cfg = read_config(model_dir)
        # the weights file carries its own hash (config.json's copy is informational: a run
        # killed between the two writes must not make a complete model unloadable)
        state = checkpoint.load(model_dir / "weights.pt")
        digest = checkpoint.digest_of(model_dir / "weights.pt")
        mcfg = ModelConfig(**state["model_config"])
        net = FaceSwapAE(mcfg)
        net.load_state_dict(state["model"])
        self._net = net.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.crop_size, self.coverage = mcfg.resolution, float(cfg["coverage"])  # type: ignore[arg-type]
        self.model_hash = f"sha256:{digest}"
        ids = cfg["identities"]
        other = "b" if self.source == "a" else "a"
        self.source_identity = np.asarray(ids[self.source]["embedding"], np.float32)  # type: ignore[index]
        self.target_identity = np.asarray(ids[other]["embedding"], np.float32)  # type: ignore[index]

    @torch.no_grad()
    def swap(self, face: TargetFace) -> SwapOutput:
        assert self._net is not None
        x = torch.from_numpy(face.crop).permute(2, 0, 1)[None].float().div(255)
        rgb, mask = self._net(x.contiguous(memory_format=torch.channels_last), self.source)
        crop = (rgb[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        return SwapOutput(
            crop=np.ascontiguousarray(crop), mask=mask[0, 0].numpy().astype(np.float32)
        )
