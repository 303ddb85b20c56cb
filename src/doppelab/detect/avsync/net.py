"""SyncNet-like embedding pair: lip motion and speech sound mapped to one space.

* visual encoder: ``VIS_FRAMES`` consecutive frames of lip shape (:func:`signals.lip_shape`,
  minus the clip's median shape so identity drops out; with ``lip_norm="rms"`` divided by the
  clip's own RMS lip motion, :func:`features.net_lips`) and their frame-to-frame differences ->
  MLP -> 64-d unit vector;
* audio encoder: a ``MEL_WIDTH`` x 40 log-mel window (0.2 s) centred on the middle video frame
  -> three 1-D convolutions over time -> 64-d unit vector;
* ``logit = scale * cos(v, a) + bias``: in sync or not.

Trained (:mod:`doppelab.detect.avsync.train`) with a multi-way loss over every lag in
``[-15, 15]`` frames plus other clips' audio (the right lag must win) and a binary loss (lag 0
vs shifted by at least ``MIN_NEG_SHIFT`` frames or swapped). Parameters ~0.24M; weights ship as
``weights/syncnet.npz`` (float32 arrays + the config as JSON bytes; several networks of an
ensemble are stored with prefixed names, :func:`load_members`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from doppelab.core.errors import UsageError
from doppelab.detect.avsync.signals import LIP_POINTS, N_MELS

VIS_FRAMES = 5
MEL_WIDTH = 20
LIP_DIM = 2 * len(LIP_POINTS)
WEIGHTS = Path(__file__).resolve().parent / "weights" / "syncnet.npz"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncNetConfig:
    """Widths of the two encoders and the embedding size."""

    hidden: int = 192
    channels: int = 64
    embed: int = 64
    dropout: float = 0.1
    lip_norm: str = "scale"  # "scale": fixed unit; "rms": divided by the clip's own lip motion
    lip_input: str = "both"  # "both": shapes and velocities; "velocity": velocities only
    mel_input: str = "mel"  # "mel": log-mel; "delta": log-mel and its frame-to-frame change

    def __post_init__(self) -> None:
        if self.lip_input not in ("both", "velocity") or self.mel_input not in ("mel", "delta"):
            raise UsageError(f"unknown sync network inputs {self.lip_input!r}, "
                             f"{self.mel_input!r} (both|velocity, mel|delta)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SyncNet(nn.Module):
    """Two encoders and a cosine-similarity logit (see the module docstring)."""

    def __init__(self, cfg: SyncNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SyncNetConfig()
        vin = (VIS_FRAMES - 1) * LIP_DIM + (VIS_FRAMES * LIP_DIM if cfg.lip_input == "both" else 0)
        mel_in = N_MELS * (2 if cfg.mel_input == "delta" else 1)
        self.visual = nn.Sequential(
            nn.Linear(vin, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.embed),
        )
        c = cfg.channels
        self.audio = nn.Sequential(
            nn.Conv1d(mel_in, c, 3, padding=1), nn.GELU(),
            nn.Conv1d(c, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(c, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c * ((MEL_WIDTH + 3) // 4), cfg.embed),
        )
        self.scale = nn.Parameter(torch.tensor(5.0))
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def embed_visual(self, lips: torch.Tensor) -> torch.Tensor:
        """``(N, VIS_FRAMES, LIP_DIM)`` lip shapes -> ``(N, embed)`` unit vectors."""
        diff = 4.0 * (lips[:, 1:] - lips[:, :-1]).flatten(1)
        x = torch.cat([lips.flatten(1), diff], dim=1) if self.cfg.lip_input == "both" else diff
        return F.normalize(self.visual(x), dim=1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """``(N, MEL_WIDTH, N_MELS)`` log-mel windows -> ``(N, embed)`` unit vectors."""
        if self.cfg.mel_input == "delta":
            delta = 2.0 * torch.diff(mel, dim=1, prepend=mel[:, :1])
            mel = torch.cat([mel, delta], dim=2)
        return F.normalize(self.audio(mel.transpose(1, 2)), dim=1)

    def logit(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """In-sync logit of paired embeddings (broadcasts over leading dims)."""
        return self.scale * (v * a).sum(-1) + self.bias


def save_weights(
    model: SyncNet | Sequence[SyncNet], path: Path, extra: dict[str, Any] | None = None
) -> None:
    """Write the state as float32 arrays + config/extra JSON to ``path`` (an open temp path).

    Several networks (an ensemble of seeds, see :func:`load_members`) are stored with their
    arrays prefixed ``m0.``, ``m1.``, ... and ``members`` in the metadata."""
    members = [model] if isinstance(model, SyncNet) else list(model)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for i, m in enumerate(members):
        prefix = f"m{i}." if len(members) > 1 else ""
        arrays.update({prefix + k: v.detach().cpu().numpy().astype(np.float32)
                       for k, v in m.state_dict().items()})
    meta = {"config": members[0].cfg.to_dict(), **(extra or {})}
    if len(members) > 1:
        meta["members"] = len(members)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def load_members(path: Path = WEIGHTS) -> tuple[list[SyncNet], dict[str, Any]]:
    """Every network in the shipped (or given) weights file, in eval mode, and the metadata
    (one network, or the ``members`` of an ensemble whose lag curves are averaged).

    Raises:
        UsageError: the file is missing or not a SyncNet weights file.
    """
    if not path.is_file():
        raise UsageError(f"sync network weights missing: {path}")
    try:
        with np.load(path) as z:
            arrays: dict[str, npt.NDArray[Any]] = {k: z[k] for k in z.files}
        meta = json.loads(bytes(arrays.pop("__meta__")).decode())
        count = int(meta.get("members", 1))
        members = []
        for i in range(count):
            prefix = f"m{i}." if count > 1 else ""
            model = SyncNet(SyncNetConfig(**meta["config"]))
            model.load_state_dict({k[len(prefix):]: torch.from_numpy(v)
                                   for k, v in arrays.items() if k.startswith(prefix)})
            members.append(model.eval())
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise UsageError(f"not a sync network weights file ({exc}): {path}") from None
    return members, meta

