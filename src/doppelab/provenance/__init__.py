"""Provenance: every generated file is watermarked, signed (C2PA) and fingerprinted; verify reads
every layer back.

Public entry points: :func:`doppelab.provenance.publish.label_image`,
:func:`doppelab.provenance.publish.label_video` (the only way a creation result is written),
:func:`doppelab.provenance.verify.verify`, :func:`doppelab.provenance.keys.init_keys`.
Modules: ``keys`` (offline lab CA), ``watermark`` (+ ``ecc``), ``manifest`` (C2PA),
``fingerprint`` (PDQ + SQLite registry), ``publish``, ``verify``.
"""
