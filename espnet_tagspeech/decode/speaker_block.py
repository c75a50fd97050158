"""Search helpers for the LLM's speaker block: a consistent block, and the speaker stream's voice.

Two ``transformers`` logits processors act while the LLM writes the
``<speaker>`` block of its answer; the LLM still chooses every token:

* :class:`SpeakerBlockConstraint` keeps the answer self-consistent: inside a
  ``<spk ... t="...">`` list a range can only be one of the text block's
  line ranges (``s.ss-e.ee``, as written above it) not given to a speaker
  yet, so a line belongs to at most one speaker and the parser never has to
  guess; with ``every_line``, ``</speaker>`` cannot close the block while a
  line has no speaker; once every line has one, it must (a new speaker could
  only list nothing); with ``max_overlap``, a speaker's list may not hold two
  lines that overlap by more than that (a person does not talk over
  themself: the second voice of an overlap goes to another speaker).  Which
  line goes to which speaker is the LLM's choice.
* :class:`SpeakerVoiceBias` is shallow fusion of the speaker stream's voice
  prints into that choice: while the LLM lists a speaker's ranges, a line
  whose voice (the stream's frames over the line, where it is the only line
  talking) is close to the voice of the ranges listed so far gets a bonus,
  one far from it a penalty, both on the ``,`` that asks for another range
  and on the digits that pick which.  It is the speaker-side counterpart of
  the CTC fusion of :mod:`.answer_search`: one person's lines kept together,
  two people's kept apart, within a cut, where linking cannot undo a split.

Both re-read each row's answer from its generated tokens (greedy and beam
search, rows input-major).
"""

import re
from collections import Counter
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from espnet_tagspeech.decode.answer_search import NEG, _keep_only, _single_token, _split_answer
from espnet_tagspeech.decode.voices import _subtract

_LISTS = re.compile(r't="([^"]*)"')


class RangeList(NamedTuple):
    """Where an answer is while it writes a speaker's ``t="..."`` list.

    Attributes:
        ranges: The text block's line ranges (``"s-e"``), in order.
        listed: Every range given to a speaker already (earlier lists, and the
            complete ranges of this one).
        items: The complete ranges of the list being written.
        part: What follows its last ``,`` (or ``t="``): a range being written,
            or a whole one not yet followed by ``,`` or ``"``.
    """

    ranges: List[str]
    listed: Counter
    items: List[str]
    part: str


def range_list(text: str) -> Optional[RangeList]:
    """The state of the ``t="..."`` list an answer is inside (``None``: not inside one)."""
    if "<speaker>" not in text:
        return None
    block = text.split("<speaker>", 1)[1]
    pos = block.rfind('t="')
    if pos < 0 or '"' in block[pos + 3:]:
        return None
    ranges, _ = _split_answer(text)
    listed = Counter(r for lst in _LISTS.findall(block) for r in lst.split(","))
    *items, part = block[pos + 3:].split(",")
    listed.update(items)
    return RangeList(ranges, listed, items, part)


def _span(r: str) -> Tuple[float, float]:
    start, end = r.split("-")
    return float(start), float(end)


def fitting(left: Counter, own: Sequence[str], max_overlap: Optional[float]) -> Counter:
    """The ranges of ``left`` that may join a speaker already holding ``own``.

    Args:
        left: Ranges (``"s-e"``) not given to a speaker yet, with their counts.
        own: The ranges of the speaker being listed.
        max_overlap: Seconds a range may overlap each of ``own`` at most
            (``None``: every range fits).

    Returns:
        The ranges of ``left`` that overlap none of ``own`` by more than
        ``max_overlap``, with their counts.
    """
    if max_overlap is None or not own:
        return Counter({r: n for r, n in left.items() if n > 0})
    spans = [_span(r) for r in own]

    def fits(r: str) -> bool:
        s, e = _span(r)
        return all(min(e, oe) - max(s, os_) <= max_overlap + 1e-6 for os_, oe in spans)

    return Counter({r: n for r, n in left.items() if n > 0 and fits(r)})


