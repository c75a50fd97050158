"""Time-ordered serialization (t-SOT) of a cut's words, for a CTC head.

SOT (the paper's semantic-stream objective) writes a cut's turns one after the
other.  A CTC head trained on it must emit an overlapping turn's words only
after the whole previous turn, long after they were spoken: CTC alignments are
monotonic in time, SOT's label order is not.  Token-level SOT (t-SOT, Kanda et
al., Interspeech 2022) writes every word in the order it starts instead, on one
of ``num_channels`` virtual channels:

* each turn takes the lowest-numbered channel that is free when it starts (the
  channel whose turns have all ended; with none free, the one that frees first);
* ``CHANNEL_CHANGE`` between two words switches to the next channel (mod
  ``num_channels``), so two overlapping turns interleave their words;
* ``TURN_END`` after a turn's last word closes that channel's turn: the next
  word on the channel starts a new line (a new turn, usually of another speaker).

The label order is then monotonic in time, so every word's CTC frames tell when
it was said, and overlapped turns come back as overlapping lines.  The
serialization works on :class:`~espnet_tagspeech.data.turn.Turn` records whose
words carry times (:func:`serialize_tsot`); :func:`deserialize_tsot` turns
decoded elements with times back into lines (turns without speakers).

This module stays at the package root, beside :mod:`espnet_tagspeech.serialization`
(the LLM's target format), rather than in :mod:`espnet_tagspeech.decode`: it is
the CTC head's target format, written for training (stage 5's CTC targets, the
n-gram LM's labels, the model's channel symbol) as much as read back in decoding.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from espnet_tagspeech.data.turn import Turn, Word

CHANNEL_CHANGE = "<cc>"
TURN_END = "\n"
SYMBOLS = (CHANNEL_CHANGE, TURN_END)
_RESERVED = set("<>\\")
_EPS = 1e-6


def assign_channels(turns: Sequence[Turn], num_channels: int = 2) -> List[int]:
    """The virtual channel of each turn (in the given order).

    A turn takes the lowest channel free at its start; when every channel is
    busy (more than ``num_channels`` turns at once) it takes the channel that
    frees first.

    Args:
        turns: The cut's turns.
        num_channels: Number of virtual channels (>= 1).

    Raises:
        ValueError: ``num_channels < 1``.
    """
    if num_channels < 1:
        raise ValueError(f"num_channels must be >= 1, got {num_channels}")
    busy_until = [float("-inf")] * num_channels
    out = [0] * len(turns)
    for i in sorted(range(len(turns)), key=lambda k: (turns[k].start, turns[k].end)):
        t = turns[i]
        free = [c for c in range(num_channels) if busy_until[c] <= t.start + _EPS]
        ch = free[0] if free else min(range(num_channels), key=lambda c: busy_until[c])
        busy_until[ch] = max(busy_until[ch], t.end)
        out[i] = ch
    return out


def serialize_tsot(turns: Sequence[Turn], num_channels: int = 2) -> List[str]:
    """The t-SOT elements of a cut: words, ``CHANNEL_CHANGE`` and ``TURN_END``.

    Words are ordered by start time (ties: channel, then turn order); the first
    word is on channel 0 (the first turn always takes it).

    Args:
        turns: The cut's turns, every word with its times.
        num_channels: Number of virtual channels.

    Raises:
        ValueError: a word without times, naming its turn.
    """
    chans = assign_channels(turns, num_channels)
    events = []  # (start, channel, turn index, word index, word, last word of its turn)
    for ti, (t, ch) in enumerate(zip(turns, chans)):
        for wi, w in enumerate(t.words):
            if not w.timed:
                raise ValueError(
                    f"t-SOT needs word times: word {w.text!r} of {t.speaker}'s turn "
                    f"{t.start:.2f}-{t.end:.2f} in {t.recording} has none"
                )
            events.append((w.start, ch, ti, wi, w.text, wi == len(t.words) - 1))
    events.sort(key=lambda e: e[:4])
    out: List[str] = []
    cur = 0
    for _, ch, _, _, text, last in events:
        out += [CHANNEL_CHANGE] * ((ch - cur) % num_channels)
        cur = ch
        out.append(text)
        if last:
            out.append(TURN_END)
    return out


def tsot_text(elements: Sequence[str]) -> str:
    """Elements as one string: words and ``<cc>`` space-separated, a newline ending turns."""
    out = ""
    for e in elements:
        if e == TURN_END:
            out += TURN_END
        else:
            out += (" " if out and not out.endswith(TURN_END) else "") + e
    return out


def split_elements(text: str) -> List[str]:
    """Elements of a decoded t-SOT string (inverse of :func:`tsot_text`, never raises).

    A "word" holding a character of the target format's markup (``<``, ``>``,
    a backslash: a token no transcript has, from an undertrained head) is dropped.
    """
    out: List[str] = []
    for i, row in enumerate(text.split(TURN_END)):
        if i:
            out.append(TURN_END)
        for e in row.replace(CHANNEL_CHANGE, f" {CHANNEL_CHANGE} ").split():
            if e == CHANNEL_CHANGE or not _RESERVED & set(e):
                out.append(e)
    return out


def element_labels(elements: Sequence[str], tokenizer) -> Tuple[List[int], List[int]]:
    """CTC labels of the elements, each element encoded on its own.

    A word is encoded with a leading space, so that decoded labels keep their
    word boundaries (``decode`` of the labels gives back the elements through
    :func:`split_elements`); the symbols are encoded as they are.

    Args:
        elements: t-SOT elements.
        tokenizer: ``encode(text) -> ids``.

    Returns:
        ``(labels, owner)``: the token ids and, for each, the index of its element.
    """
    labels: List[int] = []
    owner: List[int] = []
    for k, e in enumerate(elements):
        ids = list(tokenizer.encode(e if e in SYMBOLS else " " + e))
        labels += ids
        owner += [k] * len(ids)
    return labels, owner


@dataclass
class TsotLine:
    """One line recovered from t-SOT elements: a channel's turn with timed words."""

    channel: int
    words: List[Word]

    @property
    def start(self) -> float:
        """Start of the first word."""
        return self.words[0].start

    @property
    def end(self) -> float:
        """End of the last word."""
        return self.words[-1].end


