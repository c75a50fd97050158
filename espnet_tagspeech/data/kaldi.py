"""Kaldi data directories: reading and writing their files, loading their audio.

A Kaldi data dir is a folder of small text tables keyed by an id in the first
field (``wav.scp``, ``segments``, ``utt2spk``, ``spk2utt``, ``text``,
``reco2dur``, ``utt2dur``, ``utt2num_samples``), plus, in this project,
``rttm`` and ``uem`` files for diarization scoring.

Every reader raises :class:`DataFormatError` naming the file and line of a
malformed line (wrong number of fields, duplicate key, a number that is not
one, bad UTF-8).  :func:`scan_table` can instead collect every problem into a
list, which is what the validator and the fixer use.  Writers sort by key in C
locale byte order (for UTF-8 text that is Python's default ``str`` order) and
write atomically.
"""

import io
import math
import re
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm, read_uem, write_rttm, write_uem
from espnet_tagspeech.data.turn import Turn

PathLike = Union[str, Path]


class AudioReadError(RuntimeError):
    """Audio named by a ``wav.scp`` entry could not be read (the message names the key)."""


# ----------------------------------------------------------------------------- table specs


@dataclass(frozen=True)
class TableSpec:
    """How the lines of one kind of Kaldi table look.

    Args:
        name: File name inside a data dir (used in messages).
        min_fields: Fewest whitespace-separated fields on a line, key included.
        max_fields: Most fields, or ``None`` for no limit.
        value: How the value after the key is parsed: ``"rest"`` (the rest of the
            line as a string), ``"fields"`` (list of the other fields), ``"float"``
            or ``"int"`` (one non-negative number).
    """

    name: str
    min_fields: int
    max_fields: Optional[int]
    value: str = "rest"


SPECS: Dict[str, TableSpec] = {
    "wav.scp": TableSpec("wav.scp", 2, None, "rest"),
    "segments": TableSpec("segments", 4, 4, "fields"),
    "utt2spk": TableSpec("utt2spk", 2, 2, "rest"),
    "spk2utt": TableSpec("spk2utt", 2, None, "fields"),
    "text": TableSpec("text", 1, None, "rest"),
    "reco2dur": TableSpec("reco2dur", 2, 2, "float"),
    "utt2dur": TableSpec("utt2dur", 2, 2, "float"),
    "utt2num_samples": TableSpec("utt2num_samples", 2, 2, "int"),
    "spk2gender": TableSpec("spk2gender", 2, 2, "rest"),
}
"""Specs of the tables this module knows, by file name."""

GENERIC_SPEC = TableSpec("scp", 2, None, "rest")
"""Spec for any other ``key value...`` table (``feats.scp``, ``utt2lang``, ...)."""


class Entry(NamedTuple):
    """One parsed line of a table: its 1-based line number, key and value."""

    lineno: int
    key: str
    value: object


