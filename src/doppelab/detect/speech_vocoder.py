"""A small MelGAN-like neural vocoder, trained here on real speech, that makes the ``melgan`` fakes.

Generator: log-mel (80 bands, hop 256 at 16 kHz) -> conv -> three transposed-convolution
upsamplers (x8, x8, x4), each followed by a residual stack with dilations 1, 3, 9 -> tanh
waveform (about 0.3 M parameters). It is trained with a multi-resolution STFT loss (spectral
convergence + log magnitude at three resolutions) plus a mel L1 loss, no adversarial term: that
keeps CPU training stable in a bounded time; the output carries the typical upsampling and
phase artefacts of a neural vocoder, which is what the detector must learn to hear.

The vocoder is a training-data tool only (it is never shipped): :func:`train_vocoder` writes
checkpoints atomically and resumes from them; :func:`vocode` re-synthesises a waveform.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from doppelab.audio.decode import SamplesF32
from doppelab.audio.mel import mel_filterbank
from doppelab.core.errors import CheckpointError
from doppelab.core.storage import atomic_path

__all__ = ["MelGenerator", "VocoderConfig", "load_vocoder", "log_mel", "train_vocoder", "vocode"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VocoderConfig:
    """Generator and training settings."""

    n_mels: int = 80
    n_fft: int = 1024
    hop: int = 256
    channels: int = 128
    upsample: tuple[int, ...] = (8, 8, 4)
    segment: int = 8192
    batch: int = 8
    lr: float = 2e-4
    seed: int = 0


def log_mel(wave: torch.Tensor, cfg: VocoderConfig, fb: torch.Tensor) -> torch.Tensor:
    """Shape: (B, T) -> (B, n_mels, T // hop + 1) natural-log mel magnitudes."""
    spec = torch.stft(wave, cfg.n_fft, cfg.hop, window=torch.hann_window(cfg.n_fft),
                      return_complex=True).abs()
    return torch.log(torch.clamp(fb @ spec, min=1e-5))


class _ResStack(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(ch, ch, 3, dilation=d, padding=d) for d in (1, 3, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, 0.2))
        return x


class MelGenerator(nn.Module):
    """Log-mel (B, n_mels, F) -> waveform (B, F * prod(upsample))."""

    def __init__(self, cfg: VocoderConfig) -> None:
        super().__init__()
        ch = cfg.channels
        self.pre = nn.Conv1d(cfg.n_mels, ch, 7, padding=3)
        ups: list[nn.Module] = []
        for rate in cfg.upsample:
            ups += [nn.LeakyReLU(0.2),
                    nn.ConvTranspose1d(ch, ch // 2, 2 * rate, rate, padding=rate // 2),
                    _ResStack(ch // 2)]
            ch //= 2
        self.body = nn.Sequential(*ups)
        self.post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.body(self.pre(mel))
        return torch.tanh(self.post(F.leaky_relu(x, 0.2))).squeeze(1)


def _stft_loss(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = y.new_zeros(())
    for n_fft, hop in ((512, 128), (1024, 256), (256, 64)):
        win = torch.hann_window(n_fft)
        a = torch.stft(y, n_fft, hop, window=win, return_complex=True).abs() + 1e-6
        b = torch.stft(target, n_fft, hop, window=win, return_complex=True).abs() + 1e-6
        loss = loss + torch.norm(b - a) / torch.norm(b) + F.l1_loss(torch.log(a), torch.log(b))
    return loss


def _batch(waves: list[SamplesF32], cfg: VocoderConfig, rng: np.random.Generator) -> torch.Tensor:
    rows = []
    for _ in range(cfg.batch):
        w = waves[int(rng.integers(len(waves)))]
        start = int(rng.integers(0, max(1, len(w) - cfg.segment)))
        seg = w[start:start + cfg.segment]
        rows.append(np.pad(seg, (0, cfg.segment - len(seg))))
    return torch.from_numpy(np.stack(rows).astype(np.float32))


def _save(path: Path, model: MelGenerator, opt: torch.optim.Optimizer, step: int,
          cfg: VocoderConfig) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "config": asdict(cfg)}, tmp)


def train_vocoder(waves: list[SamplesF32], checkpoint: Path, *, minutes: float,
                  cfg: VocoderConfig | None = None, save_every_s: float = 120.0) -> int:
    """Train (or resume) the generator on 16 kHz real speech for ``minutes`` of wall time.

    Returns the total number of steps done; the checkpoint holds model, optimiser and step.
    """
    cfg = cfg or VocoderConfig()
    torch.manual_seed(cfg.seed)
    model = MelGenerator(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99))
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = int(state["step"])
    fb = torch.from_numpy(mel_filterbank(cfg.n_mels, cfg.n_fft).astype(np.float32))
    rng = np.random.default_rng(cfg.seed + step)
    waves = [w for w in waves if len(w) >= cfg.segment // 2]
    end = time.monotonic() + 60 * minutes
    last_save = time.monotonic()
    while time.monotonic() < end:
        target = _batch(waves, cfg, rng)
        mel = log_mel(target, cfg, fb)
        y = model(mel)[:, : target.shape[1]]
        loss = _stft_loss(y, target) + F.l1_loss(log_mel(y, cfg, fb), mel)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            _log.info("vocoder step %d loss %.4f", step, float(loss))
        if time.monotonic() - last_save > save_every_s:
            _save(checkpoint, model, opt, step, cfg)
            last_save = time.monotonic()
    _save(checkpoint, model, opt, step, cfg)
    return step


def load_vocoder(checkpoint: Path) -> tuple[MelGenerator, VocoderConfig]:
    """The trained generator (eval mode) and its config."""
    if not checkpoint.is_file():
        raise CheckpointError(f"no vocoder checkpoint at {checkpoint}")
    state = torch.load(checkpoint, map_location="cpu")
    raw = dict(state["config"])
    raw["upsample"] = tuple(raw["upsample"])
    cfg = VocoderConfig(**raw)
    model = MelGenerator(cfg)
    model.load_state_dict(state["model"])
    return model.eval(), cfg


def vocode(x: SamplesF32, model: MelGenerator, cfg: VocoderConfig) -> SamplesF32:
    """Re-synthesise ``x`` (16 kHz) through mel -> generator. Shape: (N,) -> (N,)."""
    fb = torch.from_numpy(mel_filterbank(cfg.n_mels, cfg.n_fft).astype(np.float32))
    with torch.no_grad():
        wave = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
        y = model(log_mel(wave, cfg, fb))[0, : len(x)]
    out = y.numpy().astype(np.float32)
    return np.pad(out, (0, len(x) - len(out)))
