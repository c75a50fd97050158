"""Speaker-agnostic WER split into words said in overlap and words said alone.

Definition (per recording, then summed over recordings):

* **Reference words** need times: from a CTM file (``words.ctm`` of a
  simulated data dir; channel = speaker) or from a word-level SegLST (every
  entry holds exactly one word, so the entry's times are the word's).
* A reference word is **overlapped** when its midpoint
  ``(start + end) / 2`` lies inside turns (half-open ``[start, end)``) of at
  least two different speakers of the reference RTTM, i.e. someone else talks
  while it is said.  All other reference words are **non-overlapped**.
* The **hypothesis stream** is every hypothesis word of the recording, the
  lines (turns) taken in order of their start time and their words in line
  order.  The **reference stream** is ordered the same way: each reference
  word belongs to the reference RTTM turn of its speaker that contains its
  midpoint, turns are taken in order of (start, end, speaker) and words within
  a turn by time (a word outside its speaker's turns is a turn of its own).
  Ordering reference words by their own times instead would interleave
  overlapping turns word by word, and even a hypothesis equal to the
  reference would then show errors in overlap.  Speaker labels are otherwise
  ignored.
* The two streams are aligned by a plain Levenshtein alignment (``kaldialign``,
  unit costs).  Every reference word is correct, substituted or deleted, and
  its error (if any) counts for its own class.  An inserted hypothesis word
  counts for the class of the nearest reference word before it in the
  alignment (correct, substituted or deleted alike); insertions before the
  first reference word count for the first reference word's class, and in a
  recording without reference words for the non-overlapped class.
* **ovl WER** = (S + D + I of the overlapped class) / (number of overlapped
  reference words), in percent; the **non-overlapped WER** likewise.  A class
  without reference words has no rate (NaN).

Both classes together hold the errors of one optimal alignment of these two
streams: the speaker-agnostic WER of :mod:`.wer` (meeteval), which orders
turns by start time too (ties aside).  Where several alignments are equally
good, the class an error falls into is that of the one ``kaldialign`` picks.
"""

import bisect
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from espnet_tagspeech.data.formats import read_ctm
from espnet_tagspeech.data.turn import Turn, Word, group_by_recording, merge_intervals
from espnet_tagspeech.scoring.wer import WerCounts

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

OVERLAPPED = "overlapped"
NON_OVERLAPPED = "non_overlapped"
CLASSES = (OVERLAPPED, NON_OVERLAPPED)


def rate_or_nan(counts: WerCounts) -> float:
    """Error rate in percent, or NaN when the class has no reference words."""
    return 100.0 * counts.errors / counts.length if counts.length else math.nan


@dataclass
class OverlapWordScores:
    """Error counts of overlapped and non-overlapped reference words.

    Attributes:
        per_recording: ``{recording: {class: WerCounts}}`` with the classes of
            :data:`CLASSES`.
        overall: ``{class: WerCounts}`` summed over recordings.
    """

    per_recording: Dict[str, Dict[str, WerCounts]] = field(default_factory=dict)
    overall: Dict[str, WerCounts] = field(
        default_factory=lambda: {c: WerCounts() for c in CLASSES}
    )

    @property
    def ovl_wer(self) -> float:
        """WER (percent) of the overlapped reference words; NaN without any."""
        return rate_or_nan(self.overall[OVERLAPPED])

    @property
    def nonovl_wer(self) -> float:
        """WER (percent) of the non-overlapped reference words; NaN without any."""
        return rate_or_nan(self.overall[NON_OVERLAPPED])


# ----------------------------------------------------------------------------- word times


def ctm_word_turns(path: PathLike) -> List[Turn]:
    """The words of a CTM file, each as a one-word :class:`Turn` (channel = speaker).

    Raises:
        DataFormatError: on a malformed line (file and line named).
    """
    return [Turn(rec, chan, w.start, w.end, (w,)) for rec, chan, w in read_ctm(path)]


def word_level_turns(turns: Sequence[Turn]) -> Optional[List[Turn]]:
    """Timed one-word turns from a SegLST read by :func:`~espnet_tagspeech.data.formats.read_seglst`.

    A SegLST is word level when every entry with words holds exactly one word;
    the entry's times are then that word's times.  Entries without words are
    dropped.

    Returns:
        The one-word turns, or ``None`` when some entry holds several words
        (turn level: no word times) or there are no words at all.
    """
    out = []
    for t in turns:
        if not t.words:
            continue
        if len(t.words) != 1:
            return None
        out.append(Turn(t.recording, t.speaker, t.start, t.end, (Word(t.words[0].text, t.start, t.end),)))
    return out or None


