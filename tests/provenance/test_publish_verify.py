"""label_image/label_video -> verify: every layer, tampering, foreign CA, re-encode, no keys."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doppelab.core.errors import KeysMissingError, UsageError
from doppelab.provenance import keys
from doppelab.provenance.publish import label_image, label_video
from doppelab.provenance.verify import verify

MODEL = {"method": "autoencoder", "model_hash": "sha256:" + "ab" * 32}


def _label(image: np.ndarray, path: Path, **kw: object) -> int:
    return label_image(image, path, **MODEL, **kw).payload_id  # type: ignore[arg-type]


def test_roundtrip_all_layers(lab: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    src = tmp_path / "src.png"
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "out" / "fake.jpg"
    pid = _label(astronaut, out, sources={"source": src, "target": src})
    v = verify(out)
    assert v.manifest.state == "trusted", v.manifest
    assert v.manifest.digital_source_type.endswith("trainedAlgorithmicMedia")
    assert v.manifest.watermark_payload == pid
    assert v.manifest.model == {"hash": MODEL["model_hash"], "method": "autoencoder"}
    assert v.watermark.found and v.watermark.payload_id == pid
    assert v.registry.matched and v.registry.payload_id == pid
    assert "trusted" in v.summary and f"{pid:08x}" in v.summary
    assert sorted(p.name for p in out.parent.iterdir()) == ["fake.jpg"]  # no temporaries


def test_flipped_byte_is_invalid_with_hash_mismatch(lab: Path, tmp_path: Path,
                                                     astronaut: np.ndarray) -> None:
    out = tmp_path / "fake.jpg"
    _label(astronaut, out)
    data = bytearray(out.read_bytes())
    data[-5000] ^= 0x01  # inside the entropy-coded image data, after the manifest
    bad = tmp_path / "tampered.jpg"
    bad.write_bytes(bytes(data))
    v = verify(bad)
    assert v.manifest.state == "invalid"
    assert any(c.endswith("dataHash.mismatch") for c in v.manifest.codes), v.manifest.codes
    assert "INVALID" in v.summary


def test_foreign_ca_is_untrusted_never_trusted(lab: Path, tmp_path: Path,
                                              astronaut: np.ndarray) -> None:
    other = keys.init_keys(tmp_path / "other-lab")
    out = tmp_path / "foreign.png"
    _label(astronaut[:256, :256].copy(), out, keys_dir=other)
    v = verify(out)  # trust anchor: this lab's root CA
    assert v.manifest.state == "valid-untrusted", v.manifest
    assert v.manifest.state != "trusted"
    assert verify(out, keys_dir=other).manifest.state == "trusted"


def test_reencode_drops_manifest_keeps_watermark_and_registry(lab: Path, tmp_path: Path,
                                                              coffee: np.ndarray) -> None:
    out = tmp_path / "fake.png"
    pid = _label(coffee, out)
    buf = io.BytesIO()
    Image.open(out).convert("RGB").resize((300, 200)).save(buf, format="JPEG", quality=70)
    re = tmp_path / "reencoded.jpg"
    re.write_bytes(buf.getvalue())
    v = verify(re)
    assert v.manifest.state == "none"
    assert v.watermark.found and v.watermark.payload_id == pid
    assert v.registry.matched and v.registry.payload_id == pid


def test_unmarked_gives_no_provenance(lab: Path, tmp_path: Path, coffee: np.ndarray,
                                      astronaut: np.ndarray) -> None:
    _label(coffee, tmp_path / "fake.jpg")  # the registry holds something else
    plain = tmp_path / "plain.jpg"
    Image.fromarray(astronaut).save(plain, quality=90)
    v = verify(plain)
    assert not v.provenance_found
    assert v.manifest.state == "none" and not v.watermark.found and not v.registry.matched
    assert v.summary.startswith("no provenance found")


def test_missing_keys_clear_error_and_no_output(home: Path, tmp_path: Path,
                                                astronaut: np.ndarray) -> None:
    out = tmp_path / "fake.jpg"
    with pytest.raises(KeysMissingError, match="run `doppelab keys init`"):
        _label(astronaut, out)
    assert not out.exists()


def test_exception_bad_suffix(lab: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    with pytest.raises(UsageError):
        _label(astronaut, tmp_path / "fake.bmp")


def test_video_roundtrip(lab: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    base = astronaut[::2, ::2]
    frames = [np.ascontiguousarray(np.roll(base, 2 * i, axis=1)) for i in range(15)]
    out = tmp_path / "fake.mp4"
    result = label_video(frames, out, fps=15, crf=23, **MODEL)  # type: ignore[arg-type]
    assert result.frames == 15
    v = verify(out)
    assert v.kind == "video" and v.manifest.state == "trusted"
    assert v.watermark.found and v.watermark.payload_id == result.payload_id
    assert v.registry.matched


def test_huge_still_image_manifest_is_not_read(lab: Path, tmp_path: Path) -> None:
    """A 64x64 JPEG followed by 600 MB of (sparse) zeros: the C2PA reader would hold it in
    memory about three times over; the manifest layer says ``unchecked`` instead."""
    from doppelab.provenance.manifest import MAX_IMAGE_BYTES

    path = tmp_path / "tail.jpg"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(path)
    with open(path, "r+b") as fh:
        fh.truncate(MAX_IMAGE_BYTES + 2**20)
    v = verify(path, keys_dir=lab)
    assert v.manifest.state == "unchecked" and v.manifest.codes == ["manifest.tooLarge"]
    assert not v.provenance_found and "not checked" in v.summary
