"""Write files atomically: to a temporary file beside the target, then rename."""

import contextlib
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

from espnet_tagspeech.data.errors import DataFormatError

PathLike = Union[str, "os.PathLike[str]"]


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Open ``path`` for writing so that it appears whole or not at all.

    The data goes to a temporary file in the same directory, which is renamed
    over ``path`` only when the ``with`` block ends without an exception.  The
    file gets the permissions a plain ``open`` would give it (``0o666`` minus
    the umask), not the private ``0o600`` of temporary files.

    Args:
        path: Destination file; its parent directory is created if needed.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: Text encoding (ignored in binary mode).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding, newline="\n")
        with f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def temp_dir_beside(dst: PathLike) -> Path:
    """A new empty directory next to ``dst`` (same file system, hidden name) to assemble
    ``dst`` in before :func:`replace_dir`; it gets the permissions a plain ``mkdir`` would
    give (``0o777`` minus the umask), not the private ``0o700`` of temporary dirs."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def replace_dir(tmp: PathLike, dst: PathLike) -> None:
    """Rename the finished directory ``tmp`` over ``dst``; an old ``dst`` is moved aside
    first and removed only once the new one is in place."""
    tmp, dst = Path(tmp), Path(dst)
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        tmp.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(dst)


def check_writable(path: PathLike) -> None:
    """Check, before any work, that files can be created in the directory ``path``.

    A directory that does not exist yet is checked where it would be made: in its
    nearest existing ancestor.  The check creates and removes one empty file, so it
    also catches what permission bits do not show (a read-only mount, an immutable
    directory, running as root).  Nothing is created when it fails.

    Args:
        path: The output directory.

    Raises:
        DataFormatError: naming ``path`` when nothing can be written there.
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise DataFormatError(str(path), None, f"cannot be made: {probe} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".write_check.", dir=probe)
    except OSError as e:
        what = "output dir" if probe == path else f"output dir (to be made in {probe})"
        raise DataFormatError(str(path), None, f"{what} is not writable: {e.strerror}") from None
    os.close(fd)
    os.unlink(tmp)
