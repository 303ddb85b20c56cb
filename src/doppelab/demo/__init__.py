"""The whole loop on built-in material (``doppelab demo``): make test clips from public-domain
portraits that ship inside dependencies, extract faces, create a labelled fake (mesh, optionally
a small autoencoder), detect real vs fake, verify provenance, and write one HTML report (every
picture inlined) plus the same facts as JSON.

Example:
    >>> from doppelab.demo import DemoConfig, run_demo, write_report  # doctest: +SKIP
    >>> html_path, json_path = write_report(run_demo("demo", DemoConfig()))  # doctest: +SKIP

This layer sits just under the CLI: it uses the public functions of every stage.
"""

from __future__ import annotations

from doppelab.demo.report import write_report
from doppelab.demo.run import DemoConfig, DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo", "write_report"]
