"""Atomic output: a folder that exists but takes no new files gives a typed error."""

from __future__ import annotations

from pathlib import Path

import pytest

from doppelab.core.errors import OutputError
from doppelab.core.storage import atomic_dir, atomic_write_text, ensure_dir, same_file

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


def test_output_name_near_the_limit_is_written(tmp_path: Path) -> None:
    """A 250-byte name is legal; its temporary sibling (".NAME.xxxxxxxx.txt") used not to be."""
    final = tmp_path / ("n" * 246 + ".txt")
    atomic_write_text(final, "ok")
    assert final.read_text() == "ok" and [p.name for p in tmp_path.iterdir()] == [final.name]
    folder = tmp_path / ("d" * 250)
    with atomic_dir(folder) as tmp:
        (tmp / "x").write_text("1")
    assert (folder / "x").read_text() == "1"


@pytest.mark.parametrize("name", ["f" * 300 + ".txt", "/".join(["d" * 200] * 25)])
def test_exception_name_the_os_cannot_hold(tmp_path: Path, name: str) -> None:
    """ENAMETOOLONG is a typed output error, not an OSError from Path.is_dir()."""
    with pytest.raises(OutputError, match="too long"):
        atomic_write_text(tmp_path / name, "x")
    with pytest.raises(OutputError, match="too long"):
        ensure_dir(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_same_file(tmp_path: Path) -> None:
    a = tmp_path / "a.jpg"
    a.write_bytes(b"x")
    (tmp_path / "link.jpg").symlink_to(a)
    assert same_file(a, tmp_path / "link.jpg") and same_file(a, tmp_path / "." / "a.jpg")
    assert same_file(tmp_path / "new.html", tmp_path / "sub" / ".." / "new.html")
    assert not same_file(a, tmp_path / "b.jpg")


@pytest.mark.parametrize("kind", ["fifo", "char_device", "link_to_fifo"])
def test_exception_output_onto_a_device_or_fifo(tmp_path: Path, kind: str) -> None:
    """An output path that is a FIFO or a device node (``-o /dev/null``) is refused; the rename
    that ends an atomic write would replace the node with a regular file (fuzz round 5)."""
    import os
    import stat

    node = tmp_path / "node.json"
    if kind == "char_device":
        try:
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
        except PermissionError:
            pytest.skip("making a device node needs root")
    else:
        os.mkfifo(node)
    target = node
    if kind == "link_to_fifo":
        target = tmp_path / "link.json"
        target.symlink_to(node)
    before = node.lstat().st_mode
    with pytest.raises(OutputError, match="not a regular file"):
        atomic_write_text(target, "{}")
    with pytest.raises(OutputError, match="not a regular file"), atomic_dir(target):
        pass
    assert node.lstat().st_mode == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({node.name, target.name})
