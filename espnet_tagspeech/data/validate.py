"""Validate a Kaldi data dir and report every problem as ``file:line: message``.

Checks, per file: UTF-8, field counts, numbers, duplicate keys, C-locale sort
order.  Across files: the same utterances in ``utt2spk``, ``text``,
``segments``, ``utt2dur`` and ``utt2num_samples``; ``spk2utt`` the inverse of
``utt2spk``; segments' recordings in ``wav.scp``; ``reco2dur`` covering
``wav.scp``; segments inside their recording; ``utt2dur`` matching segment
lengths; ``rttm`` / ``uem`` lines parsing and naming known recordings inside
their duration.  Optionally the audio: files exist, or (``audio="read"``)
are readable, mono, at the expected sample rate, not empty and free of NaN or
infinite samples.

Unlike the readers in :mod:`espnet_tagspeech.data.kaldi`, nothing stops at the
first problem: the report lists them all.
"""

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import parse_rttm_line
from espnet_tagspeech.data.kaldi import (
    SPECS,
    AudioReadError,
    Entry,
    Segment,
    load_audio,
    scan_table,
    wav_entry_kind,
    wav_entry_path,
)

PathLike = Union[str, Path]
UTT_FILES = ("text", "segments", "utt2dur", "utt2num_samples")
"""Files keyed by utterance that must list exactly the utterances of ``utt2spk``."""
AUDIO_MODES = ("none", "exists", "read")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data dir.

    Args:
        path: The file (as shown to the user).
        line: 1-based line, or ``None`` for a whole-file problem.
        message: What is wrong.
        warning: A warning does not make the data dir invalid.
    """

    path: str
    line: Optional[int]
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {'warning: ' if self.warning else ''}{self.message}"


@dataclass
class Report:
    """What :func:`validate_data_dir` found."""

    data_dir: str
    problems: List[Problem] = field(default_factory=list)
    counts: Dict[str, int] = field(default_factory=dict)
    hours: Optional[float] = None

    @property
    def errors(self) -> List[Problem]:
        """Problems that make the data dir invalid."""
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> List[Problem]:
        """Problems that do not."""
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    def summary(self) -> str:
        """One line: OK or the number of errors, with the dir's sizes."""
        sizes = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        if self.hours is not None:
            sizes += f", {self.hours:.2f} h"
        if self.ok:
            n = len(self.warnings)
            warn = f", {n} warning{'' if n == 1 else 's'}" if n else ""
            return f"{self.data_dir}: OK ({sizes}{warn})"
        return f"{self.data_dir}: {len(self.errors)} errors, {len(self.warnings)} warnings ({sizes})"


class _Checker:
    def __init__(self, data_dir: PathLike, tolerance: float) -> None:
        self.dir = Path(data_dir)
        self.tol = tolerance
        self.problems: List[Problem] = []
        self.entries: Dict[str, List[Entry]] = {}
        self.bad_keys: Dict[str, Set[str]] = {}
        self._tables: Dict[str, Dict[str, Entry]] = {}

    def name(self, file: str) -> str:
        return str(self.dir / file)

    def add(self, file: str, line: Optional[int], message: str, warning: bool = False) -> None:
        self.problems.append(Problem(self.name(file), line, message, warning))

    def table(self, file: str) -> Optional[Dict[str, Entry]]:
        if file not in self.entries:
            return None
        if file not in self._tables:
            self._tables[file] = {e.key: e for e in self.entries[file]}
        return self._tables[file]

    def load(self, file: str) -> None:
        """Scan a table, collecting format problems, and check its sort order."""
        path = self.dir / file
        errs: List[DataFormatError] = []
        entries = scan_table(path, SPECS[file], errs, display=self.name(file))
        lines = path.read_bytes().split(b"\n")
        bad: Set[str] = set()
        for err in errs:
            self.problems.append(Problem(err.path, err.line, err.message))
            if err.line is not None and "duplicate key" not in err.message:
                first = lines[err.line - 1].split()
                if first:
                    bad.add(first[0].decode("utf-8", "replace"))
        prev: Optional[Entry] = None
        for e in entries:
            if prev is not None and e.key < prev.key:
                self.add(
                    file,
                    e.lineno,
                    f"not sorted: {e.key!r} after {prev.key!r} (line {prev.lineno}); "
                    "sort with LC_ALL=C sort",
                )
            prev = e
        self.entries[file] = entries
        self.bad_keys[file] = bad

    def same_keys(self, file_a: str, file_b: str, what: str) -> None:
        """Report keys of ``file_a`` missing in ``file_b`` and the other way round."""
        a, b = self.table(file_a), self.table(file_b)
        if a is None or b is None:
            return
        for x, y, other in ((file_a, a, b), (file_b, b, a)):
            peer = file_b if x == file_a else file_a
            for key, e in y.items():
                if key not in other and key not in self.bad_keys[peer]:
                    self.add(x, e.lineno, f"{what} {key!r} has no line in {peer}")


