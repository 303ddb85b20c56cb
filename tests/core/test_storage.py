"""Atomic output: a folder that exists but takes no new files gives a typed error."""

from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.core.errors import OutputError
from doppelab.core.storage import atomic_dir, atomic_write_text

PROC = Path("/proc")


@pytest.mark.skipif(not (PROC / "self").exists(), reason="needs Linux /proc")
def test_folder_without_room_for_a_temporary() -> None:
    with pytest.raises(OutputError, match="cannot write /proc/doppelab_test"):
        atomic_write_text(PROC / "doppelab_test.html", "x")
    with pytest.raises(OutputError, match="cannot write /proc/doppelab_test"), \
            atomic_dir(PROC / "doppelab_test.faceset"):
        pass
