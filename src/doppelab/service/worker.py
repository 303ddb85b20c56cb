"""What a pool worker runs for one check: detect (with its HTML report) and verify.

Functions here run inside the worker pool (spawned processes by default), so they take and
return plain picklable values. Each process borrows its loaded detectors from
:mod:`doppelab.detect.loaded` (models load once per process, not per check; the pool's
initializer, :func:`~doppelab.detect.loaded.cap_threads`, caps its compute threads).
Library errors come back as ``{"error": message}`` with the server's storage path replaced by
the client's filename, so no server path reaches a client.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from doppelab.core.errors import DoppelabError
from doppelab.detect.loaded import loaned


def _message(exc: BaseException, path: str, filename: str) -> str:
    return str(exc).replace(str(Path(path).resolve()), filename).replace(path, filename)


def run_detect(path: str, filename: str, report_path: str, frames: int) -> dict[str, Any]:
    """Detect on ``path``; writes detect's HTML report to ``report_path``.

    Returns ``{"detect": facts, "heatmaps": [...]}`` or ``{"error": message}``.
    """
    from doppelab.detect.report import overlay, png_data_uri, result_dict, write_reports

    with loaned(frames) as det:
        try:
            res = det.run(path)
        except DoppelabError as exc:
            return {"error": _message(exc, path, filename)}
        config = asdict(det.config)
    res.path = filename  # reports name the client's file, never the storage path
    write_reports([res], config, html_path=report_path)
    heatmaps = [
        {
            "frame": s["frame"],
            "timestamp": s["timestamp"],
            "probability": s["probability"],
            "image": png_data_uri(overlay(s["crop"], s["heatmap"])),
        }
        for s in res.suspicious
    ]
    return {"detect": result_dict(res), "heatmaps": heatmaps}


def run_verify(path: str, filename: str) -> dict[str, Any]:
    """Provenance layers of ``path`` (manifest, watermark, registry) or ``{"error": ...}``."""
    from doppelab.detect.report import clean_json
    from doppelab.provenance.verify import verify

    try:
        verdict = verify(path)
    except DoppelabError as exc:
        return {"error": _message(exc, path, filename)}
    facts = clean_json(verdict.to_dict())
    facts["path"] = filename
    return {"verify": facts}
