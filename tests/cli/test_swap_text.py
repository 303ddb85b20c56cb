"""``doppelab swap``'s text result names the payload as ``verify`` prints it."""

from __future__ import annotations

from pathlib import Path

from doppelab.cli.swap import _line
from doppelab.swap.convert import SwapResult


def _result(faces: int) -> SwapResult:
    return SwapResult(path=Path("fake.jpg"), frames=1, frames_swapped=1, faces_swapped=faces,
                      seconds=1.0, payload_id=0x610822E2, manifest_sha256="0" * 64,
                      method="mesh")


def test_payload_as_verify_prints_it_and_singular_face() -> None:
    line = _line(_result(1))
    assert line.startswith("swapped 1 face in 1/1 frames with mesh")
    # verify: "watermark: found, payload 610822e2, ..."; registry: "610822e2"
    assert "(labelled: watermark payload 610822e2, signed manifest, registry entry)" in line
    assert _line(_result(2)).startswith("swapped 2 faces in")
