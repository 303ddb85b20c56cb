"""Small neural vocoders, trained here on real speech, that make the ``melgan`` and ``istft`` fakes.

Two generator architectures (``VocoderConfig.arch``), the two ways today's neural TTS turns a
spectrogram into sound:

* ``melgan`` (:class:`MelGenerator`): log-mel (80 bands, hop 256 at 16 kHz) -> conv -> three
  transposed-convolution upsamplers (x8, x8, x4), each followed by a residual stack with
  dilations 1, 3, 9 -> tanh waveform (about 0.3 M parameters): the time-domain upsampling of
  MelGAN / HiFi-GAN;
* ``istft`` (:class:`ISTFTGenerator`): log-mel -> ConvNeXt blocks at the frame rate -> a linear
  head that predicts, per STFT bin, a log magnitude and a phase angle -> inverse STFT (1024
  points, hop 256): no upsampling at all, the frame-rate design of Vocos / iSTFTNet-style
  vocoders. Its traces differ from MelGAN's (no transposed-convolution checkerboard; phase
  predicted per frame and overlap-added).

Both are trained the same way: a multi-resolution STFT loss (spectral convergence + log
magnitude at three resolutions) plus a mel L1 loss, no adversarial term: that keeps CPU training
stable in a bounded time; the output carries the upsampling and phase artefacts of a neural
vocoder, which is what the detector must learn to hear.

The vocoders are training-data tools only (never shipped): :func:`train_vocoder` writes
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

__all__ = ["NEURAL_FAMILIES", "ISTFTGenerator", "MelGenerator", "VocoderConfig", "load_vocoder",
           "log_mel", "make_generator", "train_vocoder", "vocode"]

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
    arch: str = "melgan"  # "melgan" (time-domain upsampling) or "istft" (frame-rate + iSTFT)
    blocks: int = 6  # istft: ConvNeXt blocks of ``channels`` width


# The fake families made by a vocoder of this module: family -> (checkpoint name in the recipe's
# work folder, generator settings). istft uses 100 mel bands (melgan 80), so the two also differ
# in their input.
NEURAL_FAMILIES: dict[str, tuple[str, VocoderConfig]] = {
    "melgan": ("vocoder.pt", VocoderConfig()),
    "istft": ("vocoder-istft.pt", VocoderConfig(arch="istft", channels=192, blocks=6, n_mels=100)),
}


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


class _ConvNeXt(nn.Module):
    """Depth-wise conv 7, layer norm, point-wise 3x expansion with GELU, layer-scaled residual."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.dw = nn.Conv1d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.LayerNorm(ch)
        self.pw1 = nn.Linear(ch, 3 * ch)
        self.pw2 = nn.Linear(3 * ch, ch)
        self.scale = nn.Parameter(torch.full((ch,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dw(x).transpose(1, 2))
        h = self.pw2(F.gelu(self.pw1(h))) * self.scale
        return x + h.transpose(1, 2)


class ISTFTGenerator(nn.Module):
    """Log-mel (B, n_mels, F) -> waveform (B, (F - 1) * hop): per-frame magnitude and phase,
    then the inverse STFT (``n_fft``, ``hop``, Hann, centred frames)."""

    def __init__(self, cfg: VocoderConfig) -> None:
        super().__init__()
        ch = cfg.channels
        self.n_fft, self.hop = cfg.n_fft, cfg.hop
        self.pre = nn.Conv1d(cfg.n_mels, ch, 7, padding=3)
        self.norm_in = nn.LayerNorm(ch)
        self.blocks = nn.Sequential(*(_ConvNeXt(ch) for _ in range(cfg.blocks)))
        self.norm_out = nn.LayerNorm(ch)
        self.head = nn.Linear(ch, 2 * (cfg.n_fft // 2 + 1))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm_in(self.pre(mel).transpose(1, 2)).transpose(1, 2)
        x = self.norm_out(self.blocks(x).transpose(1, 2))
        log_mag, angle = self.head(x).transpose(1, 2).chunk(2, dim=1)
        mag = torch.exp(torch.clamp(log_mag, max=6.0))
        spec = torch.polar(mag, angle)
        return torch.istft(spec, self.n_fft, self.hop, window=torch.hann_window(self.n_fft))


def make_generator(cfg: VocoderConfig) -> nn.Module:
    """The generator that ``cfg.arch`` names.

    Raises:
        CheckpointError: an unknown architecture (e.g. a checkpoint from a newer version).
    """
    if cfg.arch == "melgan":
        return MelGenerator(cfg)
    if cfg.arch == "istft":
        return ISTFTGenerator(cfg)
    raise CheckpointError(f"unknown vocoder architecture {cfg.arch!r}; known: melgan, istft")


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


def _save(path: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int,
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
    model = make_generator(cfg)
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
            _log.info("vocoder step %d loss %.4f", step, loss.item())
        if time.monotonic() - last_save > save_every_s:
            _save(checkpoint, model, opt, step, cfg)
            last_save = time.monotonic()
    _save(checkpoint, model, opt, step, cfg)
    return step


def load_vocoder(checkpoint: Path) -> tuple[nn.Module, VocoderConfig]:
    """The trained generator (eval mode) and its config."""
    if not checkpoint.is_file():
        raise CheckpointError(f"no vocoder checkpoint at {checkpoint}")
    state = torch.load(checkpoint, map_location="cpu")
    raw = dict(state["config"])
    raw["upsample"] = tuple(raw["upsample"])
    cfg = VocoderConfig(**raw)
    model = make_generator(cfg)
    model.load_state_dict(state["model"])
    return model.eval(), cfg


def vocode(x: SamplesF32, model: nn.Module, cfg: VocoderConfig) -> SamplesF32:
    """Re-synthesise ``x`` (16 kHz) through mel -> generator. Shape: (N,) -> (N,)."""
    fb = torch.from_numpy(mel_filterbank(cfg.n_mels, cfg.n_fft).astype(np.float32))
    with torch.no_grad():
        wave = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
        y = model(log_mel(wave, cfg, fb))[0, : len(x)]
    out = y.numpy().astype(np.float32)
    return np.pad(out, (0, len(x) - len(out)))
