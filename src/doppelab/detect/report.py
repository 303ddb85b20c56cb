"""Reports of ``detect`` and ``eval``: JSON for machines, one self-contained HTML file for people.

The HTML inlines every image (PNG as base64 data URIs) and every plot (matplotlib, Agg backend),
so it can be mailed or archived alone. Both are written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.storage import atomic_write_text
from doppelab.core.version import __version__
from doppelab.detect.predict import MediaResult

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left}.fake{color:#b00020}.real{color:#1b5e20}.inconclusive{color:#8a6d00}.caveat{color:#8a6d00;font-style:italic}
figure{display:inline-block;margin:.3em;text-align:center;font-size:.85em}
img{image-rendering:auto}section{border-top:1px solid #ddd;margin-top:1.5em}"""


def clean_json(x: Any) -> Any:
    """``x`` with numpy scalars as Python numbers and non-finite floats as None (valid JSON)."""
    if isinstance(x, dict):
        return {k: clean_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean_json(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def result_dict(res: MediaResult) -> dict[str, Any]:
    """The JSON-ready facts of one result (images left out; suspicious frames by index)."""
    d = asdict(res)
    d["suspicious"] = [
        {k: v for k, v in s.items() if k not in ("crop", "heatmap")} for s in res.suspicious
    ]
    d["seconds"] = round(res.seconds, 3)
    d["fps"] = round(res.frames_total / res.seconds, 2) if res.seconds > 0 else None
    return dict(clean_json(d))


def to_json(results: list[MediaResult], config: dict[str, Any]) -> str:
    return json.dumps(
        {
            "doppelab": __version__,
            "config": clean_json(config),
            "results": [result_dict(r) for r in results],
        },
        indent=2,
    )


def png_data_uri(image: npt.NDArray[np.uint8]) -> str:
    """An RGB image as a ``data:image/png;base64,...`` URI."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError("cannot encode image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def overlay(crop: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32] | None) -> npt.NDArray:
    """The crop with a heatmap (0-1) over it: JET colours, opacity growing with the heat
    (scaled by its peak, floored at 0.25 so a faint map stays faint)."""
    if heat is None:
        return crop
    h = cv2.resize(heat, crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    h = np.clip(h / max(float(h.max()), 0.25), 0.0, 1.0)
    colour = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    a = (0.7 * h)[..., None]
    return np.asarray(crop * (1.0 - a) + colour * a, np.uint8)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_uri(fig: Any, dpi: int = 100) -> str:
    """A matplotlib figure as a PNG ``data:`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def timeline_plot(
    results: MediaResult | Mapping[str, MediaResult], *, dpi: int = 100
) -> str | None:
    """Per-frame fused probability over time as a PNG data URI.

    ``results``: one result, or several by name (one line each on a shared time axis, with a
    legend: the demo's real and fake files). None when no result has two timeline points or more
    (single images).
    """
    named = {"": results} if isinstance(results, MediaResult) else dict(results)
    if all(len(r.timeline) < 2 for r in named.values()):
        return None
    fig, ax = pyplot().subplots(figsize=(8, 2.4))
    for name, res in named.items():
        t = [p["timestamp"] for p in res.timeline]
        ax.plot(t, [p["probability"] for p in res.timeline], marker="o", ms=3, label=name or None)
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(fake)")
    ax.set_title("per-frame fused probability (most suspicious face)")
    if any(named):
        ax.legend(loc="upper right", fontsize=8)
    return figure_uri(fig, dpi=dpi)


def _verdict_class(verdict: str) -> str:
    return "fake" if "fake" in verdict else "real" if "real" in verdict else "inconclusive"


_FACE_DETECTORS = ("blend", "frequency")


def _detectors_note(res: MediaResult) -> str:
    """What the numbers of the detector table are: the face detectors' are means over the
    sampled faces; temporal, speech and av_sync give one probability per file."""
    faces = [n for n in _FACE_DETECTORS if n in res.detectors]
    if not faces:
        return "each one's own probability"
    return f"each one's own probability; {' and '.join(faces)}: mean over the faces"


def _section(res: MediaResult) -> str:
    e = html.escape
    p = "n/a" if res.probability is None else f"{res.probability:.3f}"
    reason = f" ({e(res.reason)})" if res.reason else ""
    rows = "".join(
        f"<tr><td>{e(k)}</td><td>{'n/a' if v is None else f'{v:.3f}'}</td></tr>"
        for k, v in res.detectors.items()
    )
    temporal = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.4g}</td></tr>"
        for k, v in res.temporal.items()
        if np.isfinite(v)
    )
    figs = "".join(
        f'<figure><img src="{png_data_uri(overlay(s["crop"], s["heatmap"]))}" width="192">'
        f"<figcaption>frame {s['frame']} ({s['timestamp']:.2f} s), P(fake)={s['probability']:.2f}"
        "</figcaption></figure>"
        for s in res.suspicious
    )
    plot = timeline_plot(res)
    usable = sum(f.usable for f in res.faces)
    from doppelab.detect.report_audio import audio_sections

    audio = audio_sections(res.speech, res.av_sync)
    facts = (f"audio file, processed in {res.seconds:.2f} s." if res.kind == "audio" else
             f"""{res.kind}, {res.width}x{res.height}, {res.frames_total} frame(s),
{res.frames_sampled} sampled, {len(res.faces)} face(s) ({usable} usable), processed in
{res.seconds:.2f} s.""")
    return f"""<section><h2>{e(Path(res.path).name)}</h2>
<p class="{_verdict_class(res.verdict)}"><b>{e(res.verdict)}</b>{reason} — P(fake) = {p}</p>
{"".join(f'<p class="caveat">Caveat: {e(c)}</p>' for c in res.caveats)}
<p>{facts}</p>
<h3>Detectors ({_detectors_note(res)})</h3><table>{rows}</table>
{f"<h3>Temporal measurements</h3><table>{temporal}</table>" if temporal else ""}
{f'<img src="{plot}">' if plot else ""}
{f"<h3>Most suspicious faces (blend-seam heatmap)</h3>{figs}" if figs else ""}{audio}</section>"""


def to_html(results: list[MediaResult], title: str = "doppelab detect report",
            preface: str = "") -> str:
    """The self-contained report of ``results``; ``preface`` (HTML) comes before the files
    (eval puts its metrics there)."""
    body = preface + "".join(_section(r) for r in results)
    note = (
        "Face probabilities are calibrated on faces of people held out of training (real, "
        "self-blended, and one held-out pair's swaps); they are evidence, not proof. Our "
        "creation watermark cannot be the cue: where training used our own swaps, which carry "
        "it, their real controls carry the same mark."
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>doppelab {__version__}.
{note}</p>{body}</body></html>"""


def write_reports(
    results: list[MediaResult],
    config: dict[str, Any],
    html_path: str | Path | None = None,
    json_path: str | Path | None = None,
) -> None:
    """Write the HTML and/or JSON report atomically."""
    if html_path is not None:
        atomic_write_text(html_path, to_html(results))
    if json_path is not None:
        atomic_write_text(json_path, to_json(results, config) + "\n")
