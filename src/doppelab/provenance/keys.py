"""Lab signing keys: an offline root CA and an ES256 (P-256) signing certificate for C2PA.

``init_keys`` creates, without any network, a self-signed lab root CA and a leaf certificate with
the profile c2pa-python accepts for manifests: KeyUsage digitalSignature, ExtendedKeyUsage
emailProtection, AuthorityKeyIdentifier (and SubjectKeyIdentifier). Files, all written
atomically, private keys with mode 0600::

    <keys dir>/root_ca.pem   lab root CA certificate (the trust anchor for ``verify``)
    <keys dir>/root_ca.key   its private key (only used to issue a new signing certificate)
    <keys dir>/signer.pem    signing chain: leaf certificate followed by the root CA
    <keys dir>/signer.key    the leaf's private key (PKCS#8 PEM)

The keys directory is ``$DOPPELAB_HOME/keys`` when ``DOPPELAB_HOME`` is set (tests, portable
setups), else ``<platformdirs user config dir>/doppelab/keys``; every function also takes an
explicit ``keys_dir``. Private keys are never logged, printed or embedded in outputs: only the
certificate chain travels inside a signed manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from doppelab.core.errors import KeysExistError, KeysMissingError, OutputError
from doppelab.core.storage import atomic_write_bytes

APP = "doppelab"
ROOT_CERT = "root_ca.pem"
ROOT_KEY = "root_ca.key"
SIGNER_CHAIN = "signer.pem"
SIGNER_KEY = "signer.key"
ROOT_YEARS = 10
LEAF_YEARS = 2


def doppelab_home() -> Path | None:
    """``$DOPPELAB_HOME`` as a path, or None when unset or empty."""
    value = os.environ.get("DOPPELAB_HOME", "").strip()
    return Path(value).expanduser() if value else None


def default_keys_dir() -> Path:
    """Where keys live unless a caller names a folder (see the module docstring)."""
    home = doppelab_home()
    if home is not None:
        return home / "keys"
    return Path(platformdirs.user_config_dir(APP)) / "keys"


@dataclass(frozen=True, slots=True, kw_only=True)
class LabKeys:
    """Loaded signing material. ``chain_pem``: leaf then root; ``key_pem``: the leaf's key."""

    keys_dir: Path
    chain_pem: bytes
    key_pem: bytes
    root_pem: bytes

    def __repr__(self) -> str:  # never show the private key
        return f"LabKeys(keys_dir={str(self.keys_dir)!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertInfo:
    """What ``keys show`` prints about one certificate."""

    role: str
    subject: str
    sha256: str
    not_before: str
    not_after: str


def _name(common: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "doppelab lab (offline)"),
    ])


def _root_cert(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name("doppelab lab root CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_cert(key: ec.EllipticCurvePrivateKey, root: x509.Certificate,
               root_key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("doppelab content signer")).issuer_name(root.subject)
        .public_key(public).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)
    os.chmod(path, 0o600)


def generate_lab_pems() -> dict[str, bytes]:
    """A fresh root CA and signing chain as PEM bytes keyed by file name (nothing written)."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _root_cert(root_key, now)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_cert(leaf_key, root, root_key, now)
    return {
        ROOT_CERT: _cert_pem(root),
        ROOT_KEY: _key_pem(root_key),
        SIGNER_CHAIN: _cert_pem(leaf) + _cert_pem(root),
        SIGNER_KEY: _key_pem(leaf_key),
    }


def init_keys(keys_dir: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    """Create the lab root CA and signing certificate offline; returns the keys folder.

    Raises:
        KeysExistError: keys are already there and ``force`` is False.
        OutputError: the folder cannot be created or written.
    """
    folder = Path(keys_dir) if keys_dir is not None else default_keys_dir()
    if not force and any((folder / n).exists() for n in (SIGNER_KEY, SIGNER_CHAIN, ROOT_CERT)):
        raise KeysExistError(f"lab keys already exist in {folder} (use --force to replace "
                             "them; files signed before stay verifiable only with the old CA)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise OutputError(f"cannot create keys folder {folder}: {exc.strerror}") from exc
    pems = generate_lab_pems()
    for name in (ROOT_KEY, SIGNER_KEY):
        _write_private(folder / name, pems[name])
    for name in (ROOT_CERT, SIGNER_CHAIN):
        atomic_write_bytes(folder / name, pems[name])
    return folder


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeysMissingError(f"no lab signing keys in {path.parent} ({path.name} is missing): "
                               "run `doppelab keys init` first") from None
    except OSError as exc:
        raise KeysMissingError(f"cannot read {path} ({exc.strerror}): check its permissions "
                               "or run `doppelab keys init --force`") from None


def load_keys(keys_dir: str | os.PathLike[str] | None = None) -> LabKeys:
    """Load the signing chain, its key and the root CA certificate.

    Raises:
        KeysMissingError: a file is missing or unreadable (tells the user to run keys init).
    """
    folder = Path(keys_dir) if keys_dir is not None else default_keys_dir()
    return LabKeys(keys_dir=folder, chain_pem=_read(folder / SIGNER_CHAIN),
                   key_pem=_read(folder / SIGNER_KEY), root_pem=_read(folder / ROOT_CERT))


def load_trust_anchor(keys_dir: str | os.PathLike[str] | None = None) -> bytes | None:
    """The lab root CA certificate (PEM), or None when no keys were created here."""
    folder = Path(keys_dir) if keys_dir is not None else default_keys_dir()
    try:
        return (folder / ROOT_CERT).read_bytes()
    except OSError:
        return None


def _info(role: str, cert: x509.Certificate) -> CertInfo:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return CertInfo(role=role, subject=cert.subject.rfc4514_string(), sha256=digest,
                    not_before=cert.not_valid_before_utc.isoformat(),
                    not_after=cert.not_valid_after_utc.isoformat())


def describe_keys(keys_dir: str | os.PathLike[str] | None = None) -> list[CertInfo]:
    """Fingerprints (SHA-256 of the DER certificate) and validity of the root and leaf."""
    keys = load_keys(keys_dir)
    leaf = x509.load_pem_x509_certificates(keys.chain_pem)[0]
    root = x509.load_pem_x509_certificate(keys.root_pem)
    return [_info("root CA", root), _info("signer", leaf)]
