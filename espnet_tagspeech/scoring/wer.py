"""Word-level metrics of multi-speaker transcripts, computed by meeteval.

* **cpWER**: concatenated minimum-permutation WER (words of each speaker
  concatenated in time order, best one-to-one speaker assignment).
* **ORC-WER**: optimal reference combination: each reference segment may go
  to any hypothesis stream (a lower bound that ignores speaker labels).
* **tcpWER**: time-constrained cpWER; a hypothesis word can only match a
  reference word whose time span (widened by ``collar`` seconds) overlaps it.
  Word times come from the segment times (meeteval's pseudo word timing)
  unless the SegLST is word level.
* **WER (speaker agnostic)**: all words of a recording in start-time order as
  one stream, compared with plain WER.
* **Speaker count**: per recording, distinct speakers of reference vs
  hypothesis; accuracy (share of recordings where they are equal) and mean
  absolute error.

A reference recording without hypothesis turns is scored with an empty
hypothesis (all deletions, 0 speakers). Hypothesis-only recordings are not
scored; their ids are returned in :attr:`WordScores.hyp_only`.
Nothing here reimplements a WER: every error count comes from meeteval.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from espnet_tagspeech.data.turn import Turn

logger = logging.getLogger(__name__)

_EMPTY_SPEAKER = "<no-speaker>"


@dataclass(frozen=True)
class WerCounts:
    """Error counts of one metric, additive over recordings.

    Attributes:
        errors: Substitutions + deletions + insertions.
        length: Number of reference words.
        substitutions: Substituted words.
        deletions: Deleted words.
        insertions: Inserted words.
    """

    errors: int = 0
    length: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def rate(self) -> float:
        """Error rate in percent (0 for 0/0, 100 % per error when there are no reference words)."""
        if self.length > 0:
            return 100.0 * self.errors / self.length
        return 100.0 if self.errors else 0.0

    def __add__(self, other: "WerCounts") -> "WerCounts":
        return WerCounts(
            self.errors + other.errors,
            self.length + other.length,
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )

    @classmethod
    def from_meeteval(cls, er: object) -> "WerCounts":
        """Take the counts of a meeteval ``ErrorRate``."""
        return cls(
            int(er.errors),  # type: ignore[attr-defined]
            int(er.length),  # type: ignore[attr-defined]
            int(er.substitutions),  # type: ignore[attr-defined]
            int(er.deletions),  # type: ignore[attr-defined]
            int(er.insertions),  # type: ignore[attr-defined]
        )

    def as_dict(self) -> Dict[str, float]:
        """Counts and rate (percent)."""
        return {
            "wer": self.rate,
            "errors": self.errors,
            "length": self.length,
            "sub": self.substitutions,
            "del": self.deletions,
            "ins": self.insertions,
        }


METRICS = ("cpwer", "orcwer", "tcpwer", "wer")


@dataclass
class WordScores:
    """Word metrics per recording and overall.

    Attributes:
        per_recording: ``{recording: {metric: WerCounts}}``, metrics in :data:`METRICS`.
        overall: ``{metric: WerCounts}`` summed over recordings.
        speaker_counts: ``{recording: (n_ref, n_hyp)}``.
        hyp_only: Recordings only in the hypothesis (not scored).
        collar: tcpWER collar used.
    """

    per_recording: Dict[str, Dict[str, WerCounts]]
    overall: Dict[str, WerCounts]
    speaker_counts: Dict[str, tuple]
    hyp_only: List[str] = field(default_factory=list)
    collar: float = 5.0

    @property
    def speaker_count_accuracy(self) -> float:
        """Percent of recordings whose hypothesis has the reference's number of speakers."""
        if not self.speaker_counts:
            return 0.0
        ok = sum(1 for r, h in self.speaker_counts.values() if r == h)
        return 100.0 * ok / len(self.speaker_counts)

    @property
    def speaker_count_mae(self) -> float:
        """Mean absolute difference of speaker counts over recordings."""
        if not self.speaker_counts:
            return 0.0
        return sum(abs(r - h) for r, h in self.speaker_counts.values()) / len(
            self.speaker_counts
        )

    def as_dict(self) -> Dict[str, object]:
        """Plain data for JSON."""
        return {
            "collar": self.collar,
            "overall": {m: c.as_dict() for m, c in self.overall.items()},
            "speaker_count_accuracy": self.speaker_count_accuracy,
            "speaker_count_mae": self.speaker_count_mae,
            "per_recording": {
                rec: {
                    **{m: c.as_dict() for m, c in ms.items()},
                    "n_ref_speakers": self.speaker_counts[rec][0],
                    "n_hyp_speakers": self.speaker_counts[rec][1],
                }
                for rec, ms in self.per_recording.items()
            },
            "hyp_only": list(self.hyp_only),
        }


