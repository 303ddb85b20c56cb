"""The classic face-swap autoencoder: one shared encoder, one decoder per identity.

Designed for a 2-core CPU: 3x3 convolutions with stride 2 down, pixel-shuffle up, a dense
bottleneck at 4x4 (the "inter" layer that forces a shared, identity-free code), channels-last
memory format. Each decoder outputs the face (RGB) and a learned mask.
The ``liae`` variant (as DeepFaceLab's LIAE) adds per-identity intermediate layers.

Shape: input ``(B, 3, R, R)`` float in [0, 1]; outputs ``rgb (B, 3, R, R)``, ``mask (B, 1, R, R)``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """Architecture. ``resolution`` 64-256 (power of two), ``width`` base channel count,
    ``code`` bottleneck size."""

    resolution: int = 64
    width: int = 32
    code: int = 256
    variant: str = "df"  # "df" (shared encoder+inter) or "liae"

    def __post_init__(self) -> None:
        if self.resolution not in (64, 128, 256):
            raise ValueError("resolution must be 64, 128 or 256")
        if self.variant not in ("df", "liae"):
            raise ValueError("variant must be df or liae")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _down(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.1, inplace=True))


def icnr_(conv: nn.Conv2d, scale: int = 2) -> nn.Conv2d:
    """ICNR initialisation (Aitken et al. 2017): the ``scale**2`` sub-pixel kernels start equal,
    so a pixel-shuffle layer starts as nearest-neighbour upsampling, without checkerboards."""
    out_ch = conv.out_channels // scale**2
    base = torch.empty(out_ch, conv.in_channels, *conv.kernel_size)
    nn.init.kaiming_uniform_(base, a=0.1)
    with torch.no_grad():
        conv.weight.copy_(base.repeat_interleave(scale**2, dim=0))
    return conv


def _up(cin: int, cout: int) -> nn.Module:
    conv = icnr_(nn.Conv2d(cin, cout * 4, 3, 1, 1))
    return nn.Sequential(conv, nn.LeakyReLU(0.1, inplace=True), nn.PixelShuffle(2))


class Encoder(nn.Module):
    """Strided convolutions from R down to 4x4, then the dense bottleneck."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        n_down = cfg.resolution.bit_length() - 3  # R -> 4
        chans = [3] + [min(cfg.width * 2**i, 8 * cfg.width) for i in range(n_down)]
        self.convs = nn.Sequential(*[_down(a, b) for a, b in itertools.pairwise(chans)])
        self.flat = chans[-1] * 16
        self.dense = nn.Linear(self.flat, cfg.code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.flatten(self.convs(x), 1))


class Inter(nn.Module):
    """Code -> 4x4 feature map (shared in ``df``, per identity in ``liae``)."""

    def __init__(self, cfg: ModelConfig, cin: int) -> None:
        super().__init__()
        self.ch = 8 * cfg.width
        self.dense = nn.Linear(cin, self.ch * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.dense(z).view(-1, self.ch, 4, 4)


class Decoder(nn.Module):
    """4x4 features -> face and mask at full resolution. The last doubling is a sub-pixel
    convolution straight to RGB + mask (the costliest full-resolution layer is skipped)."""

    def __init__(self, cfg: ModelConfig, cin: int) -> None:
        super().__init__()
        n_up = cfg.resolution.bit_length() - 4  # 4 -> R/2
        chans = [cin] + [max(8 * cfg.width // 2**i, cfg.width // 2) for i in range(1, n_up + 1)]
        self.ups = nn.Sequential(*[_up(a, b) for a, b in itertools.pairwise(chans)])
        self.out = nn.Sequential(icnr_(nn.Conv2d(chans[-1], 4 * 4, 3, 1, 1)), nn.PixelShuffle(2))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.out(self.ups(h))
        return torch.sigmoid(f[:, :3]), torch.sigmoid(f[:, 3:])


class FaceSwapAE(nn.Module):
    """Shared encoder (+ inter), decoders ``a`` and ``b``. ``forward(x, who)`` decodes with
    identity ``who`` ("a" or "b")."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        if cfg.variant == "df":
            self.inter = nn.ModuleDict({"shared": Inter(cfg, cfg.code)})
            dec_in = 8 * cfg.width
        else:  # liae: shared inter plus one per identity, concatenated
            self.inter = nn.ModuleDict({k: Inter(cfg, cfg.code) for k in ("shared", "a", "b")})
            dec_in = 16 * cfg.width
        self.decoders = nn.ModuleDict({"a": Decoder(cfg, dec_in), "b": Decoder(cfg, dec_in)})

    def code(self, x: torch.Tensor, who: str) -> torch.Tensor:
        z = self.encoder(x)
        h = self.inter["shared"](z)
        if self.cfg.variant == "liae":
            h = torch.cat([h, self.inter[who](z)], dim=1)
        return h

    def forward(self, x: torch.Tensor, who: str) -> tuple[torch.Tensor, torch.Tensor]:
        # liae: the code comes from the target's own inter, decoded by `who`'s decoder
        return self.decoders[who](self.code(x, who))


class PatchDiscriminator(nn.Module):
    """A small PatchGAN: one real/fake logit per ~16 px patch."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width * 2, width * 4, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width * 4, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