def _lines(path: Path) -> Iterable[Tuple[int, Optional[str], str]]:
    """Yield (line number, decoded line or None, reason) for every line of a file."""
    raw = path.read_bytes().split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    for n, b in enumerate(raw, 1):
        try:
            yield n, b.decode("utf-8"), ""
        except UnicodeDecodeError as e:
            yield n, None, f"not valid UTF-8 ({e.reason} at byte {e.start})"


def validate_data_dir(
    data_dir: PathLike,
    text: bool = True,
    audio: str = "exists",
    sample_rate: int = 16000,
    tolerance: float = 0.01,
    spk_sort: bool = True,
    progress: bool = False,
) -> Report:
    """Check a Kaldi data dir and collect every problem.

    Args:
        data_dir: The directory.
        text: Require a ``text`` file (it is checked whenever present).
        audio: ``"none"`` (``wav.scp`` optional, audio not looked at),
            ``"exists"`` (files and archives named in ``wav.scp`` exist) or
            ``"read"`` (also read: sample rate, mono, non-empty, length vs ``reco2dur``).
        sample_rate: Expected rate for ``audio="read"``.
        tolerance: Seconds a segment or turn may extend past its recording.
        spk_sort: Warn when a speaker's utterances are not contiguous in sorted
            utterance order (Kaldi's per-speaker tools need speaker-prefixed ids).
        progress: Show a progress bar while reading audio.

    Returns:
        The :class:`Report`; ``report.ok`` is False if any error was found.
    """
    if audio not in AUDIO_MODES:
        raise ValueError(f"audio must be one of {AUDIO_MODES}, got {audio!r}")
    c = _Checker(data_dir, tolerance)
    if not c.dir.is_dir():
        c.problems.append(Problem(str(c.dir), None, "not a directory"))
        return Report(str(c.dir), c.problems)
    required = ["utt2spk", "spk2utt"] + (["text"] if text else []) + ([] if audio == "none" else ["wav.scp"])
    for file in SPECS:
        if (c.dir / file).is_file():
            c.load(file)
        elif file in required:
            c.add(file, None, "missing (required)")
    _check_ids(c, spk_sort)
    _check_times(c)
    _check_rttm(c)
    _check_uem(c)
    if audio != "none" and "wav.scp" in c.entries:
        _check_audio(c, audio == "read", sample_rate, progress)
    order = {str(c.dir / f): i for i, f in enumerate(list(SPECS) + ["rttm", "uem"])}
    problems = sorted(c.problems, key=lambda p: (order.get(p.path, len(order)), p.path, p.line or 0))
    report = Report(str(c.dir), problems)
    utt2spk = c.table("utt2spk") or {}
    report.counts = {
        "utterances": len(utt2spk),
        "speakers": len({str(e.value) for e in utt2spk.values()}),
        "recordings": len(c.table("wav.scp") or {}),
    }
    segs = c.table("segments")
    durs = c.table("utt2dur") or (c.table("reco2dur") if segs is None else None)
    if segs is not None:
        report.hours = sum(e.value.duration for e in segs.values()) / 3600  # type: ignore[attr-defined]
    elif durs:
        report.hours = sum(float(e.value) for e in durs.values()) / 3600  # type: ignore[arg-type]
    return report


def _check_ids(c: _Checker, spk_sort: bool) -> None:
    utt2spk = c.table("utt2spk")
    if utt2spk is not None:
        for file in UTT_FILES:
            c.same_keys("utt2spk", file, "utterance")
        _check_spk2utt(c, utt2spk, spk_sort)
        if "segments" not in c.entries:
            c.same_keys("utt2spk", "wav.scp", "utterance/recording")  # no segments: same ids
    text = c.table("text")
    for key, e in (text or {}).items():
        if not str(e.value):
            c.add("text", e.lineno, f"empty transcript for {key!r}", warning=True)
    c.same_keys("wav.scp", "reco2dur", "recording")
    segs, wav = c.table("segments"), c.table("wav.scp")
    if segs is not None and wav is not None:
        used = set()
        for key, e in segs.items():
            reco = e.value.recording  # type: ignore[attr-defined]
            used.add(reco)
            if reco not in wav and reco not in c.bad_keys["wav.scp"]:
                c.add("segments", e.lineno, f"recording {reco!r} of {key!r} is not in wav.scp")
        for key, e in wav.items():
            if key not in used:
                c.add("wav.scp", e.lineno, f"recording {key!r} has no segments", warning=True)


