"""The one typed record of the project: a speaker turn with its words.

Every part of the toolkit speaks in :class:`Turn` objects: the meeting simulator
writes them, utterance grouping cuts recordings along them, the serializer turns
them into TagSpeech targets (and the parser back), and scoring reads them from
RTTM / SegLST files.  Times are seconds, either in recording time or relative
to a cut (the field ``recording`` then names the cut).
"""

from dataclasses import dataclass, field, replace
from typing import Iterable, List, Optional, Sequence, Tuple

GENDERS = ("m", "f", "u")


@dataclass(frozen=True)
class Word:
    """One word, optionally with its time span in seconds.

    Args:
        text: The word itself (no whitespace).
        start: Start time in seconds, or ``None`` when unknown.
        end: End time in seconds, or ``None`` when unknown.
    """

    text: str
    start: Optional[float] = None
    end: Optional[float] = None

    def __post_init__(self) -> None:
        if not self.text or any(c.isspace() for c in self.text):
            raise ValueError(f"word must be non-empty without whitespace: {self.text!r}")
        if (self.start is None) != (self.end is None):
            raise ValueError(f"word {self.text!r}: give both start and end or neither")
        if self.start is not None and not (0.0 <= self.start <= self.end):
            raise ValueError(
                f"word {self.text!r}: bad time span {self.start}-{self.end}"
            )

    @property
    def timed(self) -> bool:
        """Whether the word carries a time span."""
        return self.start is not None

    def shifted(self, offset: float) -> "Word":
        """Return the word with its times moved by ``offset`` seconds."""
        if self.start is None:
            return self
        return replace(self, start=self.start + offset, end=self.end + offset)


@dataclass(frozen=True)
class Turn:
    """A contiguous stretch of speech of one speaker.

    Args:
        recording: Recording (or cut) id the times refer to.
        speaker: Speaker label.
        start: Start time in seconds.
        end: End time in seconds (``end >= start``).
        words: The words spoken, in order; may be empty (diarization only).
        gender: ``"m"``, ``"f"`` or ``"u"`` (unknown).
    """

    recording: str
    speaker: str
    start: float
    end: float
    words: Tuple[Word, ...] = field(default=())
    gender: str = "u"

    def __post_init__(self) -> None:
        if not self.recording or any(c.isspace() for c in self.recording):
            raise ValueError(f"bad recording id {self.recording!r}")
        if not self.speaker or any(c.isspace() for c in self.speaker):
            raise ValueError(f"bad speaker label {self.speaker!r}")
        if not (self.start >= 0.0 and self.end >= self.start):
            raise ValueError(
                f"turn of {self.speaker} in {self.recording}: "
                f"bad time span {self.start}-{self.end}"
            )
        if self.gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}, got {self.gender!r}")
        if not isinstance(self.words, tuple):
            object.__setattr__(self, "words", tuple(self.words))

    @classmethod
    def from_text(
        cls,
        recording: str,
        speaker: str,
        start: float,
        end: float,
        text: str,
        gender: str = "u",
    ) -> "Turn":
        """Build a turn from a whitespace-separated transcript without word times."""
        return cls(
            recording, speaker, start, end, tuple(Word(w) for w in text.split()), gender
        )

    @property
    def text(self) -> str:
        """The transcript: words joined by single spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def duration(self) -> float:
        """Length of the turn in seconds."""
        return self.end - self.start

    def shifted(self, offset: float, recording: Optional[str] = None) -> "Turn":
        """Return the turn moved by ``offset`` seconds, optionally renamed."""
        return replace(
            self,
            recording=recording or self.recording,
            start=self.start + offset,
            end=self.end + offset,
            words=tuple(w.shifted(offset) for w in self.words),
        )

    def with_speaker(self, speaker: str) -> "Turn":
        """Return the turn with another speaker label."""
        return replace(self, speaker=speaker)


def sort_turns(turns: Iterable[Turn]) -> List[Turn]:
    """Sort turns by recording, start, end, speaker (a total, stable order)."""
    return sorted(turns, key=lambda t: (t.recording, t.start, t.end, t.speaker))


def group_by_recording(turns: Iterable[Turn]) -> "dict[str, List[Turn]]":
    """Group turns by recording id, each list sorted by time."""
    out: "dict[str, List[Turn]]" = {}
    for t in sort_turns(turns):
        out.setdefault(t.recording, []).append(t)
    return out


def merge_intervals(
    spans: Iterable[Tuple[float, float]], max_gap: float = 0.0
) -> List[Tuple[float, float]]:
    """Merge overlapping spans (and spans separated by at most ``max_gap``).

    Args:
        spans: ``(start, end)`` pairs in any order.
        max_gap: Spans whose gap is ``<= max_gap`` are joined.

    Returns:
        Disjoint spans sorted by start.
    """
    out: List[Tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s - out[-1][1] <= max_gap + 1e-9:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def speakers_in_order(turns: Sequence[Turn]) -> List[str]:
    """Speaker labels in order of first appearance (turns taken as given)."""
    seen: List[str] = []
    for t in turns:
        if t.speaker not in seen:
            seen.append(t.speaker)
    return seen
