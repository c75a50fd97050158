"""Readers and writers for RTTM, UEM, SegLST (meeteval JSON), STM and CTM.

All readers raise :class:`DataFormatError` naming the file and line of the
first malformed entry; all writers write atomically.
"""

import json
import math
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.turn import Turn, Word, sort_turns

PathLike = Union[str, Path]
Uem = Dict[str, Tuple[float, float]]


def _float(path: str, lineno: int, name: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise DataFormatError(path, lineno, f"{name} is not a number: {value!r}") from None
    if not math.isfinite(x):
        raise DataFormatError(path, lineno, f"{name} is not finite: {value!r}")
    return x


def _lines(path: PathLike) -> Iterable[Tuple[int, List[str]]]:
    """Yield (line number, fields) of a text file, skipping blanks and ``;;`` comments."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFormatError(str(path), None, "no such file") from None
    for lineno, bline in enumerate(raw.split(b"\n"), 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(str(path), lineno, f"not UTF-8 ({e.reason})") from None
        fields = line.split()
        if not fields or fields[0].startswith(";;") or fields[0].startswith("#"):
            continue
        yield lineno, fields


# ----------------------------------------------------------------------------- RTTM


def parse_rttm_line(fields: Sequence[str], path: str = "<string>", lineno: int = 1) -> Turn:
    """Parse the fields of one ``SPEAKER`` line of an RTTM file into a :class:`Turn`."""
    if len(fields) < 8:
        raise DataFormatError(
            path, lineno, f"RTTM line needs at least 8 fields, got {len(fields)}"
        )
    onset = _float(path, lineno, "onset", fields[3])
    dur = _float(path, lineno, "duration", fields[4])
    if onset < 0:
        raise DataFormatError(path, lineno, f"negative onset {onset}")
    if dur < 0:
        raise DataFormatError(path, lineno, f"negative duration {dur}")
    return Turn(fields[1], fields[7], onset, onset + dur)


def read_rttm(path: PathLike) -> List[Turn]:
    """Read the ``SPEAKER`` lines of an RTTM file.

    Other record types (``SPKR-INFO``, ``LEXEME``...) are skipped.

    Raises:
        DataFormatError: on the first malformed line, with its number.
    """
    turns = []
    for lineno, fields in _lines(path):
        if fields[0] != "SPEAKER":
            if fields[0].isupper() and fields[0].replace("-", "").isalpha():
                continue  # another NIST record type
            raise DataFormatError(
                str(path), lineno, f"expected an RTTM 'SPEAKER' line, got {fields[0]!r}"
            )
        turns.append(parse_rttm_line(fields, str(path), lineno))
    return turns


def format_rttm_line(turn: Turn, channel: str = "1") -> str:
    """Format one turn as an RTTM ``SPEAKER`` line (10 fields, no newline)."""
    return (
        f"SPEAKER {turn.recording} {channel} {turn.start:.3f} {turn.duration:.3f} "
        f"<NA> <NA> {turn.speaker} <NA> <NA>"
    )


def write_rttm(path: PathLike, turns: Iterable[Turn]) -> None:
    """Write turns as RTTM, sorted by recording and time."""
    with atomic_write(path) as f:
        for t in sort_turns(turns):
            f.write(format_rttm_line(t) + "\n")


# ----------------------------------------------------------------------------- UEM


def read_uem(path: PathLike) -> Uem:
    """Read a UEM file (``<file> <chan> <onset> <offset>``) into {file: (on, off)}.

    Several lines for one file are not supported and raise an error.
    """
    out: Uem = {}
    for lineno, fields in _lines(path):
        if len(fields) != 4:
            raise DataFormatError(str(path), lineno, f"UEM line needs 4 fields, got {len(fields)}")
        on = _float(str(path), lineno, "onset", fields[2])
        off = _float(str(path), lineno, "offset", fields[3])
        if on < 0 or off < on:
            raise DataFormatError(str(path), lineno, f"bad scoring region {on}-{off}")
        if fields[0] in out:
            raise DataFormatError(str(path), lineno, f"second region for {fields[0]!r}")
        out[fields[0]] = (on, off)
    return out


def write_uem(path: PathLike, uem: Uem) -> None:
    """Write {file: (onset, offset)} as a UEM file sorted by file id."""
    with atomic_write(path) as f:
        for key in sorted(uem):
            on, off = uem[key]
            f.write(f"{key} 1 {on:.3f} {off:.3f}\n")


# ----------------------------------------------------------------------------- SegLST

_SEGLST_KEYS = ("session_id", "speaker", "start_time", "end_time", "words")


def turns_to_seglst(turns: Iterable[Turn], word_level: bool = False) -> List[dict]:
    """Turn records to meeteval SegLST dicts.

    Args:
        turns: The turns.
        word_level: One entry per timed word instead of one per turn (needs word
            times; untimed words raise ``ValueError``).
    """
    out = []
    for t in sort_turns(turns):
        if not word_level:
            out.append(
                {
                    "session_id": t.recording,
                    "speaker": t.speaker,
                    "start_time": round(t.start, 3),
                    "end_time": round(t.end, 3),
                    "words": t.text,
                }
            )
            continue
        for w in t.words:
            if not w.timed:
                raise ValueError(f"word {w.text!r} of {t.recording} has no times")
            out.append(
                {
                    "session_id": t.recording,
                    "speaker": t.speaker,
                    "start_time": round(w.start, 3),
                    "end_time": round(w.end, 3),
                    "words": w.text,
                }
            )
    return out


def write_seglst(path: PathLike, turns: Iterable[Turn], word_level: bool = False) -> None:
    """Write turns as a meeteval SegLST JSON file."""
    data = turns_to_seglst(turns, word_level)
    with atomic_write(path) as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")


def read_seglst(path: PathLike) -> List[Turn]:
    """Read a meeteval SegLST JSON file into turns (words without times).

    Raises:
        DataFormatError: naming the entry index (as "line") of the first bad entry.
    """
    p = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(p, None, "no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(p, getattr(e, "lineno", None), f"not valid JSON: {e}") from None
    return seglst_to_turns(data, p)


def seglst_to_turns(data: object, source: str = "<seglst>") -> List[Turn]:
    """SegLST dicts (a parsed JSON list) into turns (words without times).

    Raises:
        DataFormatError: naming ``source`` and the entry index of the first bad entry.
    """
    p = source
    if not isinstance(data, list):
        raise DataFormatError(p, None, "SegLST must be a JSON list of segments")
    turns = []
    for i, seg in enumerate(data):
        where = f"{p} (entry {i})"
        if not isinstance(seg, dict):
            raise DataFormatError(where, None, "segment is not an object")
        missing = [k for k in _SEGLST_KEYS if k not in seg]
        if missing:
            raise DataFormatError(where, None, f"missing keys {missing}")
        try:
            start, end = float(seg["start_time"]), float(seg["end_time"])
            turns.append(
                Turn.from_text(
                    str(seg["session_id"]), str(seg["speaker"]), start, end, str(seg["words"])
                )
            )
        except (TypeError, ValueError) as e:
            raise DataFormatError(where, None, str(e)) from None
    return turns


# ----------------------------------------------------------------------------- STM / CTM


def write_stm(path: PathLike, turns: Iterable[Turn]) -> None:
    """Write turns as NIST STM (``file chan speaker start end words``)."""
    with atomic_write(path) as f:
        for t in sort_turns(turns):
            f.write(f"{t.recording} 1 {t.speaker} {t.start:.3f} {t.end:.3f} {t.text}\n")


def read_stm(path: PathLike) -> List[Turn]:
    """Read a NIST STM file; an optional ``<label>`` field after the times is skipped."""
    turns = []
    for lineno, fields in _lines(path):
        if len(fields) < 5:
            raise DataFormatError(str(path), lineno, f"STM line needs >= 5 fields, got {len(fields)}")
        start = _float(str(path), lineno, "start", fields[3])
        end = _float(str(path), lineno, "end", fields[4])
        words = fields[5:]
        if words and words[0].startswith("<") and words[0].endswith(">"):
            words = words[1:]
        try:
            turns.append(Turn.from_text(fields[0], fields[2], start, end, " ".join(words)))
        except ValueError as e:
            raise DataFormatError(str(path), lineno, str(e)) from None
    return turns


def write_ctm(path: PathLike, turns: Iterable[Turn], speaker_as_channel: bool = True) -> None:
    """Write the timed words of turns as CTM (``file chan start dur word``).

    With ``speaker_as_channel`` the channel field holds the speaker label, which
    keeps speaker attribution in a single file.
    """
    rows = []
    for t in turns:
        for w in t.words:
            if not w.timed:
                raise ValueError(f"word {w.text!r} of {t.recording} has no times")
            rows.append((t.recording, t.speaker if speaker_as_channel else "1", w.start, w.end, w.text))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    with atomic_write(path) as f:
        for rec, chan, s, e, word in rows:
            f.write(f"{rec} {chan} {s:.3f} {e - s:.3f} {word}\n")


def read_ctm(path: PathLike) -> List[Tuple[str, str, Word]]:
    """Read a CTM file into ``(file, channel, Word)`` rows."""
    rows = []
    for lineno, fields in _lines(path):
        if len(fields) < 5:
            raise DataFormatError(str(path), lineno, f"CTM line needs >= 5 fields, got {len(fields)}")
        s = _float(str(path), lineno, "start", fields[2])
        d = _float(str(path), lineno, "duration", fields[3])
        try:
            rows.append((fields[0], fields[1], Word(fields[4], s, s + d)))
        except ValueError as e:
            raise DataFormatError(str(path), lineno, str(e)) from None
    return rows


def rttm_extent(turns: Iterable[Turn]) -> Dict[str, Tuple[float, float]]:
    """Earliest start and latest end per recording."""
    ext: Dict[str, Tuple[float, float]] = {}
    for t in turns:
        lo, hi = ext.get(t.recording, (math.inf, -math.inf))
        ext[t.recording] = (min(lo, t.start), max(hi, t.end))
    return ext


def load_turns(path: PathLike, fmt: Optional[str] = None) -> List[Turn]:
    """Read turns from RTTM, SegLST (``.json``) or STM, chosen by ``fmt`` or suffix."""
    p = Path(path)
    fmt = fmt or {".rttm": "rttm", ".json": "seglst", ".stm": "stm"}.get(p.suffix, "rttm")
    if fmt == "rttm":
        return read_rttm(p)
    if fmt == "seglst":
        return read_seglst(p)
    if fmt == "stm":
        return read_stm(p)
    raise ValueError(f"unknown turn file format {fmt!r} (rttm, seglst, stm)")
