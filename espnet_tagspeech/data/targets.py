"""Kaldi ``text`` files of serialized TagSpeech targets (``key target``, newlines escaped)."""

from pathlib import Path
from typing import Iterator, List, Tuple


def iter_targets(path: str) -> Iterator[Tuple[int, str, str]]:
    """``(line number, key, target)`` of a Kaldi ``text`` file (newlines unescaped).

    Raises:
        DataFormatError: no such file, a line that is not UTF-8, ends with a carriage
            return (a DOS line ending would become part of the target) or has no target.
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.serialization import line_to_target

    if not Path(path).is_file():
        raise DataFormatError(path, None, "no such text file")
    raw = Path(path).read_bytes()
    for lineno, bline in enumerate(raw.split(b"\n"), 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if line.endswith("\r"):
            raise DataFormatError(path, lineno, "line ends with a carriage return (DOS line ending)")
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) != 2:
            raise DataFormatError(path, lineno, f"key {parts[0]!r} has no target")
        yield lineno, parts[0], line_to_target(parts[1])


def read_targets(path: str) -> List[str]:
    """Targets of a Kaldi ``text`` file (newlines unescaped).

    Raises:
        DataFormatError: a line without a target, or no target at all.
    """
    from espnet_tagspeech.data.errors import DataFormatError

    out = [target for _, _, target in iter_targets(path)]
    if not out:
        raise DataFormatError(path, None, "no targets")
    return out
