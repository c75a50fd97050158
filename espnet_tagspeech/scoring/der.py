"""Diarization error rate exactly as dscore reports it (NIST md-eval-22 semantics).

dscore (github nryant/dscore) trims and merges the turns (see :mod:`.regions`),
writes them as RTTM with three decimals, and runs md-eval-22 with its UEM,
``-c collar`` and, for ``--ignore_overlaps``, ``-1``. This module computes the
same numbers exactly on intervals, with numpy, without Perl:

* Times are rounded as dscore's RTTM/UEM hand-off does (onset and duration to
  milliseconds) and then handled as integer nanoseconds, so equal boundaries
  compare equal (md-eval compares with a 1e-8 s tolerance).
* **Speaker mapping**: one-to-one, maximising the total time a reference
  speaker and its system speaker speak together, counted over the whole UEM
  region (before collars and overlap exclusion, as md-eval does).
* **Scored region**: the UEM minus ``collar`` seconds either side of every
  reference turn boundary (including boundaries created by trimming to the
  UEM) minus, with ``ignore_overlaps``, every stretch where two or more
  reference speakers talk.
* Over each stretch of the scored region with ``n_ref`` reference and
  ``n_sys`` system speakers, of which ``n_map`` reference speakers have their
  mapped system speaker active: scored speaker time ``+= d * n_ref``, missed
  ``+= d * max(n_ref - n_sys, 0)``, false alarm ``+= d * max(n_sys - n_ref, 0)``,
  confusion ``+= d * (min(n_ref, n_sys) - n_map)``. DER = (missed + false
  alarm + confusion) / scored speaker time.
* A file with no scored speaker time has DER 0 when it has no errors and
  100 % otherwise (dscore's rule for md-eval's 0/0 and x/0).

Where the independent routes differ from dscore (see also :mod:`.mdeval`):

* md-eval-22 run *without* a UEM scores only the reference's extent, so
  system speech before the first or after the last reference turn is not
  counted as false alarm (meeteval issue #97); dscore always passes a UEM
  spanning reference **and** system. md-eval also strips a suffix after the
  first dot of UEM file ids (``a.b`` -> ``a``), so dscore silently loses the
  UEM of such files; this module does not.
* pyannote.metrics ``DiarizationErrorRate(collar=c)`` removes ``c / 2`` on
  each side of a boundary (dscore/md-eval remove ``c``), so pass
  ``2 * collar``. It also computes the speaker mapping *after* removing
  collars and (``skip_overlap``) overlapped speech, whereas md-eval maps over
  the whole UEM; it puts collars around the untrimmed reference turns (none
  at a UEM edge that cuts a turn); and it does not merge a speaker's
  overlapping turns. With collar 0, overlaps scored and no speaker
  overlapping itself, pyannote's DER equals dscore's (checked in the tests);
  otherwise it can differ by a few percent.
* When two mappings tie on total overlap, md-eval's matcher and
  :func:`scipy.optimize.linear_sum_assignment` may pick different ones; with a
  collar > 0 this can change the confusion time (never without a collar).
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.scoring.regions import (
    Region,
    SpeakerIntervals,
    activity_matrix,
    quantize_ms,
)

_NS = 1_000_000_000


def _to_ns(x: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64) * _NS).astype(np.int64)


def _as_iv(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class DerStats:
    """Times (seconds) behind a DER, additive over files.

    Args:
        scored: Scored reference speaker time (the denominator).
        missed: Missed speaker time.
        false_alarm: False-alarm speaker time.
        confusion: Speaker-confusion time.
    """

    scored: float = 0.0
    missed: float = 0.0
    false_alarm: float = 0.0
    confusion: float = 0.0

    def __add__(self, other: "DerStats") -> "DerStats":
        return DerStats(
            self.scored + other.scored,
            self.missed + other.missed,
            self.false_alarm + other.false_alarm,
            self.confusion + other.confusion,
        )

    @property
    def errors(self) -> float:
        """Missed + false alarm + confusion (seconds)."""
        return self.missed + self.false_alarm + self.confusion

    def _pct(self, x: float) -> float:
        if self.scored > 0:
            return 100.0 * x / self.scored
        return 100.0 if x > 1e-12 else 0.0

    @property
    def der(self) -> float:
        """Diarization error rate in percent (0 for 0/0, 100 for x/0)."""
        return self._pct(self.errors)

    @property
    def miss_rate(self) -> float:
        """Missed speaker time in percent of scored speaker time."""
        return self._pct(self.missed)

    @property
    def fa_rate(self) -> float:
        """False-alarm time in percent of scored speaker time."""
        return self._pct(self.false_alarm)

    @property
    def conf_rate(self) -> float:
        """Confusion time in percent of scored speaker time."""
        return self._pct(self.confusion)

    def as_dict(self) -> Dict[str, float]:
        """Seconds and percentages as a flat dict (for JSON)."""
        return {
            "der": self.der,
            "miss": self.miss_rate,
            "fa": self.fa_rate,
            "conf": self.conf_rate,
            "scored_speaker_time": self.scored,
            "missed_speaker_time": self.missed,
            "falarm_speaker_time": self.false_alarm,
            "speaker_error_time": self.confusion,
        }


@dataclass
class SegmentGrid:
    """A recording cut into stretches during which nothing changes.

    Attributes:
        bounds: ``n + 1`` sorted boundaries in integer nanoseconds.
        ref: ``(n, R)`` bool, reference speaker ``r`` active in stretch ``k``.
        sys: ``(n, S)`` bool, system speaker activity.
        ref_speakers: Column labels of ``ref``.
        sys_speakers: Column labels of ``sys``.
        in_uem: ``(n,)`` bool, stretch lies in a scoring region.
    """

    bounds: np.ndarray
    ref: np.ndarray
    sys: np.ndarray
    ref_speakers: List[str]
    sys_speakers: List[str]
    in_uem: np.ndarray

    @property
    def durations(self) -> np.ndarray:
        """Length of each stretch in seconds."""
        return np.diff(self.bounds).astype(np.float64) / _NS

    @property
    def starts(self) -> np.ndarray:
        """Start of each stretch in seconds."""
        return self.bounds[:-1].astype(np.float64) / _NS


def build_grid(
    ref: SpeakerIntervals,
    sys: SpeakerIntervals,
    regions: Sequence[Region],
    extra_bounds: Optional[np.ndarray] = None,
    quantize: bool = True,
) -> Tuple[SegmentGrid, List[np.ndarray]]:
    """Cut a recording into constant stretches.

    Args:
        ref: Reference speaker intervals (trimmed and merged, seconds).
        sys: System speaker intervals (trimmed and merged, seconds).
        regions: Scoring regions (seconds).
        extra_bounds: More boundaries (seconds) to cut at, e.g. collar edges.
        quantize: Round times to milliseconds as dscore's hand-off does.

    Returns:
        The grid and the reference intervals in nanoseconds (one array per
        reference speaker, in ``grid.ref_speakers`` order), for collars.
    """
    q = quantize_ms if quantize else _as_iv
    ref_ns = [_to_ns(q(ref[s])) for s in ref]
    sys_ns = [_to_ns(q(sys[s])) for s in sys]
    reg_ns = _to_ns(q(np.array(regions, dtype=np.float64).reshape(-1, 2)))
    parts = [a.ravel() for a in ref_ns + sys_ns] + [reg_ns.ravel()]
    if extra_bounds is not None:
        parts.append(np.asarray(extra_bounds, dtype=np.int64).ravel())
    bounds = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    if len(bounds) < 2:
        bounds = np.zeros(2, dtype=np.int64)
    grid = SegmentGrid(
        bounds=bounds,
        ref=activity_matrix(bounds, ref_ns),
        sys=activity_matrix(bounds, sys_ns),
        ref_speakers=list(ref),
        sys_speakers=list(sys),
        in_uem=activity_matrix(bounds, [reg_ns])[:, 0],
    )
    return grid, ref_ns


def optimal_mapping(grid: SegmentGrid) -> Dict[str, str]:
    """md-eval's speaker mapping: one-to-one, maximal total co-speaking time in the UEM.

    Pairs that never speak together are left unmapped (they cannot matter).

    Returns:
        ``{reference speaker: system speaker}``.
    """
    from scipy.optimize import linear_sum_assignment

    if not grid.ref_speakers or not grid.sys_speakers:
        return {}
    w = np.diff(grid.bounds) * grid.in_uem  # integer ns
    overlap = (grid.ref * w[:, None]).T.astype(np.float64) @ grid.sys.astype(np.float64)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return {
        grid.ref_speakers[r]: grid.sys_speakers[c]
        for r, c in zip(rows, cols)
        if overlap[r, c] > 0
    }


def _mapped_active(grid: SegmentGrid, mapping: Dict[str, str]) -> np.ndarray:
    """``(n,)`` number of reference speakers whose mapped system speaker is also active."""
    n_map = np.zeros(len(grid.bounds) - 1, dtype=np.int64)
    sys_idx = {s: j for j, s in enumerate(grid.sys_speakers)}
    for i, r in enumerate(grid.ref_speakers):
        if r in mapping:
            n_map += grid.ref[:, i] & grid.sys[:, sys_idx[mapping[r]]]
    return n_map


@dataclass
class FileDer:
    """DER of one recording with everything needed to explain it.

    Attributes:
        stats: The error times.
        mapping: ``{reference speaker: system speaker}``.
        grid: The stretches the recording was cut into.
        scored: ``(n,)`` bool, stretch is scored (UEM minus collars/overlaps).
        missed: ``(n,)`` missed speakers per stretch (0 where not scored).
        false_alarm: ``(n,)`` false-alarm speakers per stretch.
        confusion: ``(n,)`` confused speakers per stretch.
    """

    stats: DerStats
    mapping: Dict[str, str]
    grid: SegmentGrid
    scored: np.ndarray
    missed: np.ndarray = field(repr=False)
    false_alarm: np.ndarray = field(repr=False)
    confusion: np.ndarray = field(repr=False)


def der_for_file(
    ref: SpeakerIntervals,
    sys: SpeakerIntervals,
    regions: Sequence[Region],
    collar: float = 0.0,
    ignore_overlaps: bool = False,
    quantize: bool = True,
) -> FileDer:
    """DER of one recording with md-eval-22 semantics.

    Args:
        ref: Reference speaker intervals, already trimmed to ``regions`` and
            merged (:func:`espnet_tagspeech.scoring.regions.speaker_intervals`).
        sys: System speaker intervals, likewise.
        regions: The file's scoring regions.
        collar: Seconds either side of each reference boundary not scored.
        ignore_overlaps: Do not score stretches with two or more reference speakers.
        quantize: Round times to milliseconds first, as dscore does.

    Returns:
        The :class:`FileDer`.
    """
    if collar < 0:
        raise ValueError(f"collar must be >= 0, got {collar}")
    collar_ns = int(round(collar * _NS))
    extra = None
    if collar_ns > 0:
        q = quantize_ms if quantize else _as_iv
        edges = np.concatenate([_to_ns(q(ref[s])).ravel() for s in ref] + [np.zeros(0, np.int64)])
        extra = np.concatenate([edges - collar_ns, edges + collar_ns])
    grid, ref_ns = build_grid(ref, sys, regions, extra, quantize)
    mapping = optimal_mapping(grid)

    scored = grid.in_uem.copy()
    if collar_ns > 0 and ref_ns:
        edges = np.concatenate([a.ravel() for a in ref_ns])
        zones = np.stack([edges - collar_ns, edges + collar_ns], axis=1)
        scored &= ~activity_matrix(grid.bounds, [zones])[:, 0]
    n_ref = grid.ref.sum(axis=1).astype(np.int64)
    n_sys = grid.sys.sum(axis=1).astype(np.int64)
    if ignore_overlaps:
        scored &= n_ref < 2
    n_map = _mapped_active(grid, mapping)

    d = grid.durations * scored
    missed = np.maximum(n_ref - n_sys, 0) * scored
    fa = np.maximum(n_sys - n_ref, 0) * scored
    conf = (np.minimum(n_ref, n_sys) - n_map) * scored
    stats = DerStats(
        scored=float(np.dot(d, n_ref)),
        missed=float(np.dot(d, missed)),
        false_alarm=float(np.dot(d, fa)),
        confusion=float(np.dot(d, conf)),
    )
    return FileDer(stats, mapping, grid, scored, missed, fa, conf)
