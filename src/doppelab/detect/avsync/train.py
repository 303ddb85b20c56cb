"""Train the sync network on the ``train`` clips of the shared data set (never ``dev``).

Recipe: every step draws frames with a face and speech from the training clips; each frame's lips
are scored against its clip's audio at all 31 lags in ``[-15, 15]`` and against every audio
window of the other clips in the batch (segments of ``SEGMENT`` frames from distinct clips).
Loss = cross-entropy over those candidates (lag 0 must win: the offset task) +
binary cross-entropy of the in-sync logit (lag 0 positive; ``|lag| >= MIN_NEG_SHIFT`` and swapped
audio negative; lags of one frame are left out as near-positives). Augmentation: every clip also
played at ``--rates`` (:func:`stretch`, both streams together) and resampled to ``--fps``
(:func:`refps`), lip noise and scale, mel noise and
band masking; segments of one batch come from distinct people. ``--stop-at`` ends training early
inside the one-cycle schedule. Single thread, checkpoint every ``save_every`` steps (resumes).
The shipped settings were chosen by :mod:`doppelab.detect.avsync.cv` (see the model card).

Run (the shipped ensemble): ``python -m doppelab.detect.avsync.train --data ../shared/data --out
syncnet.npz --steps 600 --stop-at 200 --lip-norm rms --rates 0.85 1.15 --fps 20 30 --seeds 0 1
--decision ens_fps.json --decision-score drop0`` (``ens_fps.json``: the
:mod:`~doppelab.detect.avsync.cvscore` result of the matching CV runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional as F

from doppelab.audio import Segment
from doppelab.core.errors import UsageError
from doppelab.core.storage import atomic_path
from doppelab.detect.avsync.dataset import Clip, cached_face_track, default_cache, list_clips
from doppelab.detect.avsync.decide import read_decision
from doppelab.detect.avsync.features import (
    ClipFeatures,
    audio_index,
    audio_segments,
    clip_features,
    net_lips,
    visual_windows,
)
from doppelab.detect.avsync.net import MEL_WIDTH, SyncNet, SyncNetConfig, save_weights
from doppelab.detect.avsync.signals import MEL_RATE
from doppelab.detect.avsync.streams import AudioTrack, FaceTrack, read_audio

MAX_LAG = 15
SEGMENT = 24
MIN_NEG_SHIFT = 2
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    vis: torch.Tensor  # (T, VIS_FRAMES, LIP_DIM)
    mel: torch.Tensor  # (M, N_MELS)
    rows: npt.NDArray[np.float64]  # (T,) mel row of each frame's time (fractional)
    per_frame: float  # mel rows per video frame
    ok: npt.NDArray[np.bool_]  # (T,) usable as an anchor
    frames: npt.NDArray[np.int64]  # usable frames


def usable(feats: ClipFeatures, max_lag: int = MAX_LAG) -> npt.NDArray[np.bool_]:
    """Frames with a full lip window, speech and audio windows at every lag."""
    _, vok = visual_windows(feats.lips)
    _, aok = audio_index(feats, np.arange(-max_lag, max_lag + 1))
    return np.asarray(vok & feats.speech & aok.all(axis=1))


def _points_at(track: FaceTrack, pos: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The track's points linearly interpolated at fractional frame positions ``pos`` (clamped
    to the last frame)."""
    i0 = np.minimum(np.floor(pos).astype(np.int64), len(track.times) - 1)
    i1 = np.minimum(i0 + 1, len(track.times) - 1)
    w = (pos - i0)[:, None, None].astype(np.float32)
    return ((1.0 - w) * track.points[i0] + w * track.points[i1]).astype(np.float32)


