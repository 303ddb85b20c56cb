"""Training of the face-swap autoencoder (``doppelab train A.faceset B.faceset -o MODEL``).

Each step trains both identities: A's warped faces must come back as A through decoder ``a``,
B's through decoder ``b``, with the shared encoder in between; optionally a patch discriminator
pushes the decoders towards sharper, more realistic faces. Checkpoints are atomic and
hash-checked, written every ``save_every`` steps and on Ctrl-C; a re-run resumes exactly
(weights, optimiser state, step, random generators).

``MODEL/`` holds ``config.json`` (model + training settings, identities, data), ``weights.pt``
(inference weights; its SHA-256 is the model hash), ``checkpoint.pt`` (resume state),
``log.csv`` and ``previews/step_NNNNNN.png`` (rows: A, A->A, A->B, B, B->B, B->A).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from doppelab.core.errors import UsageError
from doppelab.core.media import write_image
from doppelab.core.storage import atomic_write_text, ensure_dir
from doppelab.core.version import __version__
from doppelab.swap.autoencoder import checkpoint
from doppelab.swap.autoencoder.data import FaceData, augment, load_faces
from doppelab.swap.autoencoder.losses import gan_d_loss, gan_g_loss, mask_loss, reconstruction
from doppelab.swap.autoencoder.model import FaceSwapAE, ModelConfig, PatchDiscriminator
from doppelab.swap.autoencoder.perf import Throughput

Progress = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Training settings. ``steps`` is the total to reach (resuming continues towards it);
    ``minutes`` an optional wall-clock budget for this run."""

    steps: int = 20000
    batch: int = 16
    lr: float = 2e-4
    gan_weight: float = 0.0
    eye_mouth_weight: float = 3.0
    save_every: int = 500
    preview_every: int = 250
    seed: int = 0
    holdout_every: int = 0
    minutes: float | None = None
    threads: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 2 or self.save_every < 1 or self.preview_every < 1:
            raise UsageError("--steps >= 1, --batch >= 2, --save-every/--preview-every >= 1")
        if self.minutes is not None and not self.minutes > 0:  # also NaN
            raise UsageError(f"--minutes must be > 0, got {self.minutes}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainResult:
    path: Path
    step: int
    resumed_from: int
    losses: dict[str, float]
    it_per_s: float
    model_hash: str
    perf: dict[str, float] = field(default_factory=dict)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# what a (possibly interrupted) model folder holds: resuming into it is fine
MODEL_FILES = ("checkpoint.pt", "weights.pt", "config.json", "log.csv")


def check_model_output(out: Path) -> None:
    """Refuse to write a model into an existing folder that holds other things (as extract
    refuses a folder that is not a FaceSet): training would add its files among them.

    Raises:
        UsageError: ``out`` is a non-empty folder with none of :data:`MODEL_FILES`.
    """
    if out.is_dir() and any(out.iterdir()) and not any((out / f).exists() for f in MODEL_FILES):
        raise UsageError(f"output {out} exists and is not a model folder: choose a new path")


class Trainer:
    """Owns the model, optimisers, data and random state of one training run."""

    def __init__(self, a: Path, b: Path, out: Path, mcfg: ModelConfig, tcfg: TrainConfig) -> None:
        check_model_output(out)
        self.out, self.mcfg, self.tcfg = ensure_dir(out), mcfg, tcfg
        if tcfg.threads:
            torch.set_num_threads(tcfg.threads)
        self.device = _device(tcfg.device)
        self.data = {
            k: load_faces(p, mcfg.resolution, holdout_every=tcfg.holdout_every)
            for k, p in (("a", a), ("b", b))
        }
        if abs(self.data["a"].coverage - self.data["b"].coverage) > 1e-6:
            raise UsageError("the two FaceSets were extracted with different --coverage")
        with torch.random.fork_rng(devices=[]):  # seeded init, the caller's RNG untouched
            torch.manual_seed(tcfg.seed)
            self.model = FaceSwapAE(mcfg).to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.disc = PatchDiscriminator().to(self.device) if tcfg.gan_weight > 0 else None
        self.opt = torch.optim.Adam(self.model.parameters(), lr=tcfg.lr, betas=(0.5, 0.999))
        self.opt_d = (
            torch.optim.Adam(self.disc.parameters(), lr=tcfg.lr, betas=(0.5, 0.999))
            if self.disc is not None
            else None
        )
        self.gen = torch.Generator().manual_seed(tcfg.seed)
        self.step = 0
        self.fixed = {k: torch.arange(min(4, len(d))) for k, d in self.data.items()}

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "disc": None if self.disc is None else self.disc.state_dict(),
            "opt_d": None if self.opt_d is None else self.opt_d.state_dict(),
            "step": self.step,
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "model_config": self.mcfg.to_dict(),
        }

    def restore(self) -> int:
        path = self.out / "checkpoint.pt"
        if not path.exists():
            return 0
        st = checkpoint.load(path)
        if st.get("model_config") != self.mcfg.to_dict():
            raise UsageError(
                f"{path} was trained with {st.get('model_config')}; use the same "
                "model settings or another output folder"
            )
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        if self.disc is not None and st.get("disc") is not None:
            self.disc.load_state_dict(st["disc"])
            assert self.opt_d is not None
            self.opt_d.load_state_dict(st["opt_d"])
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        self.step = int(st["step"])
        return self.step

    def save(self) -> str:
        checkpoint.save(self.state(), self.out / "checkpoint.pt")
        digest = checkpoint.save(
            {"model": self.model.state_dict(), "model_config": self.mcfg.to_dict()},
            self.out / "weights.pt",
        )
        self._write_config(digest)
        return digest

    def _write_config(self, digest: str) -> None:
        cfg = {
            "format": "doppelab.model",
            "version": 1,
            "method": "autoencoder",
            "doppelab": __version__,
            "model": self.mcfg.to_dict(),
            "train": asdict(self.tcfg),
            "step": self.step,
            "weights_sha256": digest,
            "coverage": self.data["a"].coverage,
            "identities": {
                k: {"faceset": d.path, "faces": len(d), "embedding": d.identity.tolist()}
                for k, d in self.data.items()
            },
        }
        atomic_write_text(self.out / "config.json", json.dumps(cfg, indent=1) + "\n")

    # -- training --------------------------------------------------------------------------
    def _batch(self, who: str) -> dict[str, torch.Tensor]:
        d: FaceData = self.data[who]
        idx = torch.randint(0, len(d), (self.tcfg.batch,), generator=self.gen)
        b = augment(d, idx, self.gen)
        return {
            k: v.to(self.device).contiguous(memory_format=torch.channels_last) for k, v in b.items()
        }

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a batch of A and a batch of B."""
        self.model.train()
        losses: dict[str, torch.Tensor] = {}
        fakes = []
        total = torch.zeros((), device=self.device)
        for who in ("a", "b"):
            b = self._batch(who)
            rgb, mask = self.model(b["input"], who)
            rec = reconstruction(
                rgb, b["target"], b["mask"], b["priority"], self.tcfg.eye_mouth_weight
            )
            losses[f"rec_{who}"] = rec
            losses[f"mask_{who}"] = mask_loss(mask, b["mask"])
            total = total + rec + losses[f"mask_{who}"]
            fakes.append((rgb * b["mask"], b["target"] * b["mask"]))
        if self.disc is not None:
            g = sum(gan_g_loss(self.disc(f)) for f, _ in fakes)
            losses["g"] = g  # type: ignore[assignment]
            total = total + self.tcfg.gan_weight * g
        self.opt.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[no-untyped-call]
        self.opt.step()
        if self.disc is not None:
            losses["d"] = self._disc_step(fakes)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    def _disc_step(self, fakes: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        assert self.disc is not None and self.opt_d is not None
        d = sum(gan_d_loss(self.disc(r), self.disc(f.detach())) for f, r in fakes)
        self.opt_d.zero_grad(set_to_none=True)
        d.backward()  # type: ignore[union-attr]
        self.opt_d.step()
        return d.detach()  # type: ignore[union-attr]

    @torch.no_grad()
    def preview(self) -> Path:
        """PNG grid: A, A->A, A->B, B, B->B, B->A (columns are 4 fixed faces of each)."""
        self.model.eval()
        rows = []
        for who, other in (("a", "b"), ("b", "a")):
            d = self.data[who]
            x = (d.images[self.fixed[who]].float() / 255).to(self.device)
            x = x.contiguous(memory_format=torch.channels_last)
            rows += [x, self.model(x, who)[0], self.model(x, other)[0]]
        grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)
        img = (grid.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        path = ensure_dir(self.out / "previews") / f"step_{self.step:06d}.png"
        write_image(path, np.ascontiguousarray(img))
        return path


def train(
    a: str | Path,
    b: str | Path,
    out: str | Path,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
) -> TrainResult:
    """Train (or resume) the autoencoder on FaceSets ``a`` and ``b`` into the folder ``out``."""
    mcfg, tcfg = model_config or ModelConfig(), config or TrainConfig()
    tr = Trainer(Path(a), Path(b), Path(out), mcfg, tcfg)
    resumed = tr.restore()
    perf = Throughput.start(tr)
    log_path = tr.out / "log.csv"
    new_log = not log_path.exists()
    deadline = None if tcfg.minutes is None else time.monotonic() + 60 * tcfg.minutes
    losses: dict[str, float] = {}
    with open(log_path, "a", newline="") as fh:
        log = csv.writer(fh)
        if new_log:
            log.writerow(["step", "time", "rec_a", "rec_b", "mask_a", "mask_b", "g", "d", "it_s"])
        try:
            while tr.step < tcfg.steps and (deadline is None or time.monotonic() < deadline):
                losses = tr.train_step()
                rate = perf.tick()
                log.writerow(
                    [tr.step, f"{time.time():.1f}"]
                    + [
                        f"{losses.get(k, float('nan')):.5f}"
                        for k in ("rec_a", "rec_b", "mask_a", "mask_b", "g", "d")
                    ]
                    + [f"{rate:.3f}"]
                )
                if tr.step % 20 == 0:
                    fh.flush()
                if progress:
                    progress(tr.step, {**losses, "it/s": rate})
                if tr.step % tcfg.preview_every == 0:
                    tr.preview()
                if tr.step % tcfg.save_every == 0:
                    tr.save()
        except KeyboardInterrupt:
            tr.save()
            raise
    digest = tr.save()
    tr.preview()
    return TrainResult(
        path=tr.out,
        step=tr.step,
        resumed_from=resumed,
        losses=losses,
        it_per_s=perf.rate(),
        model_hash=f"sha256:{digest}",
        perf=perf.report(),
    )