def deserialize_tsot(
    elements: Sequence[str],
    times: Sequence[Tuple[float, float]],
    num_channels: int = 2,
) -> List[TsotLine]:
    """Lines (turns) of decoded t-SOT elements with the time span of each element.

    Never raises on odd sequences: a ``TURN_END`` on an empty channel is
    ignored, lines still open at the end are closed.

    Args:
        elements: Decoded elements (words, ``CHANNEL_CHANGE``, ``TURN_END``).
        times: ``(start, end)`` of each element (only the words' are used).
        num_channels: Number of virtual channels of the model.

    Returns:
        The lines sorted by start time (then channel).

    Raises:
        ValueError: ``times`` not matching ``elements`` in length.
    """
    if len(times) != len(elements):
        raise ValueError(f"{len(elements)} elements but {len(times)} time spans")
    open_words: List[List[Word]] = [[] for _ in range(num_channels)]
    lines: List[TsotLine] = []

    def close(ch: int) -> None:
        if open_words[ch]:
            lines.append(TsotLine(ch, open_words[ch]))
            open_words[ch] = []

    cur = 0
    for e, (s, t) in zip(elements, times):
        if e == CHANNEL_CHANGE:
            cur = (cur + 1) % num_channels
        elif e == TURN_END:
            close(cur)
        else:
            s = max(0.0, float(s))
            open_words[cur].append(Word(e, s, max(s, float(t))))
    for ch in range(num_channels):
        close(ch)
    lines.sort(key=lambda ln: (ln.start, ln.channel))
    return lines


def split_at_gaps(lines: Sequence[TsotLine], max_gap: float) -> List[TsotLine]:
    """Split every line where its words pause for more than ``max_gap`` seconds.

    A line-end symbol the decoder missed merges two turns of a channel into one
    line; a long silence between two of its words is where they meet (and the
    silence is not speech either).
    """
    out: List[TsotLine] = []
    for ln in lines:
        words = [ln.words[0]]
        for w in ln.words[1:]:
            if w.start - words[-1].end > max_gap:
                out.append(TsotLine(ln.channel, words))
                words = []
            words.append(w)
        out.append(TsotLine(ln.channel, words))
    out.sort(key=lambda x: (x.start, x.channel))
    return out


def lines_to_turns(
    lines: Sequence[TsotLine],
    recording: str,
    start_pad: float = 0.0,
    end_pad: float = 0.0,
    limit: Optional[float] = None,
) -> List[Turn]:
    """Turns of the lines (speaker ``ch<channel>``), widened by the pads and clipped."""
    out = []
    for ln in lines:
        s = max(0.0, ln.start - start_pad)
        e = ln.end + end_pad
        if limit is not None:
            e = min(e, limit)
        out.append(Turn(recording, f"ch{ln.channel}", s, max(s, e), tuple(ln.words)))
    return out
