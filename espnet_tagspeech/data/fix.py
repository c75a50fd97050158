"""Repair a Kaldi data dir: keep what all files agree on, sort, regenerate ``spk2utt``.

An utterance is kept when every utterance-keyed file (``utt2spk``, ``text``,
``segments``, ``utt2dur``, ``utt2num_samples`` and extras such as
``feats.scp``) has a well-formed line for it and its segment lies inside a
known recording.  A recording is kept when every recording-keyed file
(``wav.scp``, ``reco2dur``, ...) has it and some kept utterance uses it.
``rttm`` / ``uem`` lines of dropped recordings go too.  Kept lines are written
unchanged, sorted by key (C locale), atomically; the originals are copied to
``DIR/.backup/`` first.
"""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from espnet_tagspeech.data.atomic import atomic_write, check_writable
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.kaldi import (
    GENERIC_SPEC,
    SPECS,
    Entry,
    scan_table,
    utt2spk_to_spk2utt,
    write_table,
)

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)

UTT_FILES = ("utt2spk", "text", "segments", "utt2dur", "utt2num_samples")
UTT_EXTRA_FILES = ("feats.scp", "utt2num_frames", "utt2lang", "utt2uniq", "utt2category")
RECO_FILES = ("wav.scp", "reco2dur")
RECO_EXTRA_FILES = ("reco2file_and_channel", "reco2num_spk")
SPK_FILES = ("spk2gender",)


@dataclass
class FixReport:
    """What :func:`fix_data_dir` did.

    Attributes:
        removed: Per file, ``(key or line description, reason)`` of each dropped line.
        kept: Per file written, the number of lines kept.
        backup_dir: Where the originals were copied (``None`` without backup).
    """

    removed: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)
    kept: Dict[str, int] = field(default_factory=dict)
    backup_dir: Optional[Path] = None

    def drop(self, file: str, what: str, reason: str) -> None:
        """Record one dropped line."""
        self.removed.setdefault(file, []).append((what, reason))

    def lines(self, max_per_file: int = 20) -> List[str]:
        """Human-readable account: one line per file, then up to ``max_per_file`` drops."""
        out = []
        for file in sorted(self.kept):
            gone = self.removed.get(file, [])
            out.append(f"{file}: kept {self.kept[file]}, removed {len(gone)}")
            for what, reason in gone[:max_per_file]:
                out.append(f"  - {what}: {reason}")
            if len(gone) > max_per_file:
                out.append(f"  ... and {len(gone) - max_per_file} more")
        return out


class _Table:
    """A table's good entries plus the raw text of their lines."""

    def __init__(self, path: Path, name: str, report: FixReport) -> None:
        problems: List[DataFormatError] = []
        spec = SPECS.get(name, GENERIC_SPEC)
        self.entries: Dict[str, Entry] = {e.key: e for e in scan_table(path, spec, problems, display=name)}
        raw = path.read_bytes().split(b"\n")
        self.raw = {k: raw[e.lineno - 1].decode("utf-8").rstrip() for k, e in self.entries.items()}
        for err in problems:
            report.drop(name, f"line {err.line}", err.message)

    def keys(self) -> Set[str]:
        return set(self.entries)


