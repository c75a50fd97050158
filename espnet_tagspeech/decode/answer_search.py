"""Search helpers for the LLM's own answer: CTC word and time fusion, well-formed lines.

Five ``transformers`` logits processors that act on the LLM's scores while it
writes the whole answer; the LLM still chooses every token (those of the
speaker block are in :mod:`.speaker_block`):

* :class:`CtcWordBias` is shallow fusion of the semantic stream's CTC head:
  while the LLM writes the words of a line whose times it has written, the
  tokens the CTC head emitted in that stretch of audio (widened by
  ``margin`` seconds) get ``weight`` added to their scores (contextual
  biasing), so that the LLM prefers the words that were said there to the
  ones its language model expects.

* :class:`CtcTimeBias` is shallow fusion of the CTC head's line times: while
  the LLM writes a line's start, the digits that continue the start of a
  line the CTC head transcribed (none nearer to a start written already, not
  before the previous line) get ``weight`` added; while it writes the end,
  those that continue the end of the CTC line starting there; once a line that starts where a
  CTC line starts has as many words as that line, the line break.  When no
  CTC line is left, ``</text>`` gets it.  The LLM may still write anything.
  With ``skip_penalty``, while the next CTC line (the earliest not written) is
  still reachable, the digits that would pass it for a later line's start and
  ``</text>`` lose ``skip_penalty``: an overlapping line the LLM would leave
  out cannot be written once a later start is (starts never go back).

* :class:`CtcWordOrderBias` is the same fusion in order: while the LLM writes
  the words of a line that starts at (or nearest to) a CTC line's start, the
  next token of that CTC line not written yet (its tokens followed through the
  line's tokens so far, one skipped token allowed) gets ``weight``; once all
  of them are written, the line break gets ``end_weight`` (the LLM's copy head
  otherwise runs on into the next line's words and skips that line).  With
  ``skip_penalty``, a token found only further on in that CTC line (past the
  next two) loses it: the copy head jumps ahead and drops the words between.

* :class:`TimeRangeConstraint` keeps each text-block line's times well formed:
  ``s.ss`` with no leading zero, a start not before the previous line's and
  inside the input, an end after its start and not after the input's end.
  Without it a greedy answer reverses a line's range ("2.77-1.77") and the
  parser has to drop the whole line, words included.

* :class:`RepeatedWordBlock` stops a line from looping: while the LLM
  writes a line's words, a token that would repeat an n-gram of that line's
  tokens is masked (times and markup are never touched, so the answer's
  format stays free to repeat itself).

All re-read each row's answer from its generated tokens (they work with
greedy and beam search, rows input-major); :class:`AnswerPrefix` shows them
the whole answer when generation continues after answer tokens fed with the
prompt.
"""

import re
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

NEG = float("-inf")
_LINE = re.compile(r"^(\d+\.\d\d)-(\d+\.\d\d)>")


def _single_token(tokenizer, symbol: str, who: str) -> int:
    """The one token id of ``symbol``.

    Raises:
        ValueError: the tokenizer splits it (naming ``who`` needs it).
    """
    ids = tokenizer.encode(symbol)
    if len(ids) != 1:
        raise ValueError(f"{who}: the tokenizer splits {symbol!r} into {ids}")
    return ids[0]


def _split_answer(text: str) -> Tuple[List[str], Optional[str]]:
    """The complete text-block line ranges (``"s-e"``) of an answer so far, and the
    text of the line being written (``None`` outside a line's words)."""
    if "<text>" not in text:
        return [], None
    body = text.split("<text>", 1)[1]
    closed = "</text>" in body
    body = body.split("</text>", 1)[0]
    ranges, current = [], None
    rows = body.split("\n")
    for i, row in enumerate(rows):
        m = _LINE.match(row)
        if m:
            ranges.append(f"{m.group(1)}-{m.group(2)}")
            if i == len(rows) - 1 and not closed:
                current = row
    return ranges, current


def _keep_only(scores: torch.FloatTensor, row: int, ok: Sequence[int]) -> None:
    """Mask every score of ``row`` but those of the tokens ``ok``."""
    keep = scores[row, ok].clone()
    scores[row] = NEG
    scores[row, ok] = keep


