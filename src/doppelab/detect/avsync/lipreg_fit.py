"""Fit the audio-to-mouth ridge model (:mod:`doppelab.detect.avsync.lipreg`) on every ``train``
clip with audio and write its weights.

Run: ``python -m doppelab.detect.avsync.lipreg_fit --data ../shared/data
[--out src/doppelab/detect/avsync/weights/lipreg.npz] [--decision ENS.json --decision-score
abs_offset]``, where ``ENS.json`` is a :mod:`doppelab.detect.avsync.cvscore` result made with
``--lipreg-data``: its Platt fit of the named score on every cross-validation row of the combined
curve is stored with the weights (:func:`doppelab.detect.avsync.decide.read_decision`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from doppelab.detect.avsync.analyse import MAX_LAG
from doppelab.detect.avsync.cv import load_heldout
from doppelab.detect.avsync.dataset import default_cache
from doppelab.detect.avsync.decide import SCORES, read_decision
from doppelab.detect.avsync.features import clip_features
from doppelab.detect.avsync.lipreg import ALPHA, LIPREG_WEIGHTS, LipReg, fit_lipreg

_log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> None:
    """Fit on every ``train`` clip with audio and write the weights (see the module doc)."""
    ap = argparse.ArgumentParser(description="Fit the audio-to-mouth ridge model on train clips.")
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=LIPREG_WEIGHTS)
    ap.add_argument("--cache", type=Path, default=default_cache(), help="face-track cache")
    ap.add_argument("--alpha", type=float, default=ALPHA)
    ap.add_argument("--decision", type=Path, default=None,
                    help="cvscore result (made with --lipreg-data) holding the decision fit")
    ap.add_argument("--decision-score", default="abs_offset", choices=SCORES)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    clips = load_heldout(args.data, args.cache)
    model = fit_lipreg([clip_features(c.track, c.audio, c.segments) for c in clips], MAX_LAG,
                       args.alpha)
    decision = read_decision(args.decision, args.decision_score) if args.decision else None
    LipReg(model.x_mean, model.x_std, model.weights, decision).save(args.out)
    _log.info("fitted on %d train clips -> %s", len(clips), args.out)


if __name__ == "__main__":
    main()