def _timed_words(turns: Sequence[Turn]) -> Dict[str, List[Tuple[Word, str]]]:
    """{recording: [(word, speaker), ...]} of every (timed) word."""
    out: Dict[str, List[Tuple[Word, str]]] = {}
    for t in turns:
        for w in t.words:
            if not w.timed:
                raise ValueError(f"reference word {w.text!r} of {t.recording} has no times")
            out.setdefault(t.recording, []).append((w, t.speaker))
    return out


# ----------------------------------------------------------------------------- overlap


class ReferenceTurns:
    """The reference RTTM turns, indexed per recording and speaker.

    Answers how many reference speakers talk at a time point (overlapping
    turns of one speaker count once) and which turn of a speaker contains a
    time point.

    Args:
        rttm: Reference speaker turns.
    """

    def __init__(self, rttm: Sequence[Turn]) -> None:
        by_spk: Dict[str, Dict[str, List[Tuple[float, float]]]] = {}
        for t in rttm:
            by_spk.setdefault(t.recording, {}).setdefault(t.speaker, []).append((t.start, t.end))
        # {rec: {speaker: (starts, turns sorted by start, running max of their ends)}}
        self._turns: Dict[str, Dict[str, Tuple[List[float], List[Tuple[float, float]], List[float]]]] = {}
        # {rec: [(starts, merged spans) per speaker]} for counting active speakers
        self._merged: Dict[str, List[Tuple[List[float], List[Tuple[float, float]]]]] = {}
        for rec, spk_spans in by_spk.items():
            self._turns[rec] = {}
            self._merged[rec] = []
            for spk, spans in spk_spans.items():
                spans = sorted(spans)
                ends, hi = [], -math.inf
                for _, e in spans:
                    hi = max(hi, e)
                    ends.append(hi)
                self._turns[rec][spk] = ([st for st, _ in spans], spans, ends)
                merged = merge_intervals(spans)
                self._merged[rec].append(([st for st, _ in merged], merged))

    def count(self, recording: str, t: float) -> int:
        """Number of speakers with a turn ``[start, end)`` containing time ``t``."""
        n = 0
        for starts, spans in self._merged.get(recording, ()):
            i = bisect.bisect_right(starts, t) - 1
            if i >= 0 and t < spans[i][1]:
                n += 1
        return n

    def overlapped(self, recording: str, word: Word) -> bool:
        """Whether the word's midpoint lies where at least two speakers talk."""
        return self.count(recording, 0.5 * (word.start + word.end)) >= 2

    def turn_of(self, recording: str, speaker: str, t: float) -> Optional[Tuple[float, float]]:
        """The latest-starting turn ``(start, end)`` of ``speaker`` containing ``t``, if any."""
        starts, spans, max_end = self._turns.get(recording, {}).get(speaker, ([], [], []))
        i = bisect.bisect_right(starts, t) - 1
        # walk back only while some earlier turn still reaches past t
        while i >= 0 and max_end[i] > t:
            if t < spans[i][1]:
                return spans[i]
            i -= 1
        return None

    def stream_order(
        self, recording: str, speaker: str, word: Word
    ) -> Tuple[float, float, str, float, float]:
        """Sort key of a reference word in the stream: its turn, then its own time."""
        turn = self.turn_of(recording, speaker, 0.5 * (word.start + word.end))
        ts, te = turn if turn is not None else (word.start, word.end)
        return (ts, te, speaker, word.start, word.end)


# ----------------------------------------------------------------------------- alignment


def align_indices(ref: Sequence[str], hyp: Sequence[str]) -> List[Tuple[Optional[int], Optional[int]]]:
    """Levenshtein alignment of two word sequences as index pairs.

    Returns:
        ``(ref index or None, hyp index or None)`` in alignment order:
        ``None`` on the reference side is an insertion, on the hypothesis side
        a deletion; a pair of two indices is a match or a substitution.
    """
    import kaldialign

    # Words become integer ids so that no word can collide with the epsilon symbol.
    vocab: Dict[str, int] = {}
    ref_ids = [vocab.setdefault(w, len(vocab)) for w in ref]
    hyp_ids = [vocab.setdefault(w, len(vocab)) for w in hyp]
    eps = -1
    out: List[Tuple[Optional[int], Optional[int]]] = []
    i = j = 0
    for r, h in kaldialign.align(ref_ids, hyp_ids, eps):
        ri = hi = None
        if r != eps:
            ri, i = i, i + 1
        if h != eps:
            hi, j = j, j + 1
        out.append((ri, hi))
    if i != len(ref) or j != len(hyp):
        raise RuntimeError(f"alignment covers {i}/{len(ref)} reference and {j}/{len(hyp)} hypothesis words")
    return out


