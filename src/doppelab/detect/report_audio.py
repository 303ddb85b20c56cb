"""HTML for the audio evidence of a result: speech verdict, speech timeline, AV-sync timeline.

Plots are matplotlib (Agg) PNGs inlined as data URIs, like the rest of the report.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from doppelab.detect.report import figure_uri, pyplot

__all__ = ["audio_sections"]


def _plot(points: list[tuple[float, float]], segments: list[Any], duration: float, title: str,
          ylabel: str) -> str | None:
    """Probability over time (step plot), speech segments shaded."""
    if not points:
        return None
    fig, ax = pyplot().subplots(figsize=(8, 2.4))
    for a, b in segments:
        ax.axvspan(a, b, color="#cde", lw=0)
    ax.step([p[0] for p in points], [p[1] for p in points], where="post", marker="o", ms=3)
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_xlim(0, max(duration, points[-1][0] + 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s); shaded: speech")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return figure_uri(fig, dpi=90)


def _speech(ev: dict[str, Any]) -> str:
    e = html.escape
    p = ev.get("probability")
    why = f" ({e(str(ev['reason']))})" if ev.get("reason") else ""
    shown = "n/a" if p is None else f"{p:.3f}"
    head = f"<p><b>{e(str(ev.get('verdict')))}</b>{why} — P(synthetic speech) = {shown}</p>"
    src = ev.get("source") or {}
    facts = (f"<p>{ev.get('duration', 0):.1f} s of audio ({e(str(src.get('codec', '?')))}, "
             f"{src.get('sample_rate', '?')} Hz, {src.get('channels', '?')} ch), "
             f"{ev.get('speech_seconds', 0):.1f} s of speech in {len(ev.get('segments', []))} "
             f"segment(s), {len(ev.get('windows', []))} window(s)"
             f"{', truncated' if ev.get('truncated') else ''}.</p>")
    points = [(t["second"], t["probability"]) for t in ev.get("timeline", [])]
    plot = _plot(points, ev.get("segments", []), float(ev.get("duration", 0.0)),
                 "speech detector, per second", "P(synthetic)")
    speaker = ev.get("speaker")
    spk = ""
    if speaker and speaker.get("match") is None:
        spk = (f"<p>Speaker check against {e(str(speaker.get('reference')))}: not possible "
               f"({e(str(speaker.get('reason')))}).</p>")
    elif speaker:
        spk = (f"<p>Speaker check against {e(str(speaker.get('reference')))}: "
               f"<b>{'match' if speaker.get('match') else 'no match'}</b> (cosine distance "
               f"{speaker['distance']:.3f}, threshold {speaker['threshold']:.2f}; a clone is "
               "made to match, so a match is not proof of a real voice).</p>")
    img = f'<img src="{plot}">' if plot else ""
    return f"<h3>Speech</h3>{head}{facts}{spk}{img}"


def _offset_plot(rows: list[dict[str, Any]], fps: float | None) -> str | None:
    if len(rows) < 1:
        return None
    fig, ax = pyplot().subplots(figsize=(8, 2.4))
    t = [float(r["time"]) for r in rows]
    off = [float(r["offset_frames"]) for r in rows]
    conf = np.asarray([max(float(r["confidence"]), 0.0) for r in rows])
    ax.scatter(t, off, s=10 + 60 * conf / (conf.max() + 1e-9), zorder=3)
    ax.plot(t, off, lw=1)
    ax.axhline(0, color="grey", ls="--", lw=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset (frames)")
    rate = f" at {fps:g} fps" if fps else ""
    ax.set_title(f"audio-visual offset per window{rate} (> 0: audio late; size: confidence)")
    return figure_uri(fig, dpi=90)


def _av(ev: dict[str, Any]) -> str:
    e = html.escape
    p = ev.get("probability")
    why = f" ({e(str(ev['reason']))})" if ev.get("reason") else ""
    offset = ev.get("offset_frames")
    extra = "" if offset is None else f", offset {offset:+.1f} frames ({e(str(ev.get('method')))})"
    plot = _offset_plot(ev.get("timeline") or [], ev.get("fps"))
    img = f'<img src="{plot}">' if plot else ""
    shown = "n/a" if p is None else f"{p:.3f}"
    return (f"<h3>Audio-visual sync</h3><p><b>{e(str(ev.get('verdict')))}</b>{why} — "
            f"P(out of sync) = {shown}{extra}</p>{img}{_excerpts(ev.get('excerpts') or [])}")


def _excerpts(rows: list[dict[str, Any]]) -> str:
    """The excerpts a long video was sampled in, one table row each ('' for none)."""
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{r['start']:.1f}-{r['end']:.1f} s</td><td>{html.escape(str(r['status']))}</td>"
        f"<td>{'n/a' if r.get('probability') is None else format(r['probability'], '.3f')}</td>"
        f"<td>{'' if r.get('offset_frames') is None else format(r['offset_frames'], '+.1f')}</td>"
        "</tr>" for r in rows)
    return ("<p>A long video: these excerpts, spread over it, were checked; the most suspicious "
            "decides.</p><table><tr><th>excerpt</th><th>status</th><th>P(out of sync)</th>"
            f"<th>offset (frames)</th></tr>{body}</table>")


def audio_sections(speech: dict[str, Any] | None, av_sync: dict[str, Any] | None) -> str:
    """HTML of the speech and AV-sync evidence ('' when there is none)."""
    return (_speech(speech) if speech else "") + (_av(av_sync) if av_sync else "")
