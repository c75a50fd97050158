"""Scoring regions and per-speaker interval sets, prepared the way dscore does.

Before any metric is computed, dscore (github nryant/dscore) turns the
reference and system turns of a recording into

1. a list of scoring regions: the UEM entry of the file, or, without a UEM,
   one region from the earliest onset to the latest offset over the turns of
   the reference **and** the system;
2. per speaker, the turns trimmed to those regions (a turn crossing a region
   edge is cut there, which creates a new boundary, and therefore a collar,
   at the region edge);
3. per speaker, strictly overlapping turns merged (turns that only touch are
   *kept apart*: their shared boundary still gets a collar).

The helpers here do exactly that on numpy arrays; :mod:`.der` and :mod:`.jer`
build on them.
"""

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_tagspeech.data.turn import Turn

Region = Tuple[float, float]
#: file id -> sorted, disjoint scoring regions.
Regions = Dict[str, List[Region]]
#: speaker -> (n, 2) float array of disjoint [start, end) intervals, sorted.
SpeakerIntervals = Dict[str, np.ndarray]
UemLike = Mapping[str, Union[Region, Sequence[Region]]]


def merge_overlapping(intervals: np.ndarray) -> np.ndarray:
    """Merge strictly overlapping intervals; touching ones stay separate.

    This matches dscore's ``merge_turns`` (an interval tree's
    ``merge_overlaps``): ``[1, 2]`` and ``[2, 3]`` remain two turns, so both
    keep their boundaries (and their collars).

    Args:
        intervals: ``(n, 2)`` array of ``[start, end]`` rows in any order.

    Returns:
        ``(m, 2)`` array sorted by start, no two rows overlapping.
    """
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if len(iv) <= 1:
        return iv.copy()
    iv = iv[np.lexsort((iv[:, 1], iv[:, 0]))]
    run_end = np.maximum.accumulate(iv[:, 1])
    new_group = np.ones(len(iv), dtype=bool)
    new_group[1:] = iv[1:, 0] >= run_end[:-1]
    group = np.cumsum(new_group) - 1
    starts = iv[new_group, 0]
    ends = np.zeros(len(starts))
    np.maximum.at(ends, group, iv[:, 1])
    return np.stack([starts, ends], axis=1)


def normalize_uem(uem: UemLike) -> Regions:
    """Bring a UEM mapping into the ``{file: [(on, off), ...]}`` form.

    Accepts one ``(on, off)`` pair per file (what
    :func:`espnet_tagspeech.data.formats.read_uem` returns) or a list of pairs.
    Overlapping regions of one file are merged; empty regions are dropped.

    Raises:
        ValueError: on a region with ``off < on`` or a negative onset.
    """
    out: Regions = {}
    for fid, value in uem.items():
        pairs = [value] if _is_pair(value) else list(value)  # type: ignore[list-item]
        rows = []
        for on, off in pairs:
            on, off = float(on), float(off)
            if on < 0 or off < on:
                raise ValueError(f"UEM entry {fid!r}: bad scoring region {on}-{off}")
            if off > on:
                rows.append((on, off))
        merged = merge_overlapping(np.array(rows).reshape(-1, 2))
        out[fid] = [(float(a), float(b)) for a, b in merged]
    return out


def _is_pair(value: object) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(x, (int, float, np.floating)) for x in value)
    )


def default_uem(ref_turns: Iterable[Turn], sys_turns: Iterable[Turn]) -> Regions:
    """dscore's automatic UEM: per file, earliest onset to latest offset of ref and sys.

    Files that occur only in the system output get a region too (the caller
    decides whether to score them).
    """
    lo: Dict[str, float] = {}
    hi: Dict[str, float] = {}
    for t in list(ref_turns) + list(sys_turns):
        lo[t.recording] = min(lo.get(t.recording, np.inf), t.start)
        hi[t.recording] = max(hi.get(t.recording, -np.inf), t.end)
    return {fid: [(lo[fid], hi[fid])] for fid in lo if hi[fid] > lo[fid]}


def trim_to_regions(intervals: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """Cut intervals to the scoring regions (pieces outside are dropped).

    Args:
        intervals: ``(n, 2)`` array.
        regions: Disjoint, sorted ``(on, off)`` pairs.

    Returns:
        ``(m, 2)`` array of the non-empty pieces inside the regions.
    """
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    pieces = []
    for on, off in regions:
        s = np.maximum(iv[:, 0], on)
        e = np.minimum(iv[:, 1], off)
        keep = e > s
        pieces.append(np.stack([s[keep], e[keep]], axis=1))
    if not pieces:
        return np.zeros((0, 2))
    return np.concatenate(pieces, axis=0)


def speaker_intervals(
    turns: Iterable[Turn], regions: Optional[Sequence[Region]] = None
) -> SpeakerIntervals:
    """Group one recording's turns by speaker: trimmed to ``regions``, then merged.

    Zero-length turns are ignored (dscore refuses them). Speakers left with no
    time inside the regions are dropped.

    Args:
        turns: Turns of a single recording.
        regions: Scoring regions; ``None`` keeps the turns untrimmed.

    Returns:
        ``{speaker: (n, 2) array}`` with sorted, non-overlapping rows.
    """
    by_spk: Dict[str, List[Tuple[float, float]]] = {}
    for t in turns:
        if t.end > t.start:
            by_spk.setdefault(t.speaker, []).append((t.start, t.end))
    out: SpeakerIntervals = {}
    for spk in sorted(by_spk):
        iv = np.array(by_spk[spk], dtype=np.float64)
        if regions is not None:
            iv = trim_to_regions(iv, regions)
        if len(iv):
            out[spk] = merge_overlapping(iv)
    return out


def quantize_ms(intervals: np.ndarray) -> np.ndarray:
    """Round intervals as dscore's RTTM hand-off to md-eval does.

    dscore writes onset and *duration* with three decimals; md-eval then reads
    ``end = onset + duration``. Rounding uses Python's correctly rounded
    :func:`round` so the values are bit-identical to what md-eval parses.
    """
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if not len(iv):
        return iv.copy()
    on = np.array([round(float(s), 3) for s in iv[:, 0]])
    dur = np.array([round(float(e - s), 3) for s, e in iv])
    return np.stack([on, on + dur], axis=1)


def activity_matrix(bounds: np.ndarray, spans: Sequence[np.ndarray]) -> np.ndarray:
    """Which span sets are active in each stretch between consecutive ``bounds``.

    Args:
        bounds: Sorted boundaries (``n + 1`` values, any numeric type); every
            span edge must be one of them.
        spans: One ``(m, 2)`` array of ``[start, end)`` rows per column.

    Returns:
        ``(n, len(spans))`` bool array: column ``j`` active in stretch ``k``.
    """
    n = len(bounds) - 1
    diff = np.zeros((len(spans), len(bounds) + 1), dtype=np.int32)
    for j, sp in enumerate(spans):
        if len(sp):
            np.add.at(diff[j], np.searchsorted(bounds, sp[:, 0]), 1)
            np.add.at(diff[j], np.searchsorted(bounds, sp[:, 1]), -1)
    return (np.cumsum(diff, axis=1)[:, :n] > 0).T
