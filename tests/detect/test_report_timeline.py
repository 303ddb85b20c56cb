"""The one per-frame timeline plot (detect's report and the demo's report share it)."""

from __future__ import annotations

import base64

from doppelab.demo.pictures import detect_figures, timeline_figure
from doppelab.detect.predict import MediaResult
from doppelab.detect.report import timeline_plot

PNG = b"\x89PNG\r\n\x1a\n"


def _result(probabilities: list[float]) -> MediaResult:
    timeline = [{"timestamp": i / 25, "probability": p} for i, p in enumerate(probabilities)]
    return MediaResult(path="clip.mp4", kind="video", width=64, height=64,
                       frames_total=len(timeline), frames_sampled=len(timeline),
                       timeline=timeline)


def _png(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,")
    return base64.b64decode(uri.split(",", 1)[1])


def test_smoke_one_result() -> None:
    assert _png(timeline_plot(_result([0.1, 0.7, 0.4])) or "").startswith(PNG)


def test_single_image_has_no_timeline() -> None:
    assert timeline_plot(_result([0.9])) is None
    assert timeline_plot({"a": _result([0.9]), "b": _result([])}) is None
    assert timeline_figure({"photo": _result([0.9])}) is None
    assert detect_figures({"photo": _result([0.9])}) == []


def test_named_results_share_one_plot() -> None:
    named = {"real": _result([0.1, 0.2, 0.1]), "fake": _result([0.8, 0.9, 0.7])}
    alone = _png(timeline_plot(named["real"]) or "")
    both = _png(timeline_plot(named) or "")
    assert both.startswith(PNG) and both != alone  # a second line and a legend
    fig = timeline_figure(named)
    assert fig is not None and fig.key == "timeline" and _png(fig.uri).startswith(PNG)