class CtcWordBias:
    """Add ``weight`` to the scores of the tokens the CTC head emitted in the line's time span.

    Args:
        emitted: Per input, ``(token id, seconds)`` of every token of its CTC
            path (greedy or beam search), blank and symbols left out.
        tokenizer: The LLM's tokenizer.
        weight: Score added to a heard token.
        margin: Seconds the line's span is widened by on both sides.
        num_beams: Beams per input.
    """

    def __init__(self, emitted: Sequence[Sequence[Tuple[int, float]]], tokenizer, weight: float,
                 margin: float = 0.5, num_beams: int = 1) -> None:
        self.emitted = [sorted(e, key=lambda x: x[1]) for e in emitted]
        self.tokenizer = tokenizer
        self.weight = float(weight)
        self.margin = float(margin)
        self.num_beams = num_beams

    def heard(self, item: int, start: float, end: float) -> List[int]:
        """Tokens of input ``item``'s CTC path between ``start`` and ``end`` (widened)."""
        lo, hi = start - self.margin, end + self.margin
        return sorted({tok for tok, t in self.emitted[item] if lo <= t <= hi})

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Raise the heard tokens' scores while a row writes a line's words."""
        for row in range(scores.shape[0]):
            _, current = _split_answer(self.tokenizer.decode(input_ids[row].tolist()))
            if current is None:
                continue
            m = _LINE.match(current)
            toks = self.heard(row // self.num_beams, float(m.group(1)), float(m.group(2)))
            if toks:
                scores[row, toks] += self.weight
        return scores


def _line_times(text: str) -> Optional[Tuple[List[str], str, Optional[str]]]:
    """Where an answer is while it writes a text-block line's times.

    Returns:
        ``None`` outside a line's times; else the starts of the lines written
        before, the start (complete, or the part written so far) and, once the
        ``-`` is written, the part of the end written so far (else ``None``).
    """
    if "<text>" not in text:
        return None
    body = text.split("<text>", 1)[1]
    if "</text>" in body:
        return None
    rows = body.split("\n")
    current = rows[-1]
    if len(rows) < 2 or ">" in current:
        return None
    starts = [m.group(1) for m in (_LINE.match(r) for r in rows[1:-1]) if m]
    if "-" in current:
        start, end = current.split("-", 1)
        return starts, start, end
    return starts, current, None


class CtcTimeBias:
    """Add ``weight`` to the tokens that spell the CTC head's line times (see the module docstring).

    Args:
        lines: Per input, ``(start, end, words)`` of each line the CTC head
            transcribed (seconds, number of words).
        tokenizer: The LLM's tokenizer (digits, ``.``, ``-``, ``>``, the line
            break and ``</text>`` as single tokens).
        weight: Score added to a token that continues a CTC line's time.
        num_beams: Beams per input.
        skip_penalty: Score subtracted from a token that skips the next CTC line.

    Raises:
        ValueError: a tokenizer that splits one of those symbols.
    """

    def __init__(self, lines: Sequence[Sequence[Tuple[float, float, int]]], tokenizer, weight: float,
                 num_beams: int = 1, skip_penalty: float = 0.0) -> None:
        def single(s: str) -> int:
            return _single_token(tokenizer, s, "CTC time bias")

        self.lines = [sorted((f"{s:.2f}", f"{e:.2f}", int(n)) for s, e, n in item) for item in lines]
        self.tokenizer = tokenizer
        self.weight = float(weight)
        self.num_beams = num_beams
        self.skip_penalty = float(skip_penalty)
        self.char_ids = {c: single(c) for c in "0123456789.->"}
        self.close = single("</text>")
        self.line_break = single("\n")

    def matching(self, item: int, start: str) -> List[Tuple[str, str, int]]:
        """The CTC lines of input ``item`` that start at ``start``, else the ones
        that start nearest to it (none for a start that is not a time)."""
        lines = self.lines[item]
        exact = [ln for ln in lines if ln[0] == start]
        if exact or not lines or not re.fullmatch(r"\d+\.\d\d", start):
            return exact
        near = min(abs(float(s) - float(start)) for s, _, _ in lines)
        return [ln for ln in lines if abs(float(ln[0]) - float(start)) == near]

    def steer(self, item: int, ids: Sequence[int]) -> Tuple[List[int], List[int]]:
        """Tokens of input ``item`` that continue a CTC line's time after the answer ``ids``,
        and (with ``skip_penalty``) those that skip the next CTC line."""
        from collections import Counter

        text = self.tokenizer.decode(list(ids))
        state = _line_times(text)
        if state is None:  # a line's words: the break once it is as long as its CTC line
            _, current = _split_answer(text)
            m = _LINE.match(current) if current is not None else None
            sizes = [n for _, _, n in self.matching(item, m.group(1))] if m else []
            if sizes and len(current[m.end():].split()) >= min(sizes):
                return [self.line_break], []
            return [], []
        written, start, end = state
        lines = self.lines[item]
        skip: List[int] = []
        if end is None:  # the start: CTC lines not written yet, none before the last line written
            # a start written off every CTC line's takes the nearest one
            taken = [m[0][0] for m in (self.matching(item, w) for w in written) if m]
            left = Counter(s for s, _, _ in lines) - Counter(taken)
            floor = float(written[-1]) if written else 0.0
            options = [s for s in left if float(s) >= floor - 1e-6]
            if not options:
                return ([self.close] if start == "" else []), []
            part, after = start, "-"
            nxt = min(options, key=float)
            if self.skip_penalty and nxt.startswith(part) and len(nxt) > len(part):
                keep = self.char_ids[nxt[len(part)]]
                skip = sorted({self.char_ids[o[len(part)]] for o in options
                               if o.startswith(part) and len(o) > len(part)} - {keep})
                if part == "":
                    skip.append(self.close)
        else:
            options = [e for _, e, _ in self.matching(item, start)]
            part, after = end, ">"
        out = {self.char_ids[o[len(part)]] for o in options if o.startswith(part) and len(o) > len(part)}
        if part in options:
            out.add(self.char_ids[after])
        return sorted(out), skip

    def favoured(self, item: int, ids: Sequence[int]) -> List[int]:
        """Tokens of input ``item`` that continue a CTC line's time after the answer ``ids``."""
        return self.steer(item, ids)[0]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Raise the favoured tokens' scores while a row writes a line's times (and lower
        those that skip the next CTC line)."""
        for row in range(scores.shape[0]):
            toks, skip = self.steer(row // self.num_beams, input_ids[row].tolist())
            if toks:
                scores[row, toks] += self.weight
            if skip:
                scores[row, skip] -= self.skip_penalty
        return scores


class CtcWordOrderBias:
    """Add ``weight`` to the next token of the CTC line being written (see the module docstring).

    Args:
        lines: Per input, ``(start, token ids)`` of each line the CTC head
            transcribed (the ids its words get in the answer).
        tokenizer: The LLM's tokenizer (``>`` as one token).
        weight: Score added to the next token.
        num_beams: Beams per input.
        end_weight: Score added to the line break once the CTC line is written out.
        skip_penalty: Score subtracted from a token that jumps ahead in the CTC line.

    Raises:
        ValueError: a tokenizer that splits ``>`` or the line break.
    """

    def __init__(self, lines: Sequence[Sequence[Tuple[float, Sequence[int]]]], tokenizer, weight: float,
                 num_beams: int = 1, end_weight: float = 0.0, skip_penalty: float = 0.0) -> None:
        self.lines = [[(float(s), [int(t) for t in toks]) for s, toks in item] for item in lines]
        self.tokenizer = tokenizer
        self.gt = _single_token(tokenizer, ">", "CTC word-order bias")
        self.newline = _single_token(tokenizer, "\n", "CTC word-order bias")
        self.weight = float(weight)
        self.end_weight = float(end_weight)
        self.skip_penalty = float(skip_penalty)
        self.num_beams = num_beams

    def progress(self, item: int, ids: Sequence[int]) -> Optional[Tuple[List[int], int]]:
        """Input ``item``'s CTC line matching the line being written, and how many of its
        tokens the line holds (``None``: not in a line's words, or no CTC line)."""
        _, current = _split_answer(self.tokenizer.decode(list(ids)))
        if current is None or not self.lines[item] or self.gt not in ids:
            return None
        start = float(_LINE.match(current).group(1))
        _, toks = min(self.lines[item], key=lambda ln: abs(ln[0] - start))
        pos = len(ids) - 1 - list(ids)[::-1].index(self.gt)
        p = 0
        for tok in ids[pos + 1:]:
            if p < len(toks) and tok == toks[p]:
                p += 1
            elif p + 1 < len(toks) and tok == toks[p + 1]:
                p += 2
        return toks, p

    def expected(self, item: int, ids: Sequence[int]) -> Optional[int]:
        """The next token of input ``item``'s matching CTC line after the answer ``ids``
        (``None``: not in a line's words, no CTC line, or the line written out)."""
        state = self.progress(item, ids)
        if state is None or state[1] >= len(state[0]):
            return None
        return state[0][state[1]]

    def ahead(self, toks: Sequence[int], p: int) -> List[int]:
        """Tokens found only past the next two of a CTC line ``toks`` at position ``p``."""
        return sorted(set(toks[p + 2:]) - set(toks[p:p + 2]))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Raise each row's expected token (or, the CTC line written out, the line break), and
        lower the tokens that jump ahead in the line."""
        for row in range(scores.shape[0]):
            state = self.progress(row // self.num_beams, input_ids[row].tolist())
            if state is None:
                continue
            toks, p = state
            if p < len(toks):
                scores[row, toks[p]] += self.weight
                if self.skip_penalty:
                    jump = self.ahead(toks, p)
                    if jump:
                        scores[row, jump] -= self.skip_penalty
            elif self.end_weight:
                scores[row, self.newline] += self.end_weight
        return scores


def _feasible(part: str, lo: int, hi: int) -> bool:
    """Whether a time spelled ``s.ss`` (no leading zero) that starts with ``part``
    can lie in ``[lo, hi]`` hundredths of a second."""
    if part.count(".") > 1 or not all(c.isdigit() or c == "." for c in part):
        return False
    whole, _, dec = part.partition(".")
    if part.startswith(".") or (len(whole) > 1 and whole[0] == "0") or len(dec) > 2:
        return False
    if not whole:
        return lo <= hi
    base = int(whole) * 100
    if "." in part:
        first = base + (int(dec.ljust(2, "0")) if dec else 0)
        last = base + (int(dec.ljust(2, "9")) if dec else 99)
        return first <= hi and last >= lo
    spans = [(base, base + 99)]
    if whole != "0":  # more digits of the whole seconds may follow
        for extra in range(1, len(str(max(hi, 0) // 100)) - len(whole) + 1):
            n = int(whole) * 10**extra
            spans.append((n * 100, (n + 10**extra - 1) * 100 + 99))
    return any(a <= hi and b >= lo for a, b in spans)


class TimeRangeConstraint:
    """Well-formed line times in the text block (see the module docstring).

    While a row writes a line's start, only the digits and ``.`` that can still
    spell a time from the previous line's start to the input's end (less
    0.01 s) are allowed, then ``-``; at a line's very beginning also
    ``</text>``. While it writes the end, only those that can spell a time
    after the start and not after the input's end, then ``>``.  Which time
    within those bounds is the LLM's choice.

    Args:
        durations: Seconds of each input.
        tokenizer: The LLM's tokenizer (digits, ``.``, ``-``, ``>`` and
            ``</text>`` as single tokens).
        num_beams: Beams per input.

    Raises:
        ValueError: a tokenizer that splits one of those symbols.
    """

    def __init__(self, durations: Sequence[float], tokenizer, num_beams: int = 1) -> None:
        def single(s: str) -> int:
            return _single_token(tokenizer, s, "time range constraint")

        self.limits = [int(round(float(d) * 100)) for d in durations]
        self.tokenizer = tokenizer
        self.num_beams = num_beams
        self.char_ids = {c: single(c) for c in "0123456789.->"}
        self.close = single("</text>")

    def allowed(self, item: int, ids: Sequence[int]) -> Optional[List[int]]:
        """Token ids input ``item``'s row may write next (``None``: no constraint)."""
        state = _line_times(self.tokenizer.decode(list(ids)))
        if state is None:
            return None
        written, start, end = state
        limit = self.limits[item]
        if end is None:
            try:
                lo = int(round(float(written[-1]) * 100)) if written else 0
            except ValueError:
                lo = 0
            part, hi, after = start, limit - 1, "-"
        else:
            try:
                lo = int(round(float(start) * 100)) + 1
            except ValueError:
                return None  # a start the constraint did not shape: leave the row alone
            part, hi, after = end, limit, ">"
        if lo > hi or not _feasible(part, lo, hi):
            return None
        out = [self.char_ids[c] for c in "0123456789." if _feasible(part + c, lo, hi)]
        if re.fullmatch(r"\d+\.\d\d", part) and lo <= int(round(float(part) * 100)) <= hi:
            out.append(self.char_ids[after])
        if end is None and part == "":
            out.append(self.close)
        return sorted(out)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask every token a row may not write next."""
        for row in range(scores.shape[0]):
            ok = self.allowed(row // self.num_beams, input_ids[row].tolist())
            if ok is not None:
                _keep_only(scores, row, ok)
        return scores


class RepeatedWordBlock:
    """Mask the tokens that would repeat an ``n``-gram of the line being written.

    Args:
        tokenizer: The LLM's tokenizer (``>`` as one token ends a line's times).
        n: Length of the n-grams that may not repeat within a line's words.
    """

    def __init__(self, tokenizer, n: int = 3) -> None:
        if n < 1:
            raise ValueError(f"repeated-word block: n must be >= 1, got {n}")
        self.tokenizer = tokenizer
        self.gt = _single_token(tokenizer, ">", "repeated-word block")
        self.n = int(n)

    def banned(self, ids: Sequence[int]) -> List[int]:
        """Tokens that may not come next after the answer tokens ``ids``."""
        if self.gt not in ids:
            return []
        _, current = _split_answer(self.tokenizer.decode(list(ids)))
        if current is None:
            return []
        pos = len(ids) - 1 - list(ids)[::-1].index(self.gt)
        words = list(ids[pos + 1:])  # the line's word tokens so far
        head = tuple(words[len(words) - self.n + 1:]) if self.n > 1 else ()
        if len(head) < self.n - 1:
            return []
        return sorted({words[i + self.n - 1] for i in range(len(words) - self.n + 1)
                       if tuple(words[i:i + self.n - 1]) == head})

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask each row's banned tokens."""
        for row in range(scores.shape[0]):
            ban = self.banned(input_ids[row].tolist())
            if ban:
                scores[row, ban] = NEG
        return scores


