"""API-key authentication, a per-key token-bucket rate limit, and RFC 9457 problem errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PROBLEM_TYPE = "urn:doppelab:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(Exception):
    """An error answered as ``application/problem+json`` with ``status``."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {"type": PROBLEM_TYPE + self.slug, "title": self.title,
                                  "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if instance:
            out["instance"] = instance
        return out


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", "Unauthorized", detail,
                        {"WWW-Authenticate": 'Bearer realm="doppelab"'})


@dataclass(slots=True)
class RateLimiter:
    """Token bucket per key: ``per_minute`` requests a minute on average, bursts of ``burst``."""

    per_minute: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key_id: str, now: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, last = self._buckets.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / rate if rate > 0 else 60.0
