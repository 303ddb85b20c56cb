"""The only way a creation result is written: watermark, atomic write, signed manifest, registry.

``label_image`` and ``label_video`` always do all three steps; there is no switch to skip one.
The signing keys are loaded first, so a lab without keys fails before any work with
:class:`~doppelab.core.errors.KeysMissingError` ("run `doppelab keys init`"). The output appears
at its final path only once it is watermarked and signed and its fingerprints are recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from doppelab.core.errors import UsageError
from doppelab.core.media import VideoWriter, write_image
from doppelab.core.media_write import conform_frame
from doppelab.core.storage import atomic_path
from doppelab.core.types import ImageU8
from doppelab.provenance import watermark
from doppelab.provenance.fingerprint import Registry, RegistryEntry, fingerprints, now_iso
from doppelab.provenance.keys import LabKeys, load_keys
from doppelab.provenance.manifest import (
    MIME_TYPES,
    Ingredient,
    build_manifest,
    sha256_file,
    sign_file,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov")
KEYFRAME_SECONDS = 1.0
MAX_KEYFRAMES = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelResult:
    """What was written: the file, its watermark payload ID and the manifest's SHA-256."""

    path: Path
    payload_id: int
    manifest_sha256: str
    frames: int


def _ingredients(sources: Mapping[str, str | os.PathLike[str]] | None) -> list[Ingredient]:
    return [Ingredient(role=role, sha256=sha256_file(p)) for role, p in (sources or {}).items()]


def _check_suffix(path: Path, allowed: tuple[str, ...]) -> None:
    if path.suffix.lower() not in allowed:
        raise UsageError(f"cannot label {path.suffix or 'extension-less'} output (use one of "
                         f"{', '.join(allowed)}): {path}")


def _new_id(registry: Registry) -> int:
    for _ in range(64):
        pid = watermark.new_payload_id()
        if not registry.has(pid):
            return pid
    raise UsageError(f"registry {registry.path} is too full to draw a fresh payload id")


@dataclass(frozen=True, slots=True)
class _Job:
    keys: LabKeys
    registry: Registry
    payload_id: int


def _prepare(keys_dir: str | os.PathLike[str] | None,
             registry_path: str | os.PathLike[str] | None) -> _Job:
    keys = load_keys(keys_dir)  # first: no keys, no work
    registry = Registry(registry_path)
    return _Job(keys, registry, _new_id(registry))


def _finish(job: _Job, unsigned: Path, final: Path, tmp: Path, *, kind: str, method: str,
            model_hash: str, ingredients: list[Ingredient],
            hashes: list[tuple[int, float, object]], frames: int) -> str:
    manifest = build_manifest(title=final.name, mime=MIME_TYPES[final.suffix.lower()],
                              payload_id=job.payload_id, watermark_alg=watermark.ALGORITHM,
                              model_hash=model_hash, method=method, ingredients=ingredients)
    digest = hashlib.sha256(sign_file(unsigned, tmp, manifest, job.keys)).hexdigest()
    job.registry.add(RegistryEntry(
        payload_id=job.payload_id, kind=kind, output_name=final.name, created=now_iso(),
        method=method, model_hash=model_hash, manifest_digest=digest, frames=frames),
        hashes)  # type: ignore[arg-type]
    return digest


def _unsigned_path(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final.stem[:64]}.unsigned.", suffix=final.suffix,
                                dir=final.parent if str(final.parent) else ".")
    os.close(fd)
    return Path(name)


def label_image(image: ImageU8, path: str | os.PathLike[str], *, method: str, model_hash: str,
                sources: Mapping[str, str | os.PathLike[str]] | None = None,
                keys_dir: str | os.PathLike[str] | None = None,
                registry_path: str | os.PathLike[str] | None = None,
                quality: int = 95) -> LabelResult:
    """Watermark ``image``, write it to ``path`` (JPEG/PNG/WebP), sign it, record it.

    ``sources`` maps an ingredient role (e.g. ``source``, ``target``) to its file; only hashes
    are recorded. Shape: ``image`` is ``(H, W, 3)`` uint8 RGB.
    """
    final = Path(path)
    _check_suffix(final, IMAGE_SUFFIXES)
    ingredients = _ingredients(sources)
    job = _prepare(keys_dir, registry_path)
    marked = watermark.embed(image, job.payload_id)
    with atomic_path(final) as tmp:
        unsigned = _unsigned_path(final)
        try:
            write_image(unsigned, marked, quality=quality)
            hashes = [(0, crop, h) for crop, h in fingerprints(marked)]
            digest = _finish(job, unsigned, final, tmp, kind="image", method=method,
                             model_hash=model_hash, ingredients=ingredients,
                             hashes=hashes, frames=1)  # type: ignore[arg-type]
        finally:
            unsigned.unlink(missing_ok=True)
    return LabelResult(path=final, payload_id=job.payload_id, manifest_sha256=digest, frames=1)


def label_video(frames: Iterable[ImageU8], path: str | os.PathLike[str], *, fps: float,
                method: str, model_hash: str,
                sources: Mapping[str, str | os.PathLike[str]] | None = None,
                audio_from: str | os.PathLike[str] | None = None,
                keys_dir: str | os.PathLike[str] | None = None,
                registry_path: str | os.PathLike[str] | None = None,
                crf: int = 18) -> LabelResult:
    """Watermark every frame, encode them (H.264 MP4/MOV, audio copied from ``audio_from``),
    sign the file and record keyframe fingerprints (one per second, at most 300).

    Shape: every frame is ``(H, W, 3)`` uint8 RGB. The first frame sets the size; odd sides
    are padded to even and later frames of another size are fitted to it
    (:func:`~doppelab.core.media_write.conform_frame`), so a 513x291 video or one whose
    resolution changes midway is written (514x292, and at its first size).
    """
    final = Path(path)
    _check_suffix(final, VIDEO_SUFFIXES)
    ingredients = _ingredients(sources)
    job = _prepare(keys_dir, registry_path)
    every = max(1, round(fps * KEYFRAME_SECONDS))
    hashes: list[tuple[int, float, object]] = []
    count = 0
    with atomic_path(final) as tmp:
        unsigned = _unsigned_path(final)
        try:
            with contextlib.ExitStack() as stack:
                writer: VideoWriter | None = None
                size: tuple[int, int] | None = None
                for image in frames:
                    size = size or (int(image.shape[0]), int(image.shape[1]))
                    marked = watermark.embed(conform_frame(image, size), job.payload_id)
                    if writer is None:
                        h, w = marked.shape[:2]
                        writer = stack.enter_context(VideoWriter(
                            unsigned, fps=fps, width=w, height=h, crf=crf,
                            audio_from=None if audio_from is None else Path(audio_from)))
                    writer.write(marked)
                    if count % every == 0 and len(hashes) < 3 * MAX_KEYFRAMES:
                        hashes.extend((count, crop, hv) for crop, hv in fingerprints(marked))
                    count += 1
            if count == 0:
                raise UsageError(f"no frames to write: {final}")
            digest = _finish(job, unsigned, final, tmp, kind="video", method=method,
                             model_hash=model_hash, ingredients=ingredients, hashes=hashes,
                             frames=count)
        finally:
            unsigned.unlink(missing_ok=True)
    return LabelResult(path=final, payload_id=job.payload_id, manifest_sha256=digest,
                       frames=count)