class _Row(list):
    """One row's answer tokens, read as the processors read a tensor row (``.tolist()``)."""

    def tolist(self) -> List[int]:
        return list(self)


class AnswerPrefix:
    """Logits processors that read the whole answer when part of it was fed with the prompt.

    ``generate`` shows processors only the tokens it generated; when the
    answer continues after tokens given with the prompt (an earlier pass's
    text block: ``generation_inputs(answer_prefixes=...)``), each row's answer
    is that prefix followed by them.  The wrapped processors get those rows.

    Args:
        processors: The logits processors to run, in order.
        prefixes: Per input, the answer tokens fed with its prompt (may be empty).
        num_beams: Beams per input (rows are input-major).
    """

    def __init__(self, processors: Sequence, prefixes: Sequence[Sequence[int]], num_beams: int = 1) -> None:
        self.processors = list(processors)
        self.prefixes = [list(p) for p in prefixes]
        self.num_beams = num_beams

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Run every processor over the rows' whole answers."""
        rows = [_Row(self.prefixes[r // self.num_beams] + input_ids[r].tolist()) for r in range(input_ids.shape[0])]
        for proc in self.processors:
            scores = proc(rows, scores)
        return scores


def ctc_emissions(log_probs: np.ndarray, frame_shift: float, blank: int, skip: Sequence[int] = ()) -> List[Tuple[int, float]]:
    """``(token, seconds)`` of every token run start of the greedy CTC path (blank
    and ``skip`` tokens left out)."""
    best = log_probs.argmax(-1)
    out, prev = [], blank
    for t, tok in enumerate(best.tolist()):
        if tok != blank and tok != prev and tok not in skip:
            out.append((int(tok), t * frame_shift))
        prev = tok
    return out
