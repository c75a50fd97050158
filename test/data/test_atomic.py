"""Tests of atomic file writing (espnet_tagspeech/data/atomic.py)."""

import os
import stat

import pytest

from espnet_tagspeech.data.atomic import atomic_write


def test_whole_file_with_plain_open_permissions(tmp_path):
    with atomic_write(tmp_path / "sub" / "a.txt") as f:
        f.write("hello\n")
    out = tmp_path / "sub" / "a.txt"
    assert out.read_text() == "hello\n"
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # not the 0o600 of temp files
    assert [p.name for p in out.parent.iterdir()] == ["a.txt"]  # no temporary left


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "b.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(out, "wb") as f:
            f.write(b"new, half")
            raise RuntimeError("killed")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]
