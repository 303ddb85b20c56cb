"""Extraction: images and videos -> FaceSet (detect, track, align, mask, score, embed, cluster).

``doppelab.extract`` is both this package and the API call ``doppelab.extract(inputs, out)``:
importing a submodule (``doppelab.extract.faceset``) makes Python bind the package to the
attribute ``doppelab.extract``, which would hide the function. So the package itself is made
callable and forwards to :func:`doppelab.extract.pipeline.extract`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from doppelab.extract.pipeline import extract

        return extract(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