def _check_spk2utt(c: _Checker, utt2spk: Dict[str, Entry], spk_sort: bool) -> None:
    spk2utt = c.table("spk2utt")
    if spk2utt is not None:
        listed: Dict[str, int] = {}
        for spk, e in spk2utt.items():
            for utt in e.value:  # type: ignore[attr-defined]
                if utt in listed:
                    c.add("spk2utt", e.lineno, f"utterance {utt!r} listed again (first on line {listed[utt]})")
                    continue
                listed[utt] = e.lineno
                if utt not in utt2spk:
                    if utt not in c.bad_keys["utt2spk"]:
                        c.add("spk2utt", e.lineno, f"utterance {utt!r} of speaker {spk!r} is not in utt2spk")
                elif utt2spk[utt].value != spk:
                    c.add(
                        "spk2utt",
                        e.lineno,
                        f"utterance {utt!r} is under speaker {spk!r} but utt2spk says {utt2spk[utt].value!r}",
                    )
        for utt, e in utt2spk.items():
            if utt not in listed and str(e.value) not in c.bad_keys["spk2utt"]:
                c.add("utt2spk", e.lineno, f"utterance {utt!r} is missing from spk2utt")
    if spk_sort:
        seen: Set[str] = set()
        prev = None
        for e in c.entries["utt2spk"]:
            spk = str(e.value)
            if spk != prev and spk in seen:
                c.add(
                    "utt2spk",
                    e.lineno,
                    f"utterances of speaker {spk!r} are not contiguous; Kaldi per-speaker tools "
                    "need utterance ids that start with the speaker id",
                    warning=True,
                )
            seen.add(spk)
            prev = spk


def _durations(c: _Checker) -> Dict[str, float]:
    return {k: float(e.value) for k, e in (c.table("reco2dur") or {}).items()}  # type: ignore[arg-type]


def _check_times(c: _Checker) -> None:
    reco2dur = _durations(c)
    segs = c.table("segments")
    for key, e in (segs or {}).items():
        seg: Segment = e.value  # type: ignore[assignment]
        dur = reco2dur.get(seg.recording)
        if dur is not None and seg.end > dur + c.tol:
            c.add(
                "segments",
                e.lineno,
                f"segment {key!r} ends at {seg.end:g} s, after the end of recording "
                f"{seg.recording!r} ({dur:g} s)",
            )
    for key, e in (c.table("utt2dur") or {}).items():
        if segs is not None:
            expect = segs[key].value.duration if key in segs else None  # type: ignore[attr-defined]
        else:
            expect = reco2dur.get(key)
        if expect is not None and abs(float(e.value) - expect) > c.tol:  # type: ignore[arg-type]
            c.add("utt2dur", e.lineno, f"duration {float(e.value):g} s of {key!r} != {expect:g} s from segments/reco2dur")  # type: ignore[arg-type]


def _known_recordings(c: _Checker) -> Optional[Set[str]]:
    for file in ("wav.scp", "reco2dur"):
        if file in c.entries:
            return {e.key for e in c.entries[file]} | c.bad_keys[file]
    return None


def _check_rttm(c: _Checker) -> None:
    path = c.dir / "rttm"
    if not path.is_file():
        return
    known, durs = _known_recordings(c), _durations(c)
    for n, line, reason in _lines(path):
        if line is None:
            c.add("rttm", n, reason)
            continue
        fields = line.split()
        if not fields or fields[0].startswith((";;", "#")):
            continue
        if fields[0] != "SPEAKER":
            if not (fields[0].isupper() and fields[0].replace("-", "").isalpha()):
                c.add("rttm", n, f"expected an RTTM 'SPEAKER' line, got {fields[0]!r}")
            continue
        try:
            turn = parse_rttm_line(fields, c.name("rttm"), n)
        except DataFormatError as err:
            c.add("rttm", n, err.message)
            continue
        except ValueError as err:
            c.add("rttm", n, str(err))
            continue
        if len(fields) != 10:
            c.add("rttm", n, f"RTTM lines have 10 fields, got {len(fields)}", warning=True)
        if known is not None and turn.recording not in known:
            c.add("rttm", n, f"recording {turn.recording!r} is not in wav.scp/reco2dur")
        dur = durs.get(turn.recording)
        if dur is not None and turn.end > dur + c.tol:
            c.add("rttm", n, f"turn ends at {turn.end:g} s, after the end of {turn.recording!r} ({dur:g} s)")


