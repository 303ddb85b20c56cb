"""Lab keys: offline CA + ES256 leaf in the profile c2pa accepts; 0600; missing-key error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from doppelab.core.errors import KeysExistError, KeysMissingError
from doppelab.provenance import keys


def test_init_writes_private_keys_0600(home: Path) -> None:
    folder = keys.init_keys()
    assert folder == home / "keys"
    for name in (keys.ROOT_KEY, keys.SIGNER_KEY):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert not list(folder.glob(".*"))  # no temporaries left


def test_leaf_profile(home: Path) -> None:
    chain = x509.load_pem_x509_certificates(keys.load_keys(keys.init_keys()).chain_pem)
    leaf, root = chain[0], chain[1]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.issuer == root.subject


def test_exception_init_twice_and_missing(home: Path, tmp_path: Path) -> None:
    with pytest.raises(KeysMissingError, match="doppelab keys init"):
        keys.load_keys()
    keys.init_keys()
    with pytest.raises(KeysExistError):
        keys.init_keys()
    keys.init_keys(force=True)
    with pytest.raises(KeysMissingError, match="doppelab keys init"):
        keys.load_keys(tmp_path / "elsewhere")


def test_describe_and_repr_hide_private_key(home: Path) -> None:
    loaded = keys.load_keys(keys.init_keys())
    assert "PRIVATE" not in repr(loaded)
    infos = keys.describe_keys()
    assert [i.role for i in infos] == ["root CA", "signer"]
    assert all(len(i.sha256) == 64 for i in infos)
