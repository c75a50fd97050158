"""Score a set of recordings: DER and JER per file and overall, like dscore.

Which recordings are scored:

* With a UEM: the reference recordings that have a UEM entry. Turns of
  recordings without a UEM entry are skipped with a warning (as dscore does);
  UEM entries without reference turns are reported in a warning.
* Without a UEM: every reference recording, each with dscore's automatic
  region (earliest to latest turn of reference **and** system).
* A reference recording with no system output is scored as all missed
  speech (DER 100 %, JER 100 %).
* A recording that only the system output has is **not** scored; its id is
  listed in :attr:`DiarizationReport.system_only` and in a warning. dscore
  would print such a file with DER 100 % / JER 100 %, but neither its
  overall DER (md-eval pools reference files only) nor its overall JER (a
  mean over reference speakers) includes it, so the overall row here equals
  dscore's.

The overall DER pools the times of all scored files (md-eval's ``ALL``);
the overall JER is the mean over all reference speakers.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.der import DerStats, der_for_file
from espnet_tagspeech.scoring.jer import FileJer, jer_for_file, overall_jer
from espnet_tagspeech.scoring.regions import (
    Regions,
    UemLike,
    default_uem,
    normalize_uem,
    speaker_intervals,
)

logger = logging.getLogger(__name__)

OVERALL = "*** OVERALL ***"


@dataclass(frozen=True)
class FileScore:
    """DER and JER of one recording.

    Attributes:
        file_id: Recording id.
        der: DER times.
        jer: JER details.
        mapping: ``{reference speaker: system speaker}`` of the DER mapping.
    """

    file_id: str
    der: DerStats
    jer: FileJer
    mapping: Dict[str, str]

    def as_row(self) -> Dict[str, object]:
        """Flat dict of the numbers (percent and seconds) for JSON."""
        row: Dict[str, object] = {"file": self.file_id}
        row.update(self.der.as_dict())
        row["jer"] = self.jer.jer
        row["n_ref_speakers"] = self.jer.n_ref
        row["n_sys_speakers"] = self.jer.n_sys
        return row


@dataclass
class DiarizationReport:
    """Per-file and overall scores of a scoring run.

    Attributes:
        files: Scored recordings, sorted by id.
        overall: Pooled DER times.
        overall_jer: Mean JER over all reference speakers (percent).
        system_only: Ids present only in the system output (not scored).
        warnings: Human-readable warnings raised while scoring.
        settings: Collar, step, ... used.
    """

    files: List[FileScore]
    overall: DerStats
    overall_jer: float
    system_only: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    settings: Dict[str, object] = field(default_factory=dict)

    def by_file(self) -> Dict[str, FileScore]:
        """Scores keyed by recording id."""
        return {f.file_id: f for f in self.files}

    def as_dict(self) -> Dict[str, object]:
        """Everything as plain JSON-serialisable data."""
        overall = {"file": OVERALL}
        overall.update(self.overall.as_dict())
        overall["jer"] = self.overall_jer
        return {
            "settings": dict(self.settings),
            "files": [f.as_row() for f in self.files],
            "overall": overall,
            "system_only": list(self.system_only),
            "warnings": list(self.warnings),
        }


def _group(turns: Iterable[Turn]) -> Dict[str, List[Turn]]:
    out: Dict[str, List[Turn]] = {}
    for t in turns:
        out.setdefault(t.recording, []).append(t)
    return out


def score_diarization(
    ref_turns: Sequence[Turn],
    sys_turns: Sequence[Turn],
    uem: Optional[UemLike] = None,
    collar: float = 0.0,
    ignore_overlaps: bool = False,
    step: float = 0.01,
    jer_min_ref_dur: float = 0.0,
    progress: bool = False,
) -> DiarizationReport:
    """DER and JER of system turns against reference turns, dscore style.

    Args:
        ref_turns: Reference turns of all recordings.
        sys_turns: System turns of all recordings.
        uem: ``{file: (on, off)}`` or ``{file: [(on, off), ...]}``; ``None``
            builds dscore's automatic regions.
        collar: DER collar in seconds each side of reference boundaries.
        ignore_overlaps: Exclude overlapped reference speech from DER.
        step: JER frame step in seconds.
        jer_min_ref_dur: Minimum reference speaker duration for JER.
        progress: Show a tqdm bar over recordings.

    Returns:
        The :class:`DiarizationReport`.
    """
    warnings: List[str] = []
    ref_by = _group(ref_turns)
    sys_by = _group(sys_turns)
    if uem is None:
        regions: Regions = default_uem(ref_turns, sys_turns)
    else:
        regions = normalize_uem(uem)
        outside = sorted(set(ref_by) - set(regions))
        if outside:
            warnings.append(
                f"{len(outside)} reference recording(s) not in the UEM, skipped: "
                + " ".join(outside)
            )
        no_ref = sorted(set(regions) - set(ref_by))
        if no_ref:
            warnings.append(
                f"{len(no_ref)} UEM recording(s) without reference turns, not scored: "
                + " ".join(no_ref)
            )
    file_ids = sorted(f for f in ref_by if f in regions)
    system_only = sorted(set(sys_by) - set(ref_by))
    if system_only:
        warnings.append(
            f"{len(system_only)} recording(s) only in the system output, not scored: "
            + " ".join(system_only)
        )
    no_sys = [f for f in file_ids if f not in sys_by]
    if no_sys:
        warnings.append(
            f"{len(no_sys)} reference recording(s) without system output, scored as all "
            "missed: " + " ".join(no_sys)
        )
    for w in warnings:
        logger.warning(w)

    iterator: Iterable[str] = file_ids
    if progress:
        from tqdm import tqdm

        iterator = tqdm(file_ids, desc="scoring", unit="rec")
    files: List[FileScore] = []
    total = DerStats()
    for fid in iterator:
        reg = regions[fid]
        ref = speaker_intervals(ref_by.get(fid, []), reg)
        hyp = speaker_intervals(sys_by.get(fid, []), reg)
        fd = der_for_file(ref, hyp, reg, collar=collar, ignore_overlaps=ignore_overlaps)
        fj = jer_for_file(ref, hyp, reg, step=step, min_ref_dur=jer_min_ref_dur)
        files.append(FileScore(fid, fd.stats, fj, fd.mapping))
        if ref:
            # md-eval never sees a file whose reference is empty inside the UEM,
            # so its false alarms are not in dscore's pooled DER either.
            total = total + fd.stats
    return DiarizationReport(
        files=files,
        overall=total,
        overall_jer=overall_jer([f.jer for f in files]),
        system_only=system_only,
        warnings=warnings,
        settings={
            "collar": collar,
            "ignore_overlaps": ignore_overlaps,
            "step": step,
            "jer_min_ref_dur": jer_min_ref_dur,
            "uem": "given" if uem is not None else "automatic (ref + sys extent)",
        },
    )