def stretch(
    track: FaceTrack, audio: AudioTrack, segments: Sequence[Segment], rate: float
) -> tuple[FaceTrack, AudioTrack, list[Segment]]:
    """The clip played ``rate`` times faster (both streams, so it stays in sync): lips linearly
    interpolated at the original times ``t * rate``, audio resampled (its pitch moves too), speech
    segments rescaled. A training augmentation: new speaking rates from the same people.

    Raises:
        UsageError: ``rate`` outside ``[0.5, 2]``.
    """
    if not 0.5 <= rate <= 2.0:
        raise UsageError(f"stretch rate must be in [0.5, 2], got {rate}")
    n = int(len(track.times) / rate)
    pos = np.arange(n) * rate
    points = _points_at(track, pos)
    new_track = FaceTrack(points=points, times=np.arange(n) / track.fps,
                          fps=track.fps)
    m = int(len(audio.samples) / rate)
    samples = np.interp(np.arange(m) * rate, np.arange(len(audio.samples)), audio.samples)
    new_audio = AudioTrack(samples=samples.astype(np.float32), start_s=audio.start_s / rate)
    segs = [Segment(start=g.start / rate, end=g.end / rate) for g in segments]
    return new_track, new_audio, segs


def refps(track: FaceTrack, fps: float) -> FaceTrack:
    """The face track sampled at another frame rate (lips linearly interpolated at the new
    frames' times; the audio is untouched, so the clip stays in sync). A training augmentation:
    the network's lip window and lag steps cover another span of time.

    Raises:
        UsageError: ``fps`` outside ``[5, 60]``.
    """
    if not 5.0 <= fps <= 60.0:
        raise UsageError(f"frame rate must be in [5, 60], got {fps}")
    duration = len(track.times) / track.fps
    times = np.arange(int(duration * fps)) / fps
    pos = times * track.fps
    points = _points_at(track, pos)
    return FaceTrack(points=points, times=times + float(track.times[0]),
                     fps=fps)


def make_item(name: str, feats: ClipFeatures, lip_norm: str = "scale") -> _Item | None:
    """A training item from one clip's features; None under 20 usable frames."""
    ok = usable(feats)
    _log.info("%s: %d usable frames of %d", name, int(ok.sum()), len(feats.times))
    if ok.sum() < 20:
        return None
    vis, _ = visual_windows(net_lips(feats.lips, lip_norm))
    rows = (feats.times - feats.mel_start) * MEL_RATE
    return _Item(name, torch.from_numpy(vis), torch.from_numpy(feats.mel), rows,
                 MEL_RATE / feats.fps, ok, np.flatnonzero(ok))


def clip_items(
    name: str, track: FaceTrack, audio: AudioTrack, segments: Sequence[Segment],
    lip_norm: str = "scale", rates: Sequence[float] = (), fps: Sequence[float] = (),
) -> list[_Item]:
    """Items of one clip as published, played at each of ``rates`` (see :func:`stretch`) and
    resampled to each frame rate of ``fps`` (see :func:`refps`)."""
    out = []
    for f in fps:
        item = make_item(f"{name}@fps{f:g}", clip_features(refps(track, f), audio, segments),
                         lip_norm)
        if item is not None:
            out.append(item)
    for rate in (1.0, *rates):
        tr, au, sg = (track, audio, list(segments)) if rate == 1.0 else stretch(
            track, audio, segments, rate)
        item = make_item(f"{name}@{rate:g}", clip_features(tr, au, sg), lip_norm)
        if item is not None:
            out.append(item)
    return out


def load_items(
    clips: list[Clip], cache: Path, lip_norm: str = "scale", rates: Sequence[float] = (),
    fps: Sequence[float] = (),
) -> list[_Item]:
    """Items of every clip that has usable frames (silent or faceless clips are skipped)."""
    items = []
    for clip in clips:
        audio = read_audio(clip.path)
        if audio is None:
            continue
        items += clip_items(clip.name, cached_face_track(clip.path, cache), audio,
                            audio_segments(audio), lip_norm, rates, fps)
    return items