def _seglst(turns: Sequence[Turn], single_speaker: bool = False) -> List[dict]:
    """Turns as SegLST dicts; timed words become one entry each (word-level timing)."""
    out = []
    for t in turns:
        spk = "all" if single_speaker else t.speaker
        if t.words and all(w.timed for w in t.words):
            for w in t.words:
                out.append(
                    dict(session_id=t.recording, speaker=spk, start_time=w.start,
                         end_time=w.end, words=w.text)
                )
        else:
            out.append(
                dict(session_id=t.recording, speaker=spk, start_time=t.start,
                     end_time=t.end, words=t.text)
            )
    return out


def _speakers(turns: Sequence[Turn]) -> Dict[str, set]:
    out: Dict[str, set] = {}
    for t in turns:
        out.setdefault(t.recording, set()).add(t.speaker)
    return out


def score_words(
    ref_turns: Sequence[Turn],
    hyp_turns: Sequence[Turn],
    collar: float = 5.0,
    metrics: Sequence[str] = METRICS,
) -> WordScores:
    """cpWER, ORC-WER, tcpWER, speaker-agnostic WER and speaker counts.

    Args:
        ref_turns: Reference turns with words (all recordings).
        hyp_turns: Hypothesis turns with words.
        collar: tcpWER collar in seconds.
        metrics: Which of :data:`METRICS` to compute (ORC-WER's matching grows
            exponentially with the segments of a recording: leave it out for
            long or badly segmented hypotheses).

    Returns:
        The :class:`WordScores`.

    Raises:
        ValueError: when there are no reference turns.
    """
    import meeteval
    from meeteval.io import SegLST

    if not ref_turns:
        raise ValueError("no reference turns to score")
    ref_recs = sorted({t.recording for t in ref_turns})
    hyp_only = sorted({t.recording for t in hyp_turns} - set(ref_recs))
    if hyp_only:
        logger.warning(
            "%d recording(s) only in the hypothesis, not scored: %s",
            len(hyp_only), " ".join(hyp_only),
        )
    hyp_turns = [t for t in hyp_turns if t.recording in set(ref_recs)]
    missing = sorted(set(ref_recs) - {t.recording for t in hyp_turns})
    if missing:
        logger.warning(
            "%d reference recording(s) without hypothesis, scored as empty: %s",
            len(missing), " ".join(missing),
        )
    ref_spk = _speakers(ref_turns)
    hyp_spk = _speakers(hyp_turns)

    def build(turns: Sequence[Turn], single: bool, fill: Sequence[str]) -> "SegLST":
        rows = _seglst(turns, single)
        for rec in fill:
            rows.append(dict(session_id=rec, speaker=_EMPTY_SPEAKER, start_time=0.0,
                             end_time=0.0, words=""))
        return SegLST(rows)

    ref = build(ref_turns, False, [])
    hyp = build(hyp_turns, False, missing)
    ref1 = build(ref_turns, True, [])
    hyp1 = build(hyp_turns, True, missing)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown word metrics {unknown}; choose from {list(METRICS)}")
    compute = {
        "cpwer": lambda: meeteval.wer.cpwer(ref, hyp),
        "orcwer": lambda: meeteval.wer.orcwer(ref, hyp),
        "tcpwer": lambda: meeteval.wer.tcpwer(ref, hyp, collar=collar),
        "wer": lambda: meeteval.wer.cpwer(ref1, hyp1),
    }
    results = {m: compute[m]() for m in metrics}
    per: Dict[str, Dict[str, WerCounts]] = {}
    overall = {m: WerCounts() for m in metrics}
    for rec in ref_recs:
        per[rec] = {}
        for m in metrics:
            c = WerCounts.from_meeteval(results[m][rec])
            per[rec][m] = c
            overall[m] = overall[m] + c
    counts = {
        rec: (len(ref_spk.get(rec, ())), len(hyp_spk.get(rec, ()))) for rec in ref_recs
    }
    return WordScores(per, overall, counts, hyp_only, collar)
