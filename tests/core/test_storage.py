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


def test_outputs_follow_the_umask_and_keep_an_existing_mode(tmp_path: Path) -> None:
    """mkstemp/mkdtemp make 0600/0700 temporaries; the renamed output must get what a plain
    open()/mkdir() would give (umask 022: 0644/0755), or the mode of the file it replaces."""
    import os
    import stat

    from doppelab.core.storage import atomic_dir, atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
        with atomic_dir(tmp_path / "set") as d:
            (d / "f").write_bytes(b"y")
        assert stat.S_IMODE((tmp_path / "set").stat().st_mode) == 0o755
        os.chmod(tmp_path / "a.bin", 0o600)
        atomic_write_bytes(tmp_path / "a.bin", b"z")
        assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o600
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "b.bin", b"x")
        assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o600
    finally:
        os.umask(old)
