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


def test_check_writable_creates_nothing_and_names_the_dir(tmp_path, monkeypatch):
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError

    check_writable(tmp_path / "new" / "deeper")  # would be made in tmp_path: fine
    (tmp_path / "plain").write_text("x")
    with pytest.raises(DataFormatError, match=r"plain/out: cannot be made: .*plain is not a directory"):
        check_writable(tmp_path / "plain" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]  # no probe file, no dir made

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(DataFormatError, match=r"out: output dir \(to be made in .*\) is not writable: Permission denied"):
        check_writable(tmp_path / "out")


def test_temp_dir_beside_has_plain_mkdir_permissions(tmp_path):
    from espnet_tagspeech.data.atomic import replace_dir, temp_dir_beside

    tmp = temp_dir_beside(tmp_path / "sub" / "out")
    assert tmp.parent == tmp_path / "sub" and tmp.name.startswith(".out.")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o777 & ~mask  # not the 0o700 of mkdtemp
    replace_dir(tmp, tmp_path / "sub" / "out")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out"]
