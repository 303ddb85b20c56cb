"""Throughput of training: iterations per second, FLOPs per iteration (counted by torch), and the
achieved FLOP/s against this machine's measured matmul FLOP/s (measured in the same run)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def matmul_flops(n: int = 1024, seconds: float = 0.5) -> float:
    """Measured float32 matmul FLOP/s of this machine with torch's current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return 2.0 * n**3 * count / (time.perf_counter() - t0)


def step_flops(trainer: Any) -> float:
    """FLOPs of one forward + backward of both identities (the optimiser step not counted)."""
    model = trainer.model
    with FlopCounterMode(display=False) as fc:
        for who in ("a", "b"):
            r = trainer.mcfg.resolution
            x = torch.rand(trainer.tcfg.batch, 3, r, r, generator=torch.Generator().manual_seed(0))
            rgb, mask = model(x.to(trainer.device), who)
            (rgb.mean() + mask.mean()).backward()
    model.zero_grad(set_to_none=True)
    return float(fc.get_total_flops())


@dataclass(slots=True)
class Throughput:
    peak: float
    per_step: float
    times: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, trainer: Any) -> Throughput:
        return cls(peak=matmul_flops(), per_step=step_flops(trainer), times=[time.perf_counter()])

    def tick(self) -> float:
        self.times.append(time.perf_counter())
        return self.rate()

    def rate(self) -> float:
        """Iterations per second over the last 20 steps."""
        recent = self.times[-21:]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def report(self) -> dict[str, float]:
        rate = self.rate()
        achieved = rate * self.per_step
        return {
            "it_per_s": rate,
            "flops_per_it": self.per_step,
            "achieved_flops": achieved,
            "matmul_flops": self.peak,
            "achieved_over_matmul": achieved / self.peak,
        }
