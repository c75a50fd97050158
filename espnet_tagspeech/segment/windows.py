"""Decoding windows from speech regions: reference-free utterance groups.

A segmenter (:mod:`espnet_tagspeech.segment.vad`) says where a recording holds
speech; this module turns those regions into the windows the model decodes:

1. Regions are clipped to the recording and overlapping or touching ones joined.
2. Regions separated by less than ``merge_gap`` seconds form one group (a pause
   that short is within a conversation, as the training cuts join turns that
   overlap or touch).
3. A group whose speech spans more than ``max_window - 2 * pad`` seconds is
   split at its widest pause (ties: the pause nearest the middle), recursively.
4. A single region still too long (continuous speech) is cut into the fewest
   equal pieces that leave some slack; each cut then moves to the quietest
   point the slack allows when a ``quietest`` function is given (see
   :class:`espnet_tagspeech.segment.vad.QuietestPoint`), else stays put (even split).
5. Window edges at pauses are padded by ``pad`` seconds, at most half the pause
   (windows never overlap) and never past the recording; edges inside
   continuous speech are not padded, so a window is never longer than
   ``max_window``.
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

_EPS = 1e-9

QuietestFn = Callable[[float, float], float]
"""``quietest(lo, hi)`` -> the time in ``[lo, hi]`` (seconds) best suited to cut at."""


@dataclass(frozen=True)
class Region:
    """A stretch of a recording that a segmenter marked as speech (seconds).

    Args:
        start: Start time (``>= 0``).
        end: End time (``>= start``).
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or not 0.0 <= self.start <= self.end:
            raise ValueError(f"bad speech region {self.start}-{self.end}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class Window:
    """A decoding window of a recording (times in recording time, seconds).

    Args:
        recording: Recording id.
        start: Start time.
        end: End time (``> start``).
    """

    recording: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start < self.end:
            raise ValueError(f"window of {self.recording!r}: bad span {self.start}-{self.end}")

    @property
    def id(self) -> str:
        """``<recording>_<start ms, 7 digits>_<end ms, 7 digits>`` (as make_cuts names cuts)."""
        return f"{self.recording}_{int(round(self.start * 1000)):07d}_{int(round(self.end * 1000)):07d}"

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class WindowConfig:
    """How speech regions become windows.

    Args:
        max_window: Longest window in seconds (the training cuts' ``max_dur``).
        merge_gap: Regions separated by less than this many seconds share a window
            unless the window would grow too long.
        pad: Seconds of context added at window edges that lie in a pause.
        min_speech: Windows with less speech than this (seconds) are dropped.
        slack: Least room (seconds) a cut inside continuous speech has to move
            from the even split towards the quietest point (more pieces are cut
            if needed to leave it).
    """

    max_window: float = field(default=20.0, metadata={"help": "longest window (s): at most the training cuts' "
                                                               "max_cut_dur"})
    merge_gap: float = field(default=0.2, metadata={"help": "speech regions closer than this (s) share a window"})
    pad: float = field(default=0.1, metadata={"help": "context added at window edges in pauses (s)"})
    min_speech: float = field(default=0.0, metadata={"help": "windows with less speech (s) are dropped"})
    slack: float = field(default=1.0, metadata={"help": "least room (s) a cut in continuous speech has to "
                                                        "move to the quietest point"})

    def __post_init__(self) -> None:
        for name in ("max_window", "merge_gap", "pad", "min_speech", "slack"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.max_window - 2 * self.pad <= 0:
            raise ValueError(f"max_window ({self.max_window}) must exceed 2 * pad ({2 * self.pad})")


# ----------------------------------------------------------------------------- steps


def clean_regions(regions: Iterable[Region], duration: float) -> List[Region]:
    """Regions clipped to ``[0, duration]``, sorted, overlapping or touching ones joined."""
    spans: List[Tuple[float, float]] = []
    for r in sorted(regions, key=lambda r: (r.start, r.end)):
        s, e = max(r.start, 0.0), min(r.end, duration)
        if e - s <= _EPS:
            continue
        if spans and s <= spans[-1][1] + _EPS:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return [Region(s, e) for s, e in spans]


def group_regions(regions: Sequence[Region], merge_gap: float) -> List[List[Region]]:
    """Runs of sorted, disjoint regions whose gaps are shorter than ``merge_gap``."""
    groups: List[List[Region]] = []
    for r in regions:
        if groups and r.start - groups[-1][-1].end < merge_gap - _EPS:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def split_at_pauses(group: Sequence[Region], limit: float) -> List[List[Region]]:
    """Split a group at its widest pauses until each piece spans at most ``limit`` seconds.

    A piece that is one region longer than ``limit`` is returned as it is
    (see :func:`split_continuous`).

    Args:
        group: Sorted, disjoint regions.
        limit: Longest span of a piece, first region's start to last region's end.

    Returns:
        The pieces in time order.
    """
    done: List[List[Region]] = []
    todo: List[List[Region]] = [list(group)]  # stack, last item is the earliest piece
    while todo:
        piece = todo.pop()
        if piece[-1].end - piece[0].start <= limit + _EPS or len(piece) == 1:
            done.append(piece)
            continue
        middle = (piece[0].start + piece[-1].end) / 2

        def rank(i: int, piece: List[Region] = piece, middle: float = middle) -> Tuple[float, float]:
            gap_mid = (piece[i - 1].end + piece[i].start) / 2
            return round(piece[i].start - piece[i - 1].end, 6), -abs(gap_mid - middle)

        i = max(range(1, len(piece)), key=rank)
        todo += [piece[i:], piece[:i]]
    return done


def split_continuous(
    start: float, end: float, limit: float, quietest: Optional[QuietestFn] = None, slack: float = 1.0
) -> List[float]:
    """Cut points that split continuous speech ``[start, end]`` into pieces of at most ``limit``.

    The span is cut into the fewest equal pieces that are at least ``2 *
    slack`` shorter than ``limit`` (slack is capped at a quarter of
    ``limit``); each cut may then move to the point ``quietest`` picks within
    half of what its pieces lack of ``limit`` (and under half a piece), so no
    piece exceeds ``limit`` and cuts keep their order.

    Returns:
        The inner cut points in increasing order (empty if no cut is needed).
    """
    length = end - start
    if length <= limit + _EPS:
        return []
    slack = min(slack, limit / 4)
    n = max(2, math.ceil(length / (limit - 2 * slack) - _EPS))
    step = length / n
    room = min((limit - step) / 2, 0.45 * step)  # also keeps consecutive cuts apart
    cuts = []
    for k in range(1, n):
        even = start + k * step
        t = even
        if quietest is not None and room > 0:
            t = min(max(quietest(even - room, even + room), even - room), even + room)
        cuts.append(t)
    return cuts


def make_windows(
    regions: Iterable[Region],
    duration: float,
    recording: str,
    config: WindowConfig = WindowConfig(),
    quietest: Optional[QuietestFn] = None,
) -> List[Window]:
    """Decoding windows of one recording from its speech regions.

    Args:
        regions: Speech regions in any order (clipped to the recording).
        duration: Length of the recording in seconds.
        recording: Recording id given to the windows.
        config: Window lengths, merging and padding.
        quietest: Picks where to cut continuous speech (``None``: cut evenly).

    Returns:
        Windows in time order, disjoint, each at most ``config.max_window`` long.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"recording {recording!r}: bad duration {duration}")
    limit = config.max_window - 2 * config.pad
    # (speech start, speech end, edges inside continuous speech?, seconds of speech)
    pieces: List[Tuple[float, float, bool, bool, float]] = []
    for group in group_regions(clean_regions(regions, duration), config.merge_gap):
        for piece in split_at_pauses(group, limit):
            s, e = piece[0].start, piece[-1].end
            cuts = split_continuous(s, e, limit, quietest, config.slack) if len(piece) == 1 else []
            bounds = [s] + cuts + [e]
            for k in range(len(bounds) - 1):
                speech = sum(r.duration for r in piece) if not cuts else bounds[k + 1] - bounds[k]
                pieces.append((bounds[k], bounds[k + 1], k > 0, k < len(cuts), speech))
    windows: List[Window] = []
    for i, (s, e, inner_left, inner_right, speech) in enumerate(pieces):
        if speech < config.min_speech - _EPS:
            continue
        left = 0.0 if inner_left else config.pad
        right = 0.0 if inner_right else config.pad
        if i > 0 and not inner_left:
            left = min(left, (s - pieces[i - 1][1]) / 2)
        if i + 1 < len(pieces) and not inner_right:
            right = min(right, (pieces[i + 1][0] - e) / 2)
        start, end = max(s - left, 0.0), min(e + right, duration)
        # round to the millisecond the ids use, never growing past max_window
        start, end = math.ceil(start * 1000 - 1e-6) / 1000, math.floor(end * 1000 + 1e-6) / 1000
        if end > start:
            windows.append(Window(recording, start, end))
    return windows