def _check_uem(c: _Checker) -> None:
    path = c.dir / "uem"
    if not path.is_file():
        return
    known, durs = _known_recordings(c), _durations(c)
    seen: Dict[str, int] = {}
    for n, line, reason in _lines(path):
        if line is None:
            c.add("uem", n, reason)
            continue
        fields = line.split()
        if not fields or fields[0].startswith((";;", "#")):
            continue
        if len(fields) != 4:
            c.add("uem", n, f"expected 4 fields, got {len(fields)}")
            continue
        try:
            on, off = float(fields[2]), float(fields[3])
        except ValueError:
            c.add("uem", n, f"times are not numbers: {fields[2]!r} {fields[3]!r}")
            continue
        reco = fields[0]
        if not (math.isfinite(on) and math.isfinite(off)) or on < 0 or off < on:
            c.add("uem", n, f"bad scoring region {fields[2]}-{fields[3]}")
        if reco in seen:
            c.add("uem", n, f"second region for {reco!r} (first on line {seen[reco]})")
        seen.setdefault(reco, n)
        if known is not None and reco not in known:
            c.add("uem", n, f"recording {reco!r} is not in wav.scp/reco2dur")
        elif reco in durs and off > durs[reco] + c.tol:
            c.add("uem", n, f"region ends at {off:g} s, after the end of {reco!r} ({durs[reco]:g} s)")


def _check_audio(c: _Checker, read: bool, sample_rate: int, progress: bool) -> None:
    entries = c.entries["wav.scp"]
    durs = _durations(c)
    if read:
        from tqdm import tqdm

        entries = tqdm(entries, desc="reading audio", unit="rec", disable=not progress)  # type: ignore[assignment]
    for e in entries:
        value = str(e.value)
        kind = wav_entry_kind(value)
        if kind == "pipe":
            prog = value.split()[0]
            if shutil.which(prog) is None and not Path(prog).is_file():
                c.add("wav.scp", e.lineno, f"command {prog!r} of {e.key!r} is not on PATH", warning=True)
        else:
            path = wav_entry_path(value)
            if not Path(str(path)).is_file():
                c.add("wav.scp", e.lineno, f"{'archive' if kind == 'ark' else 'file'} of {e.key!r} not found: {path}")
                continue
        if not read:
            continue
        rate, channels, frames, finite = _audio_shape(c, e, value, kind)
        if rate is None:
            continue
        if not finite:
            c.add("wav.scp", e.lineno, f"{e.key!r}: audio holds NaN or infinite samples")
        if rate != sample_rate:
            c.add("wav.scp", e.lineno, f"{e.key!r}: sample rate {rate} Hz, expected {sample_rate}")
        if channels != 1:
            c.add("wav.scp", e.lineno, f"{e.key!r}: {channels} channels, expected mono")
        if frames == 0:
            c.add("wav.scp", e.lineno, f"{e.key!r}: no samples")
        if e.key in durs and rate and abs(frames / rate - durs[e.key]) > c.tol:
            line = c.table("reco2dur")[e.key].lineno  # type: ignore[index]
            c.add("reco2dur", line, f"{e.key!r}: {durs[e.key]:g} s, but the audio has {frames / rate:.3f} s")


def _audio_shape(c: _Checker, e: Entry, value: str, kind: str) -> Tuple[Optional[int], int, int, bool]:
    """(rate, channels, frames, all samples finite) of one recording; on failure report it
    and return rate None.  Integer PCM files are not read past their header (their samples
    are finite); floating-point ones are read block by block."""
    import numpy as np

    try:
        if kind == "file":
            import soundfile as sf

            path = value.strip()
            info = sf.info(path)
            finite = True
            if info.subtype in ("FLOAT", "DOUBLE"):
                finite = all(np.isfinite(b).all() for b in sf.blocks(path, blocksize=1 << 16, dtype="float32"))
            return int(info.samplerate), int(info.channels), int(info.frames), finite
        audio, rate = load_audio(value, e.key)
    except AudioReadError as err:
        c.add("wav.scp", e.lineno, str(err))
        return None, 0, 0, True
    except Exception as err:  # soundfile's own errors
        c.add("wav.scp", e.lineno, f"{e.key!r}: cannot read audio ({err})")
        return None, 0, 0, True
    channels = 1 if audio.ndim == 1 else int(audio.shape[1])
    return rate, channels, int(audio.shape[0]), bool(np.isfinite(audio).all())


def check_decodable_audio(key: str, entry: str, start: float = 0.0, end: Optional[float] = None,
                          kind: str = "recording") -> None:
    """Read one input (a ``wav.scp`` value, or its ``start``-``end`` segment) as decoding will.

    For the decoding CLIs, on every input before a model is loaded.

    Raises:
        AudioReadError: unreadable, empty or non-finite audio (the key and entry named).
    """
    import numpy as np

    from espnet_tagspeech.data.kaldi import AudioReadError, load_audio, read_segment

    audio, _ = read_segment(entry, start, end, key=key) if end is not None else load_audio(entry, key=key)
    what = f"{kind} {key!r} ({entry.strip()})"
    if audio.size == 0:
        raise AudioReadError(f"{what}: empty audio")
    if not np.isfinite(audio).all():
        raise AudioReadError(f"{what}: audio holds NaN or infinite samples")
