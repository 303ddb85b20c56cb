"""A layered verdict for a suspect file: C2PA manifest, invisible watermark, registry match.

Each layer reports on its own; the summary only claims what a layer established. Unmarked media
give "no provenance found" and never a claim: the watermark needs a CRC-valid payload plus sync
and agreement thresholds, and a registry match needs a PDQ distance within
:data:`~doppelab.provenance.fingerprint.MATCH_DISTANCE`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from doppelab.core.media import iter_frames, probe, read_image
from doppelab.core.types import ImageU8
from doppelab.provenance import watermark
from doppelab.provenance.fingerprint import MATCH_DISTANCE, Registry, query_hashes
from doppelab.provenance.keys import load_trust_anchor
from doppelab.provenance.manifest import MAX_IMAGE_BYTES, ManifestResult, read_manifest
from doppelab.provenance.watermark import WatermarkResult

VIDEO_SAMPLES = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryResult:
    """Registry layer: the nearest entry by PDQ distance, and whether it counts as a match."""

    matched: bool
    payload_id: int | None = None
    distance: int | None = None
    created: str | None = None
    method: str | None = None
    by_payload: bool = False  # the watermark's payload ID is a registry key


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The whole answer of ``doppelab verify``."""

    path: str
    kind: str
    manifest: ManifestResult
    watermark: WatermarkResult
    registry: RegistryResult
    summary: str

    @property
    def provenance_found(self) -> bool:
        return (self.manifest.state not in ("none", "unchecked") or self.watermark.found
                or self.registry.matched)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["provenance_found"] = self.provenance_found
        return out


def _frames(path: Path) -> tuple[str, list[ImageU8]]:
    info = probe(path)
    if info.kind == "image":
        return "image", [read_image(path)]
    total = info.frames or 0
    wanted = set(watermark.sample_indices(total, VIDEO_SAMPLES)) if total else None
    frames: list[ImageU8] = []
    for frame in iter_frames(path):
        if wanted is None or frame.ref.index in wanted:
            frames.append(frame.image)
        if wanted is None and len(frames) >= VIDEO_SAMPLES:
            break
        if wanted is not None and frame.ref.index >= max(wanted):
            break
    return "video", frames


def _registry(registry: Registry, frames: list[ImageU8], wm: WatermarkResult) -> RegistryResult:
    queries = [h for f in frames[:: max(1, len(frames) // 4)] for h in query_hashes(f)]
    nearest = registry.nearest(queries)
    if wm.found and wm.payload_id is not None:
        entry = registry.get(wm.payload_id)
        if entry is not None:
            dist = nearest.distance if nearest and nearest.entry.payload_id == entry.payload_id \
                else None
            return RegistryResult(matched=True, payload_id=entry.payload_id, distance=dist,
                                  created=entry.created, method=entry.method, by_payload=True)
    if nearest is None:
        return RegistryResult(matched=False)
    e = nearest.entry
    if nearest.distance > MATCH_DISTANCE:
        return RegistryResult(matched=False, distance=nearest.distance)
    return RegistryResult(matched=True, payload_id=e.payload_id, distance=nearest.distance,
                          created=e.created, method=e.method)


def _summary(m: ManifestResult, w: WatermarkResult, r: RegistryResult) -> str:
    parts: list[str] = []
    if m.state == "trusted":
        parts.append("signed C2PA manifest trusted by this lab's CA says AI-generated "
                     f"({m.generator or 'unknown generator'})")
    elif m.state == "valid-untrusted":
        parts.append("C2PA manifest with a valid signature from a CA this lab does not trust")
    elif m.state == "invalid":
        parts.append(f"C2PA manifest INVALID ({', '.join(m.codes) or 'unreadable'})")
    elif m.state == "unchecked":
        parts.append(f"C2PA manifest not checked: a still image over {MAX_IMAGE_BYTES >> 20} MB")
    if w.found:
        parts.append(f"doppelab watermark found (payload {w.payload_id:08x}, "
                     f"confidence {w.confidence:.2f})")
    if r.matched and r.by_payload:
        parts.append(f"registry entry {r.payload_id:08x} ({r.method}, {r.created})")
    elif r.matched:
        parts.append(f"perceptually similar (PDQ distance {r.distance}) to doppelab output "
                     f"{r.payload_id:08x} ({r.method}, {r.created}); similarity alone does not "
                     "prove this file was generated (it may be that output re-encoded, or its "
                     "source)")
    if not parts:
        return "no provenance found: no C2PA manifest, no doppelab watermark, no registry match"
    return "; ".join(parts)


def verify(path: str | os.PathLike[str], *, keys_dir: str | os.PathLike[str] | None = None,
           registry_path: str | os.PathLike[str] | None = None,
           key: str = watermark.DEFAULT_KEY) -> Verdict:
    """Check every layer of ``path`` (image or video). Raises only for unreadable input."""
    p = Path(path)
    kind, frames = _frames(p)
    manifest = read_manifest(p, load_trust_anchor(keys_dir))
    if kind == "image":
        wm = watermark.detect(frames[0], key=key)
    else:
        wm = watermark.detect_frames(frames, key=key)
    reg = _registry(Registry(registry_path), frames, wm)
    return Verdict(path=str(p), kind=kind, manifest=manifest, watermark=wm, registry=reg,
                   summary=_summary(manifest, wm, reg))