def _batch(
    items: list[_Item], groups: int, seg: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``groups`` segments of ``seg`` frames from distinct clips: lips ``(G, S, V, D)``, audio
    windows ``(G, S + 2 * MAX_LAG, MEL_WIDTH, N_MELS)`` at positions ``-MAX_LAG..S-1+MAX_LAG``
    relative to the segment's first frame, and the anchor mask ``(G, S)``."""
    lips, mels, masks = [], [], []
    people = sorted({it.name.split("@")[0] for it in items})
    for person in rng.choice(len(people), size=min(groups, len(people)), replace=False):
        mine = [it for it in items if it.name.split("@")[0] == people[int(person)]]
        it = mine[int(rng.integers(len(mine)))]
        t0 = int(rng.choice(it.frames))
        t0 = min(t0, len(it.ok) - seg)
        pos = np.arange(-MAX_LAG, seg + MAX_LAG)
        start = np.round(it.rows[t0] + pos * it.per_frame).astype(np.int64) - MEL_WIDTH // 2
        idx = torch.from_numpy(start)[:, None] + torch.arange(MEL_WIDTH)
        lips.append(it.vis[t0 : t0 + seg])
        mels.append(it.mel[idx.clamp(0, len(it.mel) - 1)])
        masks.append(torch.from_numpy(it.ok[t0 : t0 + seg]))
    return torch.stack(lips), torch.stack(mels), torch.stack(masks)


def _augment(
    lips: torch.Tensor, mel: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    scale = 1.0 + 0.15 * (torch.rand(lips.shape[0], 1, 1, 1, generator=gen) - 0.5)
    lips = lips * scale + 0.05 * torch.randn(lips.shape, generator=gen)
    mel = mel + 0.1 * torch.randn(mel.shape, generator=gen)
    band = torch.randint(0, mel.shape[-1] - 6, (mel.shape[0], 1, 1, 1), generator=gen)
    pos = torch.arange(mel.shape[-1])
    mask = (pos >= band) & (pos < band + torch.randint(0, 6, band.shape, generator=gen))
    return lips, mel.masked_fill(mask, 0.0)


def loss_fn(
    model: SyncNet, lips: torch.Tensor, mel: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """Multi-way + binary loss of one batch of segments, and the multi-way top-1 accuracy.

    Each anchor frame ``i`` of segment ``g`` is scored against every audio position of the batch;
    its candidates are its own clip's audio at lags ``-15..15`` and every position of the other
    segments (other clips: swapped audio). The right answer is lag 0.
    """
    g, s = lips.shape[:2]
    p = mel.shape[1]
    v = model.embed_visual(lips.flatten(0, 1))
    a = model.embed_audio(mel.flatten(0, 1))
    logits = model.logit(v[:, None, :], a[None, :, :])  # (G*S, G*P)
    seg_v = torch.arange(g).repeat_interleave(s)
    seg_a = torch.arange(g).repeat_interleave(p)
    lag = (torch.arange(p).repeat(g)[None, :] - MAX_LAG) - torch.arange(s).repeat(g)[:, None]
    same = seg_v[:, None] == seg_a[None, :]
    own = same & (lag.abs() <= MAX_LAG)
    allowed = own | ~same
    target = seg_v * p + torch.arange(s).repeat(g) + MAX_LAG
    keep = mask.flatten()
    ce = F.cross_entropy((logits * 2.0).masked_fill(~allowed, -1e4)[keep], target[keep])
    pos = same & (lag == 0)
    neg_own = own & (lag.abs() >= MIN_NEG_SHIFT)
    neg_swap = ~same
    weight = (pos.float() * (2 * MAX_LAG - 1) + neg_own.float()
              + neg_swap.float() * (2 * MAX_LAG - 1) / max(1, int(neg_swap[0].sum())))
    bce = F.binary_cross_entropy_with_logits(logits[keep], pos.float()[keep],
                                             weight=weight[keep], reduction="sum")
    bce = bce / weight[keep].sum()
    acc = float((logits.masked_fill(~allowed, -1e4)[keep].argmax(1) == target[keep]).float().mean())
    return ce + bce, acc


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """Training settings (written into the weights' metadata)."""

    steps: int = 3000
    batch: int = 12
    seed: int = 0
    lr: float = 2e-3
    weight_decay: float = 1e-3
    rates: tuple[float, ...] = ()
    fps: tuple[float, ...] = ()  # extra frame rates of every clip (:func:`refps`)
    stop_at: int | None = None  # early stop inside the ``steps``-long one-cycle schedule


def fit(
    items: list[_Item], cfg: SyncNetConfig, recipe: Recipe, *, ckpt: Path | None = None,
    log: Path | None = None, save_every: int = 250,
    on_save: Callable[[int, SyncNet], None] | None = None,
) -> SyncNet:
    """Train a fresh network on ``items`` (resuming from ``ckpt`` when it exists); ``on_save``
    sees the model (in eval mode) every ``save_every`` steps."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    model = SyncNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps,
                                                pct_start=0.05)
    step = 0
    if ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        step = int(state["step"])
    t0, accs, losses = time.time(), [], []
    model.train()
    last = recipe.steps if recipe.stop_at is None else min(recipe.stop_at, recipe.steps)
    while step < last:
        lips, mel, mask = _batch(items, recipe.batch, SEGMENT, rng)
        lips, mel = _augment(lips, mel, gen)
        loss, acc = loss_fn(model, lips, mel, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses.append(float(loss.detach()))
        accs.append(acc)
        if step % save_every == 0 or step == last:
            rec = {"step": step, "loss": float(np.mean(losses)), "top1": float(np.mean(accs)),
                   "seconds": round(time.time() - t0, 1)}
            losses, accs = [], []
            if log is not None:
                with log.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
            if ckpt is not None:
                with atomic_path(ckpt) as tmp:
                    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                                "sched": sched.state_dict(), "rng": rng.bit_generator.state,
                                "step": step}, tmp)
            if on_save is not None:
                on_save(step, model.eval())
                model.train()
    return model.eval()


def train(
    data: Path, out: Path, cache: Path, cfg: SyncNetConfig, recipe: Recipe,
    seeds: Sequence[int] = (), decision: dict[str, Any] | None = None,
) -> None:
    """Train (or resume from ``out.ckpt``) on the ``train`` clips and write the weights to
    ``out``: one network with ``recipe.seed``, or one per seed of ``seeds`` (an ensemble whose
    lag curves are averaged; each seed checkpoints to ``out.sN.ckpt``). ``decision`` (score name
    and Platt ``a``, ``b`` from :mod:`doppelab.detect.avsync.cvscore`) is stored in the metadata
    and turns the clip curve into ``probability_fake``."""
    torch.set_num_threads(1)
    items = load_items(list_clips(data, "train"), cache, cfg.lip_norm, recipe.rates,
                       recipe.fps)
    models = []
    for seed in seeds or (recipe.seed,):
        suffix = f".s{seed}" if seeds else ""
        models.append(fit(items, cfg, replace(recipe, seed=seed),
                          ckpt=out.with_suffix(f"{suffix}.ckpt"),
                          log=out.with_suffix(f"{suffix}.log.jsonl")))
    meta: dict[str, Any] = {
        "clips": sorted({it.name.split("@")[0] for it in items}), **asdict(recipe),
        "max_lag": MAX_LAG, "segment": SEGMENT, "min_neg_shift": MIN_NEG_SHIFT}
    if seeds:
        meta["seeds"] = list(seeds)
    if decision:
        meta["decision"] = decision
    with atomic_path(out) as tmp:
        save_weights(models, tmp, meta)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=12, help="segments (clips) per step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lip-norm", choices=("scale", "rms"), default="scale")
    ap.add_argument("--lip-input", choices=("both", "velocity"), default="both")
    ap.add_argument("--mel-input", choices=("mel", "delta"), default="mel")
    ap.add_argument("--rates", type=float, nargs="*", default=[],
                    help="extra playback rates of every clip (time-stretch augmentation)")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this many steps of the --steps long LR schedule")
    ap.add_argument("--fps", type=float, nargs="*", default=[],
                    help="extra frame rates of every clip (lips resampled)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[],
                    help="train one network per seed and ship them as an ensemble")
    ap.add_argument("--decision", type=Path, default=None,
                    help="cvscore result file whose Platt fit of --decision-score ships")
    ap.add_argument("--decision-score", default="drop0")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(args.data, args.out, args.cache,
          SyncNetConfig(dropout=args.dropout, lip_norm=args.lip_norm,
                        lip_input=args.lip_input, mel_input=args.mel_input),
          Recipe(steps=args.steps, batch=args.batch, seed=args.seed, rates=tuple(args.rates),
                 fps=tuple(args.fps), stop_at=args.stop_at), seeds=args.seeds,
          decision=read_decision(args.decision, args.decision_score) if args.decision else None)


if __name__ == "__main__":
    main()
