"""Utterance groups: the training cuts of TagSpeech.

As in the paper, a recording is cut wherever no speech is active: a group is a
maximal run of turns that overlap or follow each other with a pause of at most
``max_pause`` seconds (0 by default: only overlapping or touching turns join).
Groups of ``min_dur`` to ``max_dur`` seconds are kept.  A group longer than
``max_dur`` is split at its largest internal pause, a point where no speech is
active (with ``max_pause=0`` only points where one turn ends exactly as the
next starts), recursively; a long group without such a point is dropped with a
warning.  A cut spans from its first turn's start to its last turn's end, so no
cut boundary ever falls inside speech.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from espnet_tagspeech.data.turn import Turn, group_by_recording
from espnet_tagspeech.serialization import serialize

_EPS = 1e-9


@dataclass(frozen=True)
class Cut:
    """One utterance group of a recording (times in recording time).

    Args:
        recording: Recording id.
        start: First turn's start.
        end: Last turn's end.
        turns: The turns, sorted by start.
    """

    recording: str
    start: float
    end: float
    turns: Tuple[Turn, ...]

    @property
    def id(self) -> str:
        """``<recording>_<start ms, 7 digits>_<end ms, 7 digits>``."""
        return f"{self.recording}_{_ms(self.start):07d}_{_ms(self.end):07d}"

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def target(self) -> str:
        """The serialized TagSpeech target of the cut (times relative to its start)."""
        return serialize(self.turns, offset=self.start)


@dataclass
class CutResult:
    """What :func:`make_cuts` kept and dropped.

    Args:
        cuts: Kept cuts, sorted by recording and start.
        too_short: Groups shorter than ``min_dur``.
        too_long: Groups longer than ``max_dur`` without a split point.
    """

    cuts: List[Cut] = field(default_factory=list)
    too_short: List[Cut] = field(default_factory=list)
    too_long: List[Cut] = field(default_factory=list)


def _ms(x: float) -> int:
    return int(round(x * 1000))


def _cut(turns: Sequence[Turn]) -> Cut:
    ordered = tuple(sorted(turns, key=lambda t: (t.start, t.end, t.speaker)))
    return Cut(ordered[0].recording, ordered[0].start, max(t.end for t in ordered), ordered)


def group_turns(turns: Iterable[Turn], max_pause: float = 0.0) -> List[List[Turn]]:
    """Group turns of one or more recordings into utterance groups.

    Args:
        turns: Turns in any order.
        max_pause: Turns separated by at most this many seconds of silence join.

    Returns:
        Groups (lists of turns sorted by start), sorted by recording and time.
    """
    if max_pause < 0:
        raise ValueError(f"max_pause must be >= 0, got {max_pause}")
    groups: List[List[Turn]] = []
    for reco_turns in group_by_recording(turns).values():
        end = None
        for t in reco_turns:
            if end is not None and t.start <= end + max_pause + _EPS:
                groups[-1].append(t)
                end = max(end, t.end)
            else:
                groups.append([t])
                end = t.end
    return groups


def split_points(turns: Sequence[Turn]) -> List[Tuple[float, float, int]]:
    """Places inside a group where no speech is active.

    Args:
        turns: The group's turns sorted by start.

    Returns:
        ``(silence length, silence start, index)`` for every ``index`` such that
        all turns before it end no later than turn ``index`` starts.
    """
    out = []
    end = turns[0].end
    for i in range(1, len(turns)):
        if turns[i].start >= end - _EPS:
            out.append((max(turns[i].start - end, 0.0), end, i))
        end = max(end, turns[i].end)
    return out


def split_group(turns: Sequence[Turn], max_dur: float) -> Tuple[List[List[Turn]], List[List[Turn]]]:
    """Split a group longer than ``max_dur`` at its largest pauses, recursively.

    Ties between equal pauses go to the point nearest the group's middle.

    Returns:
        ``(pieces, unsplittable)``: pieces no longer than ``max_dur``, and
        pieces still longer that have no point without speech.
    """
    turns = sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    start, end = turns[0].start, max(t.end for t in turns)
    if end - start <= max_dur + _EPS:
        return [list(turns)], []
    points = split_points(turns)
    if not points:
        return [], [list(turns)]
    middle = (start + end) / 2
    _, _, i = max(points, key=lambda p: (round(p[0], 6), -abs(p[1] + p[0] / 2 - middle)))
    pieces, bad = [], []
    for part in (turns[:i], turns[i:]):
        p, b = split_group(part, max_dur)
        pieces += p
        bad += b
    return pieces, bad


def make_cuts(
    turns: Iterable[Turn],
    min_dur: float = 0.5,
    max_dur: float = 80.0,
    max_pause: float = 0.0,
) -> CutResult:
    """Cut recordings into utterance groups.

    Args:
        turns: Turns of any number of recordings.
        min_dur: Shorter groups are dropped.
        max_dur: Longer groups are split (or dropped when they cannot be).
        max_pause: Largest silence inside a group.

    Returns:
        The kept cuts and the dropped groups (warnings are logged).
    """
    if not 0 <= min_dur <= max_dur:
        raise ValueError(f"need 0 <= min_dur <= max_dur, got {min_dur}, {max_dur}")
    result = CutResult()
    for group in group_turns(turns, max_pause):
        pieces, bad = split_group(group, max_dur)
        for b in bad:
            cut = _cut(b)
            logging.warning(
                "dropping %s: %.2f s of continuous speech (longer than max_dur %.2f s) "
                "has no point without speech to split at", cut.id, cut.duration, max_dur,
            )  # fmt: skip
            result.too_long.append(cut)
        for p in pieces:
            cut = _cut(p)
            (result.cuts if cut.duration >= min_dur - _EPS else result.too_short).append(cut)
    if result.too_short:
        logging.info("dropped %d groups shorter than %.2f s", len(result.too_short), min_dur)
    result.cuts.sort(key=lambda c: (c.recording, c.start))
    return result


def cut_index(cuts: Iterable[Cut]) -> Dict[str, Cut]:
    """{cut id: cut}.

    Raises:
        ValueError: if two cuts share an id.
    """
    out: Dict[str, Cut] = {}
    for c in cuts:
        if c.id in out:
            raise ValueError(f"two cuts share the id {c.id}")
        out[c.id] = c
    return out


def renumber_speakers(turns: Sequence[Turn], recording: Optional[str] = None) -> List[Turn]:
    """Turns with speakers renamed ``"1"``, ``"2"``... by first appearance.

    Appearance order is by (start, end, original label) - the order the
    serializer numbers speakers in.
    """
    ordered = sorted(turns, key=lambda t: (round(t.start, 2), round(t.end, 2), t.speaker))
    names: Dict[str, str] = {}
    for t in ordered:
        names.setdefault(t.speaker, str(len(names) + 1))
    return [t.with_speaker(names[t.speaker]).shifted(0.0, recording) for t in ordered]