class SpeakerBlockConstraint:
    """Only the text block's line ranges, each once, inside the speaker block's ``t="..."``.

    Speakers are numbered 1, 2, ... in the order they are listed (the LLM
    writes the ``id`` digits; only the next number is allowed).

    Args:
        tokenizer: The LLM's tokenizer (digits, ``.``, ``-``, ``,``, ``"``,
            ``id="`` and ``t="`` as single tokens, as the sentencepiece models of
            ``bin/train_tokenizer.py`` keep them).
        num_beams: Beams per input.
        every_line: The block may not close while a text line has no speaker.
        merge_bias: Score added to ``,`` after a whole range while a line is
            left (another line for the same speaker rather than a new one): a
            prior against splitting one person into several speakers, whom
            linking then has to keep apart.
        max_overlap: Seconds two ranges of one speaker may overlap at most
            (``None``: no limit).

    Raises:
        ValueError: a tokenizer that splits one of those symbols.
    """

    def __init__(self, tokenizer, num_beams: int = 1, every_line: bool = False, merge_bias: float = 0.0,
                 max_overlap: Optional[float] = None) -> None:
        def single(s: str) -> int:
            return _single_token(tokenizer, s, "speaker-block constraint")

        self.tokenizer = tokenizer
        self.char_ids = {c: single(c) for c in "0123456789.-,\""}
        self.open_t = single('t="')
        self.open_id = single('id="')
        self.close_block = single("</speaker>")
        self.num_beams = num_beams
        self.every_line = every_line
        self.merge_bias = float(merge_bias)
        self.max_overlap = max_overlap

    def banned(self, ids: Sequence[int]) -> List[int]:
        """Token ids not allowed next: ``</speaker>`` while a text line has no speaker
        (with ``every_line``)."""
        state = self._between_speakers(ids)
        if not self.every_line or state is None:
            return []
        return [self.close_block] if state[1] else []

    def _between_speakers(self, ids: Sequence[int]) -> Optional[Tuple[bool, bool]]:
        """Outside any ``t="..."`` list of an open speaker block: whether the answer
        is at the start of an entry (after ``<speaker>`` or an entry's end) and whether a
        text line is left without a speaker (``None``: not in an open speaker block)."""
        text = self.tokenizer.decode(list(ids))
        if "<speaker>" not in text:
            return None
        block = text.split("<speaker>", 1)[1]
        if "</speaker>" in block:
            return None
        ranges, _ = _split_answer(text)
        used = Counter(r for lst in _LISTS.findall(block) for r in lst.split(","))
        at_entry = block.rstrip(" ") == "\n" or block.rstrip(" ").endswith("/>\n")
        return at_entry, bool(Counter(ranges) - used)

    def must_close(self, ids: Sequence[int]) -> bool:
        """Whether the block must close now: at the start of an entry, every text
        line has its speaker (a new speaker could only list nothing)."""
        state = self._between_speakers(ids)
        return state is not None and state[0] and not state[1]

    def next_id(self, ids: Sequence[int]) -> Optional[List[int]]:
        """Inside a speaker's ``id="..."``: the token that continues the entry's number
        (the speakers of a block are numbered 1, 2, ... in order), else ``None``."""
        if self.open_id not in ids:
            return None
        text = self.tokenizer.decode(list(ids))
        if "<speaker>" not in text:
            return None
        block = text.split("<speaker>", 1)[1]
        pos = block.rfind('id="')
        if pos < 0 or "</speaker>" in block or '"' in block[pos + 4:]:
            return None
        part, number = block[pos + 4:], str(block[:pos].count("<spk") or 1)
        if part == number:
            return [self.char_ids['"']]
        if number.startswith(part):
            return [self.char_ids[number[len(part)]]]
        return None  # an id the constraint did not shape: leave it

    def allowed(self, ids: Sequence[int]) -> Optional[List[int]]:
        """Token ids allowed next after the answer tokens ``ids`` (``None``: no constraint)."""
        number = self.next_id(ids)
        if number is not None:
            return number
        if self.open_t not in ids:
            return None
        state = range_list(self.tokenizer.decode(list(ids)))
        if state is None:
            return None
        part = state.part
        left = Counter(state.ranges) - state.listed
        fits = fitting(left, state.items, self.max_overlap)
        nxt = {self.char_ids[r[len(part)]] for r in fits if r.startswith(part) and len(r) > len(part)}
        if left[part] > 0:  # a whole range written: another one, or the end of the list
            if fitting(left - Counter([part]), state.items + [part], self.max_overlap):
                nxt.add(self.char_ids[","])
            nxt.add(self.char_ids['"'])
        if not nxt:  # nothing fits any more: close the list
            nxt.add(self.char_ids['"'])
        return sorted(nxt)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask the scores of every token a row may not write next."""
        for row in range(scores.shape[0]):
            ids = input_ids[row].tolist()
            ok = self.allowed(ids)
            if ok is None and self.must_close(ids):
                _keep_only(scores, row, [self.close_block])
                continue
            if ok is None:
                ban = self.banned(ids)
                if ban:
                    scores[row, ban] = NEG
                continue
            _keep_only(scores, row, ok)
            if self.merge_bias and self.char_ids[","] in ok:
                scores[row, self.char_ids[","]] += self.merge_bias
        return scores


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


class SpeakerVoiceBias:
    """Add ``weight * (similarity - threshold)`` for lines that sound like the speaker being listed.

    A line's voice print is the mean and standard deviation of the speaker
    stream's frames over the line's span where no other text line talks (all
    of its span when that leaves under 0.3 s); a speaker's print is the mean
    of its listed lines' unit prints; similarity is their cosine.  (Centring
    the prints on the cut's speech separates pairs of lines better but splits
    one-voice cuts, whose centred prints are noise: not done.)  After a whole
    range, ``,`` gets the bonus of the closest line left; while a range's
    digits are written, each digit gets that of the closest line it can still
    spell.  The first range of a speaker gets nothing: which line opens a
    speaker is the LLM's choice alone.

    With ``voices`` (the recording's speakers as an earlier decoding linked
    them, each a print of its voice over all of its lines), the speaker being
    listed is the recording speaker nearest its listed lines, and a line's
    similarity is ``threshold`` plus the margin by which it is nearer that
    speaker than any other: a line is compared with voices heard over the
    whole recording, not with the one or two short lines of this cut (on mini
    dev, lines of one cut: pair EER 35 % line to line; a line goes to the right
    speaker of its recording 84 % of the time by the nearest voice).

    Args:
        frames: Per input, its ``(T, C)`` speaker-stream frames.
        frame_shift: Seconds per frame.
        tokenizer: The LLM's tokenizer (digits, ``,``, ``"`` single tokens).
        weight: Score per unit of cosine similarity above ``threshold``.
        threshold: Similarity at which a line gets neither bonus nor penalty.
        num_beams: Beams per input.
        max_overlap: As :class:`SpeakerBlockConstraint`'s: lines that may not
            join the speaker are not weighed.
        embed: ``embed(item, spans)``: input ``item``'s voice print over
            ``spans`` (seconds) from another speaker encoder (e.g. resemblyzer's
            over the audio); ``None``: the mean and standard deviation of
            ``frames`` (which may then be ``None``).
        voices: Per input, ``None`` or the ``(K, D)`` prints (same encoder as
            the lines') of its recording's ``K`` speakers; used when ``K >= 2``.

    Raises:
        ValueError: a tokenizer that splits one of those symbols.
    """

    def __init__(self, frames: Optional[Sequence[np.ndarray]], frame_shift: float, tokenizer, weight: float,
                 threshold: float, num_beams: int = 1, max_overlap: Optional[float] = None,
                 embed: Optional[Callable[[int, List[Tuple[float, float]]], np.ndarray]] = None,
                 voices: Optional[Sequence[Optional[np.ndarray]]] = None) -> None:
        def single(s: str) -> int:
            return _single_token(tokenizer, s, "speaker voice bias")

        if frames is None and embed is None:
            raise ValueError("SpeakerVoiceBias needs the speaker stream's frames or an embed function")
        self.frames = [np.asarray(f, dtype=np.float64) for f in frames] if frames is not None else []
        self.voices = [None if v is None or len(v) < 2 else np.stack([_unit(np.asarray(x, dtype=np.float64))
                                                                      for x in v])
                       for v in (voices or [])]
        self.embed = embed
        self.frame_shift = float(frame_shift)
        self.tokenizer = tokenizer
        self.weight = float(weight)
        self.threshold = float(threshold)
        self.num_beams = num_beams
        self.max_overlap = max_overlap
        self.char_ids = {c: single(c) for c in "0123456789.-,"}
        self.open_t = single('t="')
        self._prints: Dict[Tuple[int, Tuple[str, ...]], Dict[str, np.ndarray]] = {}

    def _print(self, item: int, spans: Sequence[Tuple[float, float]]) -> np.ndarray:
        """Input ``item``'s voice over ``spans``: ``embed``'s print, else the mean and standard
        deviation of its frames whose centre is inside ``spans``."""
        if self.embed is not None:
            return np.asarray(self.embed(item, list(spans)), dtype=np.float64)
        frames = self.frames[item]
        shift = self.frame_shift
        idx = [j for s, e in spans for j in range(int(np.ceil(s / shift - 0.5)), int(np.ceil(e / shift - 0.5)))]
        idx = np.clip(np.asarray(idx or [int(spans[0][0] / shift)]), 0, len(frames) - 1)
        sel = frames[idx]
        return np.concatenate([sel.mean(0), sel.std(0)])

    def prints(self, item: int, ranges: Sequence[str]) -> Dict[str, np.ndarray]:
        """Unit voice print of each of input ``item``'s text-line ranges (cached per answer)."""
        key = (item, tuple(ranges))
        if key not in self._prints:
            spans = [_span(r) for r in ranges]
            out = {}
            for i, (r, span) in enumerate(zip(ranges, spans)):
                alone = _subtract([span], spans[:i] + spans[i + 1:])
                use = alone if sum(e - s for s, e in alone) >= 0.3 else [span]
                if r not in out:
                    out[r] = _unit(self._print(item, use))
            self._prints[key] = out
        return self._prints[key]

    def _own_and_left(self, state: RangeList) -> Tuple[List[str], Counter]:
        own = list(state.items)
        left = Counter(state.ranges) - state.listed
        if left[state.part] > 0:  # the range just written is the speaker's too
            own.append(state.part)
            left[state.part] -= 1
        return own, left

    def similarities(self, item: int, state: RangeList) -> Dict[str, float]:
        """Cosine similarity of each line left to the speaker being listed (``{}``: no range listed)."""
        own, left = self._own_and_left(state)
        prints = self.prints(item, state.ranges)
        mine = [prints[r] for r in own if r in prints]
        if not mine:
            return {}
        voice = _unit(np.mean(mine, axis=0))
        lines = [r for r in fitting(left, own, self.max_overlap) if r in prints]
        known = self.voices[item] if item < len(self.voices) else None
        if known is None:
            return {r: float(prints[r] @ voice) for r in lines}
        me = int(np.argmax(known @ voice))
        rest = np.delete(np.arange(len(known)), me)
        out = {}
        for r in lines:
            sim = known @ prints[r]
            out[r] = self.threshold + float(sim[me] - sim[rest].max())
        return out

    def line_scores(self, item: int, state: RangeList) -> Dict[str, float]:
        """What each line left would add if listed next: ``weight * (similarity - threshold)``."""
        return {r: self.weight * (v - self.threshold) for r, v in self.similarities(item, state).items()}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Add each row's voice bonus to ``,`` and to the digits that pick the next range."""
        for row in range(scores.shape[0]):
            ids = input_ids[row].tolist()
            if self.open_t not in ids:  # no range list opened yet: nothing to read
                continue
            state = range_list(self.tokenizer.decode(ids))
            if state is None:
                continue
            bonus = self.line_scores(row // self.num_beams, state)
            if not bonus:
                continue
            part = state.part
            if part in state.ranges and (Counter(state.ranges) - state.listed)[part] > 0:
                scores[row, self.char_ids[","]] += max(bonus.values())
                continue
            after: Dict[str, float] = {}
            for r, b in bonus.items():
                if r.startswith(part) and len(r) > len(part):
                    c = r[len(part)]
                    after[c] = max(after.get(c, -np.inf), b)
            for c, b in after.items():
                scores[row, self.char_ids[c]] += b
        return scores
