"""Losses of the face-swap autoencoder: masked structural dissimilarity and L1 with priority on
eyes, brows and mouth, a mask loss, and the adversarial (least-squares GAN) terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None].repeat(3, 1, 1, 1)


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM (Gaussian window 11, sigma 1.5) of images in [0, 1], ``(B, 3, H, W)``."""
    w = _gauss().to(a)
    pad = 5
    mu_a = F.conv2d(F.pad(a, [pad] * 4, mode="reflect"), w, groups=3)
    mu_b = F.conv2d(F.pad(b, [pad] * 4, mode="reflect"), w, groups=3)
    aa = F.conv2d(F.pad(a * a, [pad] * 4, mode="reflect"), w, groups=3) - mu_a**2
    bb = F.conv2d(F.pad(b * b, [pad] * 4, mode="reflect"), w, groups=3) - mu_b**2
    ab = F.conv2d(F.pad(a * b, [pad] * 4, mode="reflect"), w, groups=3) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * ab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (aa + bb + c2))


def masked_ssim(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean SSIM inside ``mask`` ``(B, 1, H, W)``."""
    m = mask.expand_as(a)
    return (ssim_map(a, b) * m).sum() / m.sum().clamp_min(1.0)


def reconstruction(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    priority: torch.Tensor,
    eye_mouth_weight: float = 3.0,
) -> torch.Tensor:
    """Masked DSSIM + L1, with L1 weighted up on eyes, brows and mouth."""
    m = (mask > 0.5).float()
    dssim = (1.0 - masked_ssim(pred * m, target * m, m)) / 2.0
    weight = m * (1.0 + (eye_mouth_weight - 1.0) * priority)
    l1 = (weight * (pred - target).abs()).sum() / (3 * weight.sum()).clamp_min(1.0)
    return 10.0 * dssim + 10.0 * l1


def mask_loss(pred_mask: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred_mask, mask)


def gan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN loss of the discriminator."""
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def gan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return ((fake_logits - 1) ** 2).mean()
