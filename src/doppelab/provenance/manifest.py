"""C2PA manifests (c2pa-python): sign generated files with the lab keys and read them back.

A doppelab manifest holds a ``c2pa.created`` action (digitalSourceType trainedAlgorithmicMedia,
softwareAgent doppelab + version) and a ``c2pa.watermarked`` action, a ``c2pa.soft-binding``
assertion naming the watermark algorithm and payload, ``org.doppelab.model`` (model hash and
method) and ``org.doppelab.ingredients`` (SHA-256 of the source and target media; hashes only, so
no face of an ingredient travels inside the output). No timestamp server is used (offline).

Reading classifies the manifest as ``none``, ``invalid`` (with the C2PA failure codes, e.g.
``assertion.dataHash.mismatch`` for a changed byte), ``valid-untrusted`` (a sound signature from a
certificate that does not chain to the lab root CA) or ``trusted``; ``unchecked`` (code
``manifest.tooLarge``) for a still image over :data:`MAX_IMAGE_BYTES`, which is not read: the
C2PA reader holds a JPEG in memory about three times over (a 64x64 JPEG followed by 1 GB of
zeros took 3.3 GB), and no real photo comes near that size.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from doppelab.core.errors import SigningError
from doppelab.core.version import __version__
from doppelab.provenance.keys import LabKeys

TRAINED_ALGORITHMIC_MEDIA = \
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
              ".webp": "image/webp", ".mp4": "video/mp4", ".mov": "video/quicktime"}
UNTRUSTED_CODES = frozenset({"signingCredential.untrusted"})
MAX_IMAGE_BYTES = 512 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class Ingredient:
    """A source or target medium, recorded only by role and SHA-256."""

    role: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestResult:
    """What the manifest layer says about a file."""

    state: str  # none | invalid | valid-untrusted | trusted | unchecked
    codes: list[str] = field(default_factory=list)  # C2PA failure codes
    digital_source_type: str | None = None
    generator: str | None = None
    watermark_payload: int | None = None
    model: dict[str, str] | None = None
    signer: str | None = None


def mime_for(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise SigningError(f"cannot sign {suffix or 'extension-less'} files (use one of "
                           f"{', '.join(sorted(MIME_TYPES))}): {path}")
    return MIME_TYPES[suffix]


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(*, title: str, mime: str, payload_id: int, watermark_alg: str,
                   model_hash: str, method: str, ingredients: list[Ingredient]) -> dict[str, Any]:
    """The manifest definition (JSON-able) for one generated output."""
    agent = {"name": "doppelab", "version": __version__}
    payload = base64.b64encode(payload_id.to_bytes(4, "big")).decode()
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                 "softwareAgent": agent, "parameters": {"method": method}},
                {"action": "c2pa.watermarked", "softwareAgent": agent,
                 "parameters": {"alg": watermark_alg, "payload_id": f"{payload_id:08x}"}},
            ]}},
            {"label": "c2pa.soft-binding", "data": {
                "alg": watermark_alg, "blocks": [{"scope": {}, "value": payload}]}},
            {"label": "org.doppelab.model", "data": {"hash": model_hash, "method": method}},
            {"label": "org.doppelab.ingredients", "data": {"ingredients": [
                {"role": i.role, "hash": {"alg": "sha256", "value": i.sha256}}
                for i in ingredients]}},
        ],
    }


def sign_file(source: Path, dest: Path, manifest: dict[str, Any], keys: LabKeys) -> bytes:
    """Embed and sign ``manifest`` into a copy of ``source`` written to ``dest``.

    Returns the manifest bytes (JUMBF). Raises SigningError when c2pa refuses.
    """
    mime = mime_for(dest)
    try:
        info = c2pa.C2paSignerInfo(alg=c2pa.C2paSigningAlg.ES256, sign_cert=keys.chain_pem,
                                   private_key=keys.key_pem, ta_url=None)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder, \
                open(source, "rb") as src, open(dest, "w+b") as dst:
            return bytes(builder.sign(signer, mime, src, dst))
    except c2pa.C2paError as exc:
        raise SigningError(f"cannot sign {dest.name}: {exc}") from None


def _context(trust_anchor_pem: bytes | None) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"verify_trust": trust_anchor_pem is not None,
                                           "remote_manifest_fetch": False,
                                           "ocsp_fetch": False}}
    if trust_anchor_pem is not None:
        settings["trust"] = {"user_anchors": trust_anchor_pem.decode()}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def _codes(results: dict[str, Any] | None) -> list[str]:
    if not results:
        return []
    failures = (results.get("activeManifest") or {}).get("failure") or []
    return sorted({str(f.get("code")) for f in failures if f.get("code")})


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    for a in manifest.get("assertions") or []:
        if str(a.get("label", "")).split(".v")[0] == label or a.get("label") == label:
            data = a.get("data")
            return data if isinstance(data, dict) else None
    return None


def _describe(store: dict[str, Any]) -> dict[str, Any]:
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    out: dict[str, Any] = {}
    actions = (_assertion(active, "c2pa.actions") or {}).get("actions") or []
    for act in actions:
        if act.get("action") == "c2pa.created":
            out["digital_source_type"] = act.get("digitalSourceType")
    gen = (active.get("claim_generator_info") or [{}])[0]
    if gen:
        out["generator"] = f"{gen.get('name', '?')} {gen.get('version', '')}".strip()
    binding = _assertion(active, "c2pa.soft-binding") or {}
    blocks = binding.get("blocks") or []
    with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
        out["watermark_payload"] = int.from_bytes(base64.b64decode(blocks[0]["value"]), "big")
    model = _assertion(active, "org.doppelab.model")
    if model:
        out["model"] = {k: str(v) for k, v in model.items()}
    sig = active.get("signature_info") or {}
    out["signer"] = sig.get("common_name") or sig.get("issuer")
    return out


def read_manifest(path: str | os.PathLike[str],
                  trust_anchor_pem: bytes | None = None) -> ManifestResult:
    """Read and validate the C2PA manifest of ``path`` against the lab root CA (if given)."""
    mime = MIME_TYPES.get(Path(path).suffix.lower())
    if mime is None:
        return ManifestResult(state="none")
    if mime.startswith("image/") and os.path.getsize(path) > MAX_IMAGE_BYTES:
        return ManifestResult(state="unchecked", codes=["manifest.tooLarge"])
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create(mime, fh, None, _context(trust_anchor_pem))
            if reader is None:
                return ManifestResult(state="none")
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        name = type(exc).__name__
        code = "manifest.unreadable" if name == "C2paError" else f"manifest.{name[:1].lower()}" \
            f"{name[1:]}"
        return ManifestResult(state="invalid", codes=[code])
    codes = _codes(store.get("validation_results"))
    state = str(store.get("validation_state") or "Invalid").lower()
    if state == "trusted" and not codes:
        verdict = "trusted"
    elif state in ("valid", "trusted") or (codes and set(codes) <= UNTRUSTED_CODES):
        verdict = "valid-untrusted"
    else:
        verdict = "invalid"
    return ManifestResult(state=verdict, codes=codes, **_describe(store))