class Segment(NamedTuple):
    """One line of a ``segments`` file (times in seconds)."""

    recording: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length of the segment in seconds."""
        return self.end - self.start


def _parse_value(spec: TableSpec, fields: List[str], rest: str, path: str, lineno: int) -> object:
    if spec.value == "rest":
        return rest
    if spec.value == "fields":
        return fields[1:]
    try:
        x: Union[int, float] = int(fields[1]) if spec.value == "int" else float(fields[1])
        if not math.isfinite(x):
            raise ValueError(fields[1])
    except ValueError:
        what = "an integer" if spec.value == "int" else "a number"
        raise DataFormatError(path, lineno, f"value of {fields[0]!r} is not {what}: {fields[1]!r}") from None
    if x < 0:
        raise DataFormatError(path, lineno, f"negative value for {fields[0]!r}: {fields[1]}")
    return x


def _parse_segment(fields: List[str], path: str, lineno: int) -> Segment:
    """Turn the fields after the key of a ``segments`` line into a :class:`Segment`."""
    reco, s, e = fields
    try:
        start, end = float(s), float(e)
    except ValueError:
        raise DataFormatError(path, lineno, f"segment times are not numbers: {s!r} {e!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise DataFormatError(path, lineno, f"segment times are not finite: {s} {e}")
    if start < 0:
        raise DataFormatError(path, lineno, f"negative segment start {s}")
    if end <= start:
        raise DataFormatError(path, lineno, f"segment end {e} is not after its start {s}")
    return Segment(reco, start, end)


def scan_table(
    path: PathLike,
    spec: Optional[TableSpec] = None,
    problems: Optional[List[DataFormatError]] = None,
    display: Optional[str] = None,
) -> List[Entry]:
    """Parse a Kaldi table line by line.

    Args:
        path: The file.
        spec: Its spec; by default looked up by file name in :data:`SPECS`
            (``segments`` values become :class:`Segment`).
        problems: When given, every problem is appended to it and the bad line
            is skipped (for duplicates: the later line); otherwise the first
            problem is raised.
        display: Name used for the file in messages (default: ``path``).

    Returns:
        The good entries in file order.

    Raises:
        DataFormatError: on the first problem when ``problems`` is ``None``,
            and when the file does not exist.
    """
    path = Path(path)
    name = display or str(path)
    spec = spec or SPECS.get(path.name, GENERIC_SPEC)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(name, None, "no such file") from None
    entries: List[Entry] = []
    seen: Dict[str, int] = {}
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, bline in enumerate(lines, 1):
        try:
            entry = _scan_line(bline, lineno, spec, name, seen)
        except DataFormatError as err:
            if problems is None:
                raise
            problems.append(err)
            continue
        seen[entry.key] = lineno
        entries.append(entry)
    return entries


def _scan_line(bline: bytes, lineno: int, spec: TableSpec, name: str, seen: Dict[str, int]) -> Entry:
    try:
        line = bline.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(name, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if line.endswith("\r"):
        raise DataFormatError(name, lineno, "line ends with a carriage return (DOS line ending)")
    fields = line.split()
    if not fields:
        raise DataFormatError(name, lineno, "empty line")
    if line[0].isspace():
        raise DataFormatError(name, lineno, "line starts with whitespace")
    n = len(fields)
    if n < spec.min_fields or (spec.max_fields is not None and n > spec.max_fields):
        lo, hi = spec.min_fields, spec.max_fields
        want = f"at least {lo}" if hi is None else str(lo) if lo == hi else f"{lo}-{hi}"
        raise DataFormatError(name, lineno, f"expected {want} fields, got {n}")
    key = fields[0]
    if key in seen:
        raise DataFormatError(name, lineno, f"duplicate key {key!r} (first on line {seen[key]})")
    rest = line[len(key):].strip()
    if spec.name == "segments":
        value: object = _parse_segment(fields[1:], name, lineno)
    else:
        value = _parse_value(spec, fields, rest, name, lineno)
    return Entry(lineno, key, value)


# ----------------------------------------------------------------------------- readers


def _read(path: PathLike, spec_name: str) -> "OrderedDict[str, object]":
    return OrderedDict((e.key, e.value) for e in scan_table(path, SPECS[spec_name]))


def read_scp(path: PathLike) -> "OrderedDict[str, str]":
    """Read any ``key value...`` table into {key: rest of line}."""
    return OrderedDict((e.key, str(e.value)) for e in scan_table(path, GENERIC_SPEC))


def read_wav_scp(path: PathLike) -> "OrderedDict[str, str]":
    """Read ``wav.scp`` into {recording: entry} (a path, ``cmd |`` or ``file.ark:offset``)."""
    return _read(path, "wav.scp")  # type: ignore[return-value]


def read_segments(path: PathLike) -> "OrderedDict[str, Segment]":
    """Read ``segments`` (``utt reco start end``) into {utt: Segment}."""
    return _read(path, "segments")  # type: ignore[return-value]


def read_utt2spk(path: PathLike) -> "OrderedDict[str, str]":
    """Read ``utt2spk`` into {utt: speaker}."""
    return _read(path, "utt2spk")  # type: ignore[return-value]


def read_spk2utt(path: PathLike) -> "OrderedDict[str, List[str]]":
    """Read ``spk2utt`` into {speaker: [utt, ...]}."""
    return _read(path, "spk2utt")  # type: ignore[return-value]


def read_text(path: PathLike) -> "OrderedDict[str, str]":
    """Read ``text`` into {utt: transcript} (the transcript may be empty)."""
    return _read(path, "text")  # type: ignore[return-value]


def read_durations(path: PathLike) -> "OrderedDict[str, float]":
    """Read ``reco2dur`` or ``utt2dur`` into {key: seconds}."""
    entries = scan_table(path, SPECS["reco2dur"])
    return OrderedDict((e.key, float(e.value)) for e in entries)  # type: ignore[arg-type]


def read_num_samples(path: PathLike) -> "OrderedDict[str, int]":
    """Read ``utt2num_samples`` into {utt: number of samples}."""
    return _read(path, "utt2num_samples")  # type: ignore[return-value]


# ----------------------------------------------------------------------------- writers


def write_table(path: PathLike, table: Mapping[str, object]) -> None:
    """Write {key: value} as ``key value`` lines sorted by key, atomically.

    Values may be strings, numbers (floats written with 3 decimals), lists of
    strings (joined by spaces) or :class:`Segment`.  An empty string value
    writes the key alone (as ``text`` allows).

    Raises:
        ValueError: if a key is empty or contains whitespace.
    """
    with atomic_write(path) as f:
        for key in sorted(table):
            if not key or any(c.isspace() for c in key):
                raise ValueError(f"{path}: bad key {key!r}")
            value = table[key]
            if isinstance(value, Segment):
                text = f"{value.recording} {value.start:.3f} {value.end:.3f}"
            elif isinstance(value, float):
                text = f"{value:.3f}"
            elif isinstance(value, (list, tuple)):
                text = " ".join(str(v) for v in value)
            else:
                text = str(value)
            f.write(f"{key} {text}\n" if text else f"{key}\n")


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> "OrderedDict[str, List[str]]":
    """Invert {utt: speaker} into {speaker: [utts sorted]}, speakers sorted."""
    out: Dict[str, List[str]] = {}
    for utt in sorted(utt2spk):
        out.setdefault(utt2spk[utt], []).append(utt)
    return OrderedDict((spk, out[spk]) for spk in sorted(out))


def spk2utt_to_utt2spk(spk2utt: Mapping[str, Iterable[str]]) -> "OrderedDict[str, str]":
    """Invert {speaker: [utts]} into {utt: speaker} sorted by utt.

    Raises:
        ValueError: if an utterance is listed under two speakers.
    """
    out: Dict[str, str] = {}
    for spk, utts in spk2utt.items():
        for utt in utts:
            if utt in out and out[utt] != spk:
                raise ValueError(f"utterance {utt!r} is listed under {out[utt]!r} and {spk!r}")
            out[utt] = spk
    return OrderedDict((u, out[u]) for u in sorted(out))


# ----------------------------------------------------------------------------- audio

_ARK_RE = re.compile(r"^(?:ark:)?(?P<path>.+):(?P<offset>\d+)(?P<slice>\[[^\]]*\])?$")


def wav_entry_kind(entry: str) -> str:
    """Classify a ``wav.scp`` value: ``"pipe"``, ``"ark"`` or ``"file"``."""
    entry = entry.strip()
    if entry.endswith("|"):
        return "pipe"
    if _ARK_RE.match(entry) and not Path(entry).exists():
        return "ark"
    return "file"


def wav_entry_path(entry: str) -> Optional[str]:
    """The file an entry reads (the ark for ``file.ark:123``), ``None`` for a pipe."""
    kind, entry = wav_entry_kind(entry), entry.strip()
    m = _ARK_RE.match(entry)
    return None if kind == "pipe" else m.group("path") if kind == "ark" and m else entry


def _to_float32(data: np.ndarray) -> np.ndarray:
    if np.issubdtype(data.dtype, np.integer):  # int16 PCM -> [-1, 1)
        return (data / (float(np.iinfo(data.dtype).max) + 1.0)).astype(np.float32)
    return data.astype(np.float32, copy=False)


def _decode_wav_bytes(data: bytes, what: str) -> Tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    except Exception as e:  # soundfile raises RuntimeError / LibsndfileError subclasses
        raise AudioReadError(f"{what}: output is not readable audio ({e})") from None
    return audio, int(rate)


def load_audio(entry: str, key: Optional[str] = None, timeout: Optional[float] = None) -> Tuple[np.ndarray, int]:
    """Load the audio of one ``wav.scp`` value.

    Three forms are understood: a sound file path (anything libsndfile
    reads), a shell command ending in ``|`` whose standard output is a sound
    file (run with ``bash``), and ``file.ark:offset`` pointing into a Kaldi
    archive of ``(rate, samples)`` wave matrices (read with kaldiio).

    Args:
        entry: The value after the key on a ``wav.scp`` line.
        key: The recording id, used in error messages.
        timeout: Seconds a pipe command may run.

    Returns:
        ``(samples, sample_rate)``: float32 in [-1, 1], shape ``(n,)`` for mono
        and ``(n, channels)`` otherwise.

    Raises:
        AudioReadError: when the file is missing or unreadable, or the command fails.
    """
    what = f"wav.scp key {key!r}" if key is not None else f"wav.scp entry {entry!r}"
    entry = entry.strip()
    kind = wav_entry_kind(entry)
    if kind == "pipe":
        cmd = entry[:-1].strip()
        try:
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AudioReadError(f"{what}: command timed out after {timeout} s: {cmd}") from None
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise AudioReadError(
                f"{what}: command failed with exit code {proc.returncode}: {cmd}"
                + (f" ({' / '.join(tail)})" if tail else "")
            )
        return _decode_wav_bytes(proc.stdout, what)
    if kind == "ark":
        import kaldiio

        ark = wav_entry_path(entry)
        if not Path(str(ark)).exists():
            raise AudioReadError(f"{what}: no such archive {ark}")
        try:
            loaded = kaldiio.load_mat(entry[4:] if entry.startswith("ark:") else entry)
        except Exception as e:
            raise AudioReadError(f"{what}: cannot read {entry} ({e})") from None
        if not (isinstance(loaded, tuple) and len(loaded) == 2):
            raise AudioReadError(f"{what}: {entry} holds a matrix, not (rate, samples) audio")
        rate, data = loaded
        return _to_float32(np.asarray(data)), int(rate)
    import soundfile as sf

    if not Path(entry).is_file():
        raise AudioReadError(f"{what}: no such file {entry}")
    try:
        audio, rate = sf.read(entry, dtype="float32")
    except Exception as e:
        raise AudioReadError(f"{what}: cannot read {entry} ({e})") from None
    return audio, int(rate)


def read_segment(
    entry: str,
    start: float,
    end: Optional[float] = None,
    key: Optional[str] = None,
    tolerance: float = 0.01,
) -> Tuple[np.ndarray, int]:
    """Cut ``[start, end)`` seconds out of the recording a ``wav.scp`` value names.

    Plain sound files are read partially; pipes and archives are loaded whole.

    Args:
        entry: The ``wav.scp`` value.
        start: Start in seconds (``>= 0``).
        end: End in seconds, or ``None`` for the end of the recording.
        key: Recording id for error messages.
        tolerance: An end up to this many seconds past the recording's end is
            clipped; more is an error.

    Returns:
        ``(samples, sample_rate)`` as for :func:`load_audio`.

    Raises:
        AudioReadError: if the audio cannot be read or the span lies outside it.
    """
    what = f"wav.scp key {key!r}" if key is not None else f"wav.scp entry {entry!r}"
    if start < 0 or (end is not None and end <= start):
        raise AudioReadError(f"{what}: bad segment {start}-{end}")
    if wav_entry_kind(entry) == "file":
        import soundfile as sf

        path = entry.strip()
        try:
            info = sf.info(path)
        except Exception as e:
            raise AudioReadError(f"{what}: cannot read {path} ({e})") from None
        rate, total = int(info.samplerate), int(info.frames)
        first, last = _span_to_samples(start, end, rate, total, tolerance, what)
        audio, _ = sf.read(path, start=first, stop=last, dtype="float32")
        return audio, rate
    audio, rate = load_audio(entry, key)
    first, last = _span_to_samples(start, end, rate, audio.shape[0], tolerance, what)
    return audio[first:last], rate


def _span_to_samples(
    start: float, end: Optional[float], rate: int, total: int, tolerance: float, what: str
) -> Tuple[int, int]:
    first = int(round(start * rate))
    last = total if end is None else int(round(end * rate))
    if last > total + int(round(tolerance * rate)) or first >= total:
        raise AudioReadError(
            f"{what}: segment {start}-{end} s lies outside the recording ({total / rate:.3f} s)"
        )
    return first, min(last, total)


# ----------------------------------------------------------------------------- data dir


class Utterance(NamedTuple):
    """One utterance of a data dir with everything the tables say about it."""

    utt: str
    recording: str
    speaker: str
    start: float
    end: Optional[float]
    text: Optional[str]


class KaldiDataDir:
    """A Kaldi data dir whose files are read lazily, once.

    Args:
        path: The directory.

    Absent optional files read as ``None``; ``utt2spk`` is required by
    :attr:`utterances` and :meth:`utterance`.
    """

    _READERS: Dict[str, Callable[[PathLike], object]] = {
        "wav.scp": read_wav_scp, "segments": read_segments, "utt2spk": read_utt2spk,
        "spk2utt": read_spk2utt, "text": read_text, "reco2dur": read_durations,
        "utt2dur": read_durations, "utt2num_samples": read_num_samples, "rttm": read_rttm, "uem": read_uem,
    }  # fmt: skip

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._cache: Dict[str, object] = {}

    def __repr__(self) -> str:
        return f"KaldiDataDir({str(self.path)!r})"

    def has(self, name: str) -> bool:
        """Whether the file ``name`` exists in the directory."""
        return (self.path / name).is_file()

    def get(self, name: str) -> Optional[object]:
        """The parsed content of file ``name`` (see the properties), ``None`` if absent."""
        if name not in self._cache:
            reader = self._READERS.get(name, read_scp)
            self._cache[name] = reader(self.path / name) if self.has(name) else None
        return self._cache[name]

    def _required(self, name: str) -> object:
        value = self.get(name)
        if value is None:
            raise DataFormatError(str(self.path / name), None, "no such file")
        return value

    wav_scp = property(lambda self: self.get("wav.scp"), doc="{recording: wav.scp entry} or None.")
    segments = property(lambda self: self.get("segments"), doc="{utt: Segment} or None.")
    utt2spk = property(lambda self: self.get("utt2spk"), doc="{utt: speaker} or None.")
    spk2utt = property(lambda self: self.get("spk2utt"), doc="{speaker: [utts]} or None.")
    text = property(lambda self: self.get("text"), doc="{utt: transcript} or None.")
    reco2dur = property(lambda self: self.get("reco2dur"), doc="{recording: seconds} or None.")
    utt2dur = property(lambda self: self.get("utt2dur"), doc="{utt: seconds} or None.")
    rttm = property(lambda self: self.get("rttm"), doc="List of Turn from rttm, or None.")
    uem = property(lambda self: self.get("uem"), doc="{recording: (on, off)} from uem, or None.")

    @property
    def utterances(self) -> List[str]:
        """Utterance ids (keys of ``utt2spk``) in sorted order."""
        return sorted(self._required("utt2spk"))  # type: ignore[arg-type]

    @property
    def recordings(self) -> List[str]:
        """Recording ids: keys of ``wav.scp`` (or of ``segments``' recordings without it)."""
        if self.wav_scp is not None:
            return sorted(self.wav_scp)
        if self.segments is not None:
            return sorted({s.recording for s in self.segments.values()})
        return self.utterances

    @property
    def speakers(self) -> List[str]:
        """Speaker ids from ``utt2spk``, sorted."""
        return sorted(set(self._required("utt2spk").values()))  # type: ignore[attr-defined]

    def utterance(self, utt: str) -> Utterance:
        """Everything known about utterance ``utt``.

        Raises:
            KeyError: if ``utt`` is not in ``utt2spk``.
        """
        utt2spk = self._required("utt2spk")
        speaker = utt2spk[utt]  # type: ignore[index]
        text = self.text.get(utt) if self.text is not None else None
        if self.segments is not None:
            seg = self.segments[utt]
            return Utterance(utt, seg.recording, speaker, seg.start, seg.end, text)
        return Utterance(utt, utt, speaker, 0.0, None, text)

    def load_utterance(self, utt: str) -> Tuple[np.ndarray, int]:
        """Audio of utterance ``utt`` (its segment, or the whole recording)."""
        u = self.utterance(utt)
        wav = self._required("wav.scp")
        entry = wav[u.recording]  # type: ignore[index]
        if self.segments is None:
            return load_audio(entry, u.recording)
        return read_segment(entry, u.start, u.end, key=u.recording)

    def write(
        self,
        wav_scp: Optional[Mapping[str, str]] = None,
        segments: Optional[Mapping[str, Segment]] = None,
        utt2spk: Optional[Mapping[str, str]] = None,
        text: Optional[Mapping[str, str]] = None,
        reco2dur: Optional[Mapping[str, float]] = None,
        utt2dur: Optional[Mapping[str, float]] = None,
        rttm: Optional[Iterable[Turn]] = None,
        uem: Optional[Mapping[str, Tuple[float, float]]] = None,
        **tables: Mapping[str, object],
    ) -> None:
        """Write the given files (sorted, atomically); ``spk2utt`` follows ``utt2spk``.

        Extra keyword tables are written under their name with dots for
        ``_scp`` suffixes (``feats_scp=...`` writes ``feats.scp``).
        """
        named: Dict[str, Optional[Mapping[str, object]]] = dict(
            zip(("wav.scp", "segments", "utt2spk", "text", "reco2dur", "utt2dur"),
                (wav_scp, segments, utt2spk, text, reco2dur, utt2dur))
        )
        named.update((n[:-4] + ".scp" if n.endswith("_scp") else n, t) for n, t in tables.items())
        if utt2spk is not None:
            named["spk2utt"] = utt2spk_to_spk2utt(utt2spk)
        self.path.mkdir(parents=True, exist_ok=True)
        for name, table in named.items():
            if table is not None:
                write_table(self.path / name, table)
                self._cache.pop(name, None)
        for name, value, writer in (("rttm", rttm, write_rttm), ("uem", uem, write_uem)):
            if value is not None:
                writer(self.path / name, value)  # type: ignore[operator]
                self._cache.pop(name, None)