def count_by_class(
    ref: Sequence[str], hyp: Sequence[str], overlapped: Sequence[bool]
) -> Dict[str, WerCounts]:
    """Align ``hyp`` to ``ref`` and count errors per class of reference word.

    Args:
        ref: Reference word stream.
        hyp: Hypothesis word stream.
        overlapped: Per reference word, whether it is overlapped.

    Returns:
        ``{class: WerCounts}`` for the classes of :data:`CLASSES` (insertions
        attributed as the module docstring defines).
    """
    if len(overlapped) != len(ref):
        raise ValueError(f"{len(overlapped)} overlap flags for {len(ref)} reference words")
    n = {c: {"len": 0, "sub": 0, "del": 0, "ins": 0} for c in CLASSES}
    for flag in overlapped:
        n[OVERLAPPED if flag else NON_OVERLAPPED]["len"] += 1
    alignment = align_indices(ref, hyp)
    # Class of insertions that come before any reference word: the first reference word's.
    first = next((ri for ri, _ in alignment if ri is not None), None)
    current = NON_OVERLAPPED if first is None else (OVERLAPPED if overlapped[first] else NON_OVERLAPPED)
    for ri, hi in alignment:
        if ri is None:
            n[current]["ins"] += 1
            continue
        current = OVERLAPPED if overlapped[ri] else NON_OVERLAPPED
        if hi is None:
            n[current]["del"] += 1
        elif ref[ri] != hyp[hi]:
            n[current]["sub"] += 1
    return {
        c: WerCounts(v["sub"] + v["del"] + v["ins"], v["len"], v["sub"], v["del"], v["ins"])
        for c, v in n.items()
    }


def hypothesis_stream(turns: Sequence[Turn]) -> List[str]:
    """Words of one recording's hypothesis lines, lines in start-time order (stable)."""
    return [w.text for t in sorted(turns, key=lambda t: (t.start, t.end)) for w in t.words]


def score_overlap_wer(
    ref_words: Sequence[Turn],
    ref_rttm: Sequence[Turn],
    hyp_turns: Sequence[Turn],
    recordings: Optional[Sequence[str]] = None,
) -> OverlapWordScores:
    """Overlapped and non-overlapped speaker-agnostic WER (see the module docstring).

    Args:
        ref_words: Reference turns whose words all carry times (e.g. from
            :func:`ctm_word_turns` or :func:`word_level_turns`).
        ref_rttm: Reference speaker turns deciding where speech overlaps.
        hyp_turns: Hypothesis lines with words (times of words unused).
        recordings: Recordings to score (default: those of ``ref_words`` and
            ``ref_rttm``); hypothesis lines of other recordings are ignored,
            a recording without hypothesis is all deletions.

    Returns:
        The :class:`OverlapWordScores`.

    Raises:
        ValueError: a reference word has no times.
    """
    words = _timed_words(ref_words)
    reference = ReferenceTurns(ref_rttm)
    hyp = group_by_recording(hyp_turns)
    recs = sorted(set(recordings) if recordings is not None else set(words) | {t.recording for t in ref_rttm})
    scores = OverlapWordScores()
    for rec in recs:
        rw = sorted(words.get(rec, []), key=lambda ws: reference.stream_order(rec, ws[1], ws[0]))
        flags = [reference.overlapped(rec, w) for w, _ in rw]
        counts = count_by_class([w.text for w, _ in rw], hypothesis_stream(hyp.get(rec, [])), flags)
        scores.per_recording[rec] = counts
        for c in CLASSES:
            scores.overall[c] = scores.overall[c] + counts[c]
    n_ovl, n_all = scores.overall[OVERLAPPED].length, sum(c.length for c in scores.overall.values())
    logger.info("%d of %d reference words are overlapped (%d recordings)", n_ovl, n_all, len(recs))
    return scores
