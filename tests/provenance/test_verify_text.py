"""``doppelab verify``'s registry line tells an entry found by payload from a look-alike."""

from __future__ import annotations

from doppelab.cli.verify import _text
from doppelab.provenance.manifest import ManifestResult
from doppelab.provenance.verify import RegistryResult, Verdict
from doppelab.provenance.watermark import WatermarkResult


def _verdict(found: bool, registry: RegistryResult) -> Verdict:
    wm = WatermarkResult(found=found, payload_id=0x187F5669 if found else None, crc_ok=found,
                         bit_agreement=1.0 if found else 0.82, sync_score=8.0 if found else 3.9,
                         confidence=1.0 if found else 0.0)
    return Verdict(path="x.mp4", kind="video", manifest=ManifestResult(state="none"),
                   watermark=wm, registry=registry, summary="...")


def test_registry_line_similar_versus_entry() -> None:
    similar = _text(_verdict(False, RegistryResult(matched=True, payload_id=0x187F5669,
                                                   distance=10, by_payload=False)))
    assert ("registry:  similar to 187f5669 (PDQ distance 10; pixels only: that output "
            "re-encoded, or its source)") in similar.splitlines()
    entry = _text(_verdict(True, RegistryResult(matched=True, payload_id=0x187F5669,
                                                distance=0, by_payload=True)))
    assert "registry:  187f5669, PDQ distance 0" in entry.splitlines()
    none = _text(_verdict(False, RegistryResult(matched=False, distance=80)))
    assert "registry:  no match" in none.splitlines()
