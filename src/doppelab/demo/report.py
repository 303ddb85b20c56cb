"""The demo's report: one self-contained HTML file (pictures inlined) and the same facts as JSON.

Each stage is a ``<section id="stage-NAME">`` whose pictures carry ``data-stage`` and
``data-key`` attributes, so a browser test can check that each stage's picture is present and
rendered.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from doppelab.core.storage import atomic_write_text
from doppelab.demo.pictures import Figure
from doppelab.demo.run import DemoResult
from doppelab.detect.report import STYLE, clean_json

NOTE_STYLE = ".note{background:#fff8e1;border-left:4px solid #8a6d00;padding:.4em .8em}"

STAGES = (
    ("landmarks", "1. Extract: detected face and landmarks",
     "BlazeFace finds the face, FaceMesh tracks 478 landmarks through the clip."),
    ("crop", "2. Extract: aligned crop and mask",
     "A similarity transform puts stable landmarks on the canonical mean face; the soft mask "
     "is the hull of the landmarks."),
    ("swap", "3. Create: before and after the swap",
     "The source face is put into the target clip. Every output is labelled as it is written: "
     "invisible watermark, signed C2PA manifest, registry entry (no switch turns this off)."),
    ("detect", "4. Detect: real vs fake",
     "The blend-seam CNN, the frequency statistics and the temporal detector, fused and "
     "calibrated. Heatmaps show where the CNN sees a blending boundary."),
    ("provenance", "5. Verify: provenance layers",
     "verify reads the C2PA manifest, looks for the watermark and queries the fingerprint "
     "registry, for the real clip and for each fake."),
)


def _figure(stage: str, f: Figure) -> str:
    e = html.escape
    return (f'<figure><img src="{f.uri}" width="{f.width}" alt="{e(f.caption)}" '
            f'data-stage="{stage}" data-key="{e(f.key)}"><figcaption>{e(f.caption)}'
            "</figcaption></figure>")


def _rows(pairs: list[tuple[str, Any]]) -> str:
    e = html.escape
    return "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in pairs)


def _stage_table(stage: str, facts: dict[str, Any]) -> str:
    if stage == "crop":
        x = facts.get("extract", {})
        return "<table>" + _rows([
            ("faces", x.get("faces")), ("frames with a face", f"{x.get('frames_with_face')}/"
                                        f"{x.get('frames')}"),
            ("people", x.get("people")), ("seconds", x.get("seconds")),
            ("FaceSet", x.get("path"))]) + "</table>"
    if stage == "swap":
        heads = "<tr><th>method</th><th>frames swapped</th><th>fps</th><th>watermark payload"\
                "</th><th>manifest SHA-256</th><th>file</th></tr>"
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(s[k]))}</td>" for k in (
                "method", "frames_swapped", "fps", "payload_id", "manifest_sha256", "path"))
            + "</tr>" for s in facts.get("swap", {}).values())
        return f"<table>{heads}{body}</table>"
    if stage == "detect":
        rows = [(n, f"{d['verdict']}" + (f" ({d['reason']})" if d.get("reason") else "")
                 + ("" if d.get("probability") is None else f", P(fake) {d['probability']:.3f}")
                 + "; " + ", ".join(f"{k} {v:.2f}" for k, v in d["detectors"].items()
                                    if v is not None))
                for n, d in facts.get("detect", {}).items()]
        return "<table>" + _rows(rows) + "</table>"
    if stage == "provenance":
        return _provenance_table(facts.get("verify", {}))
    return ""


def _notes(stage: str, facts: dict[str, Any]) -> str:
    """What the reader should not miss in this run's numbers (computed, not canned)."""
    notes = []
    train = facts.get("train")
    if stage == "swap" and train:
        notes.append(
            f"The autoencoder trained for {train['step']} steps ({train['it_per_s']} it/s). The "
            "classic autoencoder needs hours of training on a CPU, so after minutes its face is "
            "blurry or barely differs from the target; the mesh method needs no training.")
    if stage == "detect":
        missed = [n for n, d in facts.get("detect", {}).items()
                  if n.startswith("fake") and d.get("verdict") != "likely fake"]
        if missed:
            notes.append(
                f"The detectors did not call {', '.join(missed)} fake. They were trained on "
                "self-blended fakes and on swaps of two other pairs of people, never on these "
                "faces or this source (docs/detect.md gives their measured limits): "
                "a detector's verdict is evidence, not proof, and it misses fakes unlike its "
                "training data. For doppelab's own outputs the provenance layers below are the "
                "reliable check.")
    if stage == "provenance":
        similar = [n for n, v in facts.get("verify", {}).items()
                   if v["registry"]["matched"] and not v["registry"]["by_payload"]]
        if similar:
            notes.append(
                f"The registry finds {', '.join(similar)} perceptually similar to a registered "
                "output: the swap changed only the face, so the real clip and its fake have "
                "nearby PDQ hashes. That is why verify reports similarity apart and never claims "
                "'generated' from it alone: only the manifest and the watermark make that claim.")
    return "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def _provenance_table(verdicts: dict[str, Any]) -> str:
    e = html.escape
    head = ("<tr><th>file</th><th>C2PA manifest</th><th>watermark</th><th>registry</th>"
            "<th>summary</th></tr>")
    rows = []
    for name, v in verdicts.items():
        m, w, r = v["manifest"], v["watermark"], v["registry"]
        wm = (f"found {w['payload_id']:08x}, confidence {w['confidence']:.2f}" if w["found"]
              else f"not found (bit agreement {w['bit_agreement']:.2f})")
        reg = f"{r['payload_id']:08x} ({r['method']})" if r["matched"] else "no match"
        rows.append(f"<tr><td>{e(name)}</td><td>{e(m['state'])}</td><td>{e(wm)}</td>"
                    f"<td>{e(reg)}</td><td>{e(v['summary'])}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _material(facts: dict[str, Any]) -> str:
    m = facts.get("material", {})
    rows = [(role, f"{p['person']} — {p['credit']}; {p['licence']}")
            for role, p in (("target", m.get("target")), ("source", m.get("source"))) if p]
    note = (f"<p>{html.escape(m.get('why', ''))}. Both are adults. Use doppelab's creation "
            "commands only on people who gave their informed consent.</p>")
    return "<section id=\"material\"><h2>Material</h2><table>" + _rows(rows) + "</table>" + \
        note + "</section>"


def to_html(res: DemoResult) -> str:
    """The whole report as one HTML string (no external resources)."""
    facts = res.facts
    sections = []
    for stage, title, text in STAGES:
        figs = "".join(_figure(stage, f) for f in res.figures.get(stage, []))
        sections.append(f'<section id="stage-{stage}"><h2>{html.escape(title)}</h2>'
                        f"<p>{html.escape(text)}</p>{_stage_table(stage, facts)}"
                        f"{_notes(stage, facts)}{figs}</section>")
    timings = _rows([(k, f"{v:.1f} s") for k, v in facts.get("timings", {}).items()]
                    + [("total", f"{facts.get('seconds', 0):.1f} s"),
                       ("CPU cores", facts.get("cpus"))])
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in facts.get("summary", []))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>doppelab demo</title>
<style>{STYLE}{NOTE_STYLE}</style></head><body><h1>doppelab demo: the whole loop</h1>
<p>doppelab {html.escape(str(facts.get('doppelab')))}: extract, create (labelled), detect and
verify on built-in material. The same facts are in <code>demo.json</code>.</p>
<ul>{summary}</ul>{_material(facts)}{''.join(sections)}
<section id="timings"><h2>Timings</h2><table>{timings}</table></section></body></html>"""


def write_report(res: DemoResult) -> tuple[Path, Path]:
    """Write ``demo.html`` and ``demo.json`` into the demo folder (atomically)."""
    html_path, json_path = res.out / "demo.html", res.out / "demo.json"
    atomic_write_text(json_path, json.dumps(clean_json(res.facts), indent=2) + "\n")
    atomic_write_text(html_path, to_html(res))
    return html_path, json_path
