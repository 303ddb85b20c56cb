"""The extraction pipeline: media in, FaceSet out (``doppelab extract``).

For each input: decode frames, track faces (BlazeFace + FaceMesh), align each face to the
template, build masks, score quality, embed identity on a subsample of each track, and commit
shards as it goes (so an interrupted run resumes where it stopped). At the end, tracks are
clustered into people, optionally filtered to the person in a reference photo, and the FaceSet's
index is written.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from doppelab.core.errors import ManyFacesError, NoFaceError, UsageError
from doppelab.core.media import DEFAULT_MAX_PIXELS, iter_frames, media_id, probe, read_image
from doppelab.core.storage import check_output_name, ensure_dir
from doppelab.core.types import Embedding, Face, Frame, FrameRef, ImageU8, MediaInfo
from doppelab.core.version import __version__
from doppelab.extract.align import AlignConfig, align
from doppelab.extract.faceset import (
    ShardBuffer,
    check_compatible,
    new_shard_name,
    read_json,
    remove_faceset,
    write_json,
)
from doppelab.extract.finalize import finalize
from doppelab.extract.identity import SAME_PERSON, IdentityEmbedder
from doppelab.extract.landmarks import FaceTracker, TrackedFace, TrackerConfig
from doppelab.extract.masks import face_mask, parts_map
from doppelab.extract.quality import QualityFilter, measure

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractConfig:
    """Settings of ``doppelab extract`` (the CLI flags map one to one)."""

    size: int = 256
    coverage: float = 0.75
    min_face: float = 32.0
    max_faces: int = 4
    every: int = 1
    workers: int = 1
    identity: Path | None = None
    identity_threshold: float = SAME_PERSON
    embed_every: int = 25
    feather: float = 0.04
    shard_faces: int = 256
    quality: QualityFilter = field(default_factory=QualityFilter)
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        AlignConfig(size=self.size, coverage=self.coverage)  # validates
        if self.every < 1 or self.workers < 1 or self.max_faces < 1 or self.min_face < 0:
            raise UsageError("--every, --workers and --max-faces must be >= 1, --min-face >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaSummary:
    """What extraction did with one input."""

    path: str
    media_id: str
    kind: str
    frames: int
    frames_with_face: int
    faces: int
    tracks: int
    dropped: dict[str, int]
    seconds: float
    resumed_from: int = 0
    processed: int = 0  # frames decoded and tracked by this run (0 when the input was finished)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractResult:
    """The outcome of :func:`extract`."""

    path: Path
    faces: int
    people: int
    media: list[MediaSummary]
    dropped: dict[str, int]
    seconds: float

    @property
    def frames(self) -> int:
        return sum(m.frames for m in self.media)

    @property
    def frames_with_face(self) -> int:
        return sum(m.frames_with_face for m in self.media)

    @property
    def processed(self) -> int:
        return sum(m.processed for m in self.media)


def single_face(
    path: Path, role: str, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[ImageU8, TrackedFace]:
    """The photo at ``path`` and its one face; ``role`` names the photo in errors
    (e.g. "reference photo"). Raises :class:`NoFaceError` or :class:`ManyFacesError`."""
    image = read_image(path, max_pixels=max_pixels)
    with FaceTracker(TrackerConfig(static=True, max_faces=8, min_face=24)) as tracker:
        faces = tracker.process(image)
    if not faces:
        raise NoFaceError(f"no face found in the {role} {path}")
    if len(faces) > 1:
        raise ManyFacesError(f"the {role} {path} shows {len(faces)} faces; crop it to one")
    return image, faces[0]


def embed_reference(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Embedding:
    """Identity embedding of the one face in a reference photo."""
    image, face = single_face(path, "reference photo", max_pixels)
    return IdentityEmbedder().embed(image, face.landmarks)


def _journal(root: Path, mid: str) -> dict[str, Any]:
    path = root / "journal" / f"{mid}.json"
    return read_json(path) if path.exists() else {}


def _new_job(path: Path, mid: str, kind: str) -> dict[str, Any]:
    return {
        "path": str(path),
        "media_id": mid,
        "kind": kind,
        "next_frame": 0,
        "next_track": 0,
        "done": False,
        "shards": [],
        "stats": {"frames": 0, "frames_with_face": 0, "faces": 0, "dropped": {}},
    }


@dataclass(slots=True)
class _FaceMaker:
    """Per-face work after landmarks (align, masks, quality, identity): runs on a second thread
    so it overlaps with decoding and FaceMesh on the first (both release the GIL in C++)."""

    cfg: ExtractConfig
    static: bool
    base: int
    seen: Counter[int] = field(default_factory=Counter)
    n_static: int = 0
    embedder: IdentityEmbedder | None = None

    def warm_up(self) -> None:
        """Load the identity model (on the worker thread, while the tracker starts)."""
        if self.embedder is None:
            self.embedder = IdentityEmbedder()

    def __call__(self, frame: Frame, found: list[TrackedFace]) -> list[tuple[Any, ...]]:
        acfg = AlignConfig(size=self.cfg.size, coverage=self.cfg.coverage)
        out: list[tuple[Any, ...]] = []
        for tf in found:
            track = self.base + (self.n_static if self.static else tf.track_id)
            self.n_static += 1
            crop, m, lm_crop = align(frame.image, tf.landmarks, acfg)
            quality = measure(crop, tf.landmarks, tf.bbox)
            why = self.cfg.quality.reason(quality)
            if why:
                out.append((why,))
                continue
            face = Face(
                source=frame.ref,
                bbox=tf.bbox,
                landmarks=tf.landmarks,
                crop_from_frame=m,
                crop=crop,
                quality=quality,
                track_id=track,
                mask=face_mask(lm_crop, self.cfg.size, self.cfg.feather),
            )
            sample = None
            if self.seen[track] % self.cfg.embed_every == 0:
                self.warm_up()
                assert self.embedder is not None
                sample = self.embedder.embed(frame.image, tf.landmarks)
            self.seen[track] += 1
            out.append((face, parts_map(lm_crop, self.cfg.size), sample))
        return out

    @property
    def next_track(self) -> int:
        return max(self.seen) + 1 if self.seen else self.base


Pending = deque[tuple[FrameRef, bool, "Future[list[tuple[Any, ...]]]"]]


@dataclass(slots=True)
class _MediaRun:
    """One input being extracted: tracking on this thread, face work on a second one, shards
    committed (with the journal) every ``shard_faces`` faces at a frame boundary."""

    path: Path
    root: Path
    cfg: ExtractConfig
    job: dict[str, Any]
    static: bool
    progress: Progress | None
    buf: ShardBuffer = field(default_factory=ShardBuffer)
    pending: Pending = field(default_factory=deque)
    dropped: Counter[str] = field(default_factory=Counter)
    maker: _FaceMaker | None = None

    def run(self) -> int:
        """Process the remaining frames; returns how many this run processed."""
        stats = self.job["stats"]
        before = int(stats["frames"])
        self.dropped.update(stats["dropped"])
        self.maker = _FaceMaker(self.cfg, self.static, int(self.job["next_track"]))
        tcfg = TrackerConfig(
            max_faces=self.cfg.max_faces, min_face=self.cfg.min_face, static=self.static
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(self.maker.warm_up)
            with FaceTracker(tcfg) as tracker:
                for frame in iter_frames(
                    self.path,
                    every=self.cfg.every,
                    start=int(self.job["next_frame"]),
                    max_pixels=self.cfg.max_pixels,
                ):
                    found = tracker.process(frame.image)
                    fut = pool.submit(self.maker, frame, found)
                    self.pending.append((frame.ref, bool(found), fut))
                    self.drain(4)
            self.drain(0)
        self.job["done"] = True
        self.commit(None)
        return int(stats["frames"]) - before

    def drain(self, limit: int) -> None:
        """Collect finished frames (in order) until at most ``limit`` are in flight."""
        assert self.maker is not None
        stats = self.job["stats"]
        while len(self.pending) > limit:
            ref, had_face, fut = self.pending.popleft()
            stats["frames"] += 1
            stats["frames_with_face"] += had_face
            for item in fut.result():
                if len(item) == 1:
                    self.dropped[item[0]] += 1
                else:
                    self.buf.add(*item)
            if self.progress:
                self.progress(1)
            self.job["next_track"] = self.maker.next_track
            if len(self.buf) >= self.cfg.shard_faces:
                self.commit(ref)

    def commit(self, last: FrameRef | None) -> None:
        """Write the buffered faces as a shard, then the journal (atomic, in that order)."""
        stats = self.job["stats"]
        stats["faces"] += len(self.buf)
        stats["dropped"] = dict(self.dropped)
        if len(self.buf):
            self.job["shards"].append(
                self.buf.commit(self.root, new_shard_name(self.job["media_id"]))
            )
        if last is not None:
            self.job["next_frame"] = last.index + 1
        write_json(self.root / "journal" / f"{self.job['media_id']}.json", self.job)


def _extract_media(
    path: Path, info: MediaInfo, root: Path, cfg: ExtractConfig, progress: Progress | None = None
) -> MediaSummary:
    """Process one input into committed shards, resuming from its journal."""
    t0 = time.perf_counter()
    mid = media_id(path)
    job = _journal(root, mid) or _new_job(path, mid, info.kind)
    resumed = int(job["next_frame"])
    processed = 0
    if not job["done"]:
        static = info.kind == "image" or path.is_dir()
        processed = _MediaRun(path, root, cfg, job, static, progress).run()
    return _summary(job, time.perf_counter() - t0, resumed, processed)


def _summary(job: dict[str, Any], seconds: float, resumed: int, processed: int) -> MediaSummary:
    s = job["stats"]
    tracks = int(job["next_track"])
    return MediaSummary(
        path=job["path"],
        media_id=job["media_id"],
        kind=job["kind"],
        frames=s["frames"],
        frames_with_face=s["frames_with_face"],
        faces=s["faces"],
        tracks=tracks,
        dropped=dict(s["dropped"]),
        seconds=seconds,
        resumed_from=resumed,
        processed=processed,
    )


def _run_one(args: tuple[Path, MediaInfo, Path, ExtractConfig]) -> MediaSummary:
    return _extract_media(*args)


def _run_jobs(
    jobs: list[tuple[Path, MediaInfo, Path, ExtractConfig]], workers: int,
    progress: Progress | None,
) -> list[MediaSummary]:
    """Process every input, in parallel processes when ``workers`` > 1."""
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: MediaPipe's and torch's threads do not survive a fork
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            summaries = []
            for s in pool.map(_run_one, jobs):
                summaries.append(s)
                if progress:
                    progress(s.frames)
        return summaries
    return [_extract_media(*job, progress=progress) for job in jobs]


def _has_shards(root: Path) -> bool:
    """Whether a committed shard of faces exists under ``root``."""
    shards = root / "shards"
    return shards.is_dir() and any(not p.name.startswith(".") for p in shards.iterdir())


def extract(
    inputs: Sequence[str | Path],
    output: str | Path,
    config: ExtractConfig | None = None,
    *,
    progress: Progress | None = None,
) -> ExtractResult:
    """Extract every face of ``inputs`` (images, image folders, videos) into the FaceSet ``output``.

    Re-running with the same output resumes: finished inputs and frames are skipped.
    Raises :class:`NoFaceError` (and removes the output it created) when no face was kept. Any
    other failure (a corrupt input, an interrupt) also removes an output this call created while
    no shard of faces is committed in it; committed shards are kept for the re-run to resume.
    """
    cfg = config or ExtractConfig()
    t0 = time.perf_counter()
    if not inputs:
        raise UsageError("no input given")
    paths = [Path(p) for p in inputs]
    infos = [probe(p, max_pixels=cfg.max_pixels) for p in paths]  # fail fast on bad input
    reference = embed_reference(cfg.identity, cfg.max_pixels) if cfg.identity else None
    root = Path(output)
    check_output_name(root)
    created = not root.exists()
    meta_config = {
        "size": cfg.size,
        "coverage": cfg.coverage,
        "feather": cfg.feather,
        "template": "doppelab mean face v1",
        "version": __version__,
    }
    check_compatible(root, meta_config)
    ensure_dir(root / "journal")
    jobs = [(p, i, root, cfg) for p, i in zip(paths, infos, strict=True)]
    try:
        summaries = _run_jobs(jobs, cfg.workers, progress)
        faces, people = finalize(
            root,
            meta_config,
            reference,
            cfg.identity_threshold,
            {"quality_filter": asdict(cfg.quality)},
        )
    except BaseException:
        if created and not _has_shards(root):  # nothing a re-run could resume from
            remove_faceset(root)
        raise
    dropped: Counter[str] = Counter()
    for s in summaries:
        dropped.update(s.dropped)
    if faces == 0:
        if created:
            remove_faceset(root)
        raise NoFaceError(_nothing_message(summaries, cfg, reference is not None))
    return ExtractResult(
        path=root,
        faces=faces,
        people=people,
        media=summaries,
        dropped=dict(dropped),
        seconds=time.perf_counter() - t0,
    )


def _nothing_message(summaries: list[MediaSummary], cfg: ExtractConfig, ref: bool) -> str:
    frames = sum(s.frames for s in summaries)
    found = sum(s.faces for s in summaries)
    if ref and found:
        return f"no face of the reference person in {frames} frames ({found} other faces)"
    dropped = sum(sum(s.dropped.values()) for s in summaries)
    if dropped:
        return f"no face passed the quality filters in {frames} frames ({dropped} dropped)"
    return f"no face found in {frames} frames (faces under {cfg.min_face:g} px are ignored)"