def fix_data_dir(
    data_dir: PathLike,
    utt_extra_files: Sequence[str] = (),
    reco_extra_files: Sequence[str] = (),
    tolerance: float = 0.01,
    backup: bool = True,
) -> FixReport:
    """Make a data dir consistent in place (see the module doc).

    Args:
        data_dir: The directory; it must hold ``utt2spk``.
        utt_extra_files: More utterance-keyed files to filter (beyond
            :data:`UTT_FILES` and :data:`UTT_EXTRA_FILES`).
        reco_extra_files: More recording-keyed files to filter.
        tolerance: Seconds a segment may extend past its recording's ``reco2dur``.
        backup: Copy the originals of rewritten files to ``DIR/.backup/``.

    Returns:
        A :class:`FixReport` of what was removed.

    Raises:
        DataFormatError: if ``utt2spk`` is missing, no utterance would be left, or the
            dir is not writable (the dir is then left as it was).
    """
    d = Path(data_dir)
    if not (d / "utt2spk").is_file():
        raise DataFormatError(str(d / "utt2spk"), None, "no such file (needed to fix a data dir)")
    report = FixReport()

    def present(names: Iterable[str]) -> List[str]:
        return [n for n in dict.fromkeys(names) if (d / n).is_file()]

    utt_names = present(list(UTT_FILES) + list(UTT_EXTRA_FILES) + list(utt_extra_files))
    reco_names = present(list(RECO_FILES) + list(RECO_EXTRA_FILES) + list(reco_extra_files))
    spk_names = present(SPK_FILES)
    tables = {n: _Table(d / n, n, report) for n in utt_names + reco_names + spk_names}

    recos_ok = _intersection(tables[n].keys() for n in reco_names)
    utts = _keep_utterances(tables, utt_names, recos_ok, tolerance, report)
    if "segments" in tables:
        used = {tables["segments"].entries[u].value.recording for u in utts}  # type: ignore[attr-defined]
        recos = used if recos_ok is None else used & recos_ok
    else:
        recos = set(utts)
    if not utts:
        reasons = "; ".join(f"{file}: {what}: {why}" for file, gone in sorted(report.removed.items())
                            for what, why in gone[:2])  # fmt: skip
        raise DataFormatError(str(d), None, f"no utterance is in every file, so fixing would empty the dir; "
                              f"left as it was ({reasons})")  # fmt: skip
    check_writable(d)
    utt2spk = {u: str(tables["utt2spk"].entries[u].value) for u in utts}
    speakers = set(utt2spk.values())

    files = utt_names + reco_names + spk_names + ["spk2utt"] + present(["rttm", "uem"])
    if backup:
        report.backup_dir = d / ".backup"
        report.backup_dir.mkdir(exist_ok=True)
        for n in present(files):
            shutil.copy2(d / n, report.backup_dir / n)

    for names, keep, what in (
        (utt_names, utts, "utterance"),
        (reco_names, recos, "recording"),
        (spk_names, speakers, "speaker"),
    ):
        for n in names:
            _write_filtered(d / n, n, tables[n], keep, what, report)
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    write_table(d / "spk2utt", spk2utt)
    report.kept["spk2utt"] = len(spk2utt)
    _filter_lines(d / "rttm", "rttm", 1, recos, report)
    _filter_lines(d / "uem", "uem", 0, recos, report)
    for line in report.lines():
        logger.info(line)
    return report


def _intersection(sets: Iterable[Set[str]]) -> Optional[Set[str]]:
    out: Optional[Set[str]] = None
    for s in sets:
        out = set(s) if out is None else out & s
    return out


def _keep_utterances(
    tables: Dict[str, _Table],
    utt_names: List[str],
    recos_ok: Optional[Set[str]],
    tolerance: float,
    report: FixReport,
) -> Set[str]:
    """Utterances present in every utterance file and inside a known recording."""
    all_utts = set().union(*(tables[n].keys() for n in utt_names))
    reco2dur = tables.get("reco2dur")
    utts: Set[str] = set()
    for u in sorted(all_utts):
        missing = [n for n in utt_names if u not in tables[n].entries]
        if missing:
            why = f"missing from {', '.join(missing)}"
        elif "segments" in tables:
            seg = tables["segments"].entries[u].value
            why = _segment_problem(seg, recos_ok, reco2dur, tolerance)  # type: ignore[arg-type]
        elif recos_ok is not None and u not in recos_ok:
            why = "no recording of that id in wav.scp/reco2dur"
        else:
            why = ""
        if why:
            for n in utt_names:
                if u in tables[n].entries:
                    report.drop(n, u, why)
        else:
            utts.add(u)
    return utts


def _segment_problem(seg, recos_ok: Optional[Set[str]], reco2dur: Optional[_Table], tol: float) -> str:  # type: ignore[no-untyped-def]
    if recos_ok is not None and seg.recording not in recos_ok:
        return f"recording {seg.recording!r} is not in every recording file"
    if reco2dur is not None and seg.recording in reco2dur.entries:
        dur = float(reco2dur.entries[seg.recording].value)  # type: ignore[arg-type]
        if seg.end > dur + tol:
            return f"segment ends at {seg.end:g} s, after the recording ({dur:g} s)"
    return ""


def _write_filtered(path: Path, name: str, table: _Table, keep: Set[str], what: str, report: FixReport) -> None:
    already = {w for w, _ in report.removed.get(name, [])}
    for key in table.entries:
        if key not in keep and key not in already:
            report.drop(name, key, f"{what} not kept")
    kept = sorted(k for k in table.entries if k in keep)
    with atomic_write(path) as f:
        for key in kept:
            f.write(table.raw[key] + "\n")
    report.kept[name] = len(kept)


def _filter_lines(path: Path, name: str, field_index: int, recos: Set[str], report: FixReport) -> None:
    """Keep lines of an rttm/uem file whose recording field is in ``recos``."""
    if not path.is_file():
        return
    kept: List[str] = []
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        line = raw.decode("utf-8", "replace").rstrip()
        fields = line.split()
        if not fields:
            continue
        if fields[0].startswith((";;", "#")):
            kept.append(line)
        elif len(fields) > field_index and fields[field_index] in recos:
            kept.append(line)
        else:
            reco = fields[field_index] if len(fields) > field_index else "?"
            report.drop(name, f"line {n}", f"recording {reco!r} not kept")
    with atomic_write(path) as f:
        for line in kept:
            f.write(line + "\n")
    report.kept[name] = len(kept)
