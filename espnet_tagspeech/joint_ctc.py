"""Joint CTC / LLM decoding: the semantic encoder's SOT-CTC scores the transcript words.

ESPnet's hybrid CTC/attention decoding, applied to the TagSpeech answer.  The
SOT-CTC head of the semantic stream (pre-trained in stage 5, or trained with
``ctc_weight``) models exactly the label sequence of the answer's ``<text>``
block without its timestamps: the words of the lines in order, a newline
between lines.  While the LLM writes that block, every candidate token gets

    (1 - ctc_weight) * log p_llm(token) + ctc_weight * log p_ctc(token | prefix)

where ``log p_ctc`` is the change of the CTC prefix probability (Watanabe et
al. 2017, computed by ESPnet's :class:`espnet.nets.ctc_prefix_score.CTCPrefixScore`):

- a word token extends the current line;
- the newline that ends a line is scored as "the CTC labels end or continue
  with a newline here", and the token after it as which of the two it is
  (``</text>``: the labels end; a timestamp digit: a new line follows);
- a line's timestamp keeps to its grammar (``<s>.<ss>-<e>.<ee>>``, digits
  chosen by the LLM), so every line the CTC asks for parses;
- the ``<speaker>`` block and everything outside ``<text>`` are the LLM's alone.

It works with greedy and beam search (the prefix of each beam is re-read from
its tokens; CTC states are cached per prefix).
"""

import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

NEG = -1e10


class TextBlockState:
    """Where a partial answer stands in its ``<text>`` block.

    Attributes:
        kind: ``"word"`` (inside a line's words), ``"line_start"`` (after
            ``<text>\\n`` or a line's newline), ``"stamp"`` (inside a line's
            ``start-end>`` timestamp), ``"open"`` (right after ``<text>``) or
            ``"other"`` (before ``<text>``, after ``</text>``).
        labels: The CTC labels written so far (lines' words, newline between lines).
        first: At the start of the first line.
        stamp: The timestamp text written so far (``"stamp"``).
    """

    def __init__(self, kind: str, labels: Tuple[int, ...], first: bool = False, stamp: str = "") -> None:
        self.kind = kind
        self.labels = labels
        self.first = first
        self.stamp = stamp


# prefixes of a line's timestamp "<start>-<end>>" (seconds with 2 decimals)
_STAMP_PREFIX = re.compile(r"\d{1,4}(\.(\d(\d(-(\d{1,4}(\.(\d(\d(>)?)?)?)?)?)?)?)?)?")
_STAMP_CHARS = "0123456789.->"


class AnswerTokens:
    """The token ids that structure an answer, from the tokenizer.

    Args:
        tokenizer: The LLM's tokenizer (``encode`` of the markup strings).

    Raises:
        ValueError: a tokenizer that does not keep ``<text>``, ``</text>``,
            ``>`` or the newline as single tokens (joint decoding needs them).
    """

    def __init__(self, tokenizer) -> None:
        def single(s: str) -> int:
            ids = tokenizer.encode(s)
            if len(ids) != 1:
                raise ValueError(f"joint CTC decoding: tokenizer splits {s!r} into {ids}")
            return ids[0]

        self.open_text = single("<text>")
        self.close_text = single("</text>")
        self.newline = single("\n")
        self.gt = single(">")
        self.stamp_ids = {c: single(c) for c in _STAMP_CHARS}
        self.stamp_chars = {i: c for c, i in self.stamp_ids.items()}

    def state(self, ids: Sequence[int]) -> TextBlockState:
        """The text-block state after the answer tokens ``ids``."""
        labels: List[int] = []
        phase, lines, stamp = "pre", 0, ""
        for x in ids:
            if phase == "pre":
                phase = "open" if x == self.open_text else "pre"
            elif phase == "word":
                if x == self.newline:
                    phase = "line_start"
                else:
                    labels.append(x)
            elif phase == "open":
                phase = "line_start" if x == self.newline else "stamp"
            elif x == self.close_text:
                return TextBlockState("other", tuple(labels))
            elif x == self.gt:
                if lines:
                    labels.append(self.newline)
                lines, phase, stamp = lines + 1, "word", ""
            elif x == self.newline:
                phase = "line_start"
            else:
                phase, stamp = "stamp", (stamp if phase == "stamp" else "") + self.stamp_chars.get(x, "?")
        if phase == "pre":
            return TextBlockState("other", ())
        return TextBlockState(phase, tuple(labels), first=phase == "line_start" and lines == 0, stamp=stamp)


class CtcPrefixScorer:
    """CTC prefix probabilities of label sequences for one input, cached.

    Args:
        log_probs: ``(T, V + 1)`` CTC log posteriors (blank last).
    """

    def __init__(self, log_probs: np.ndarray, cache_size: int = 32) -> None:
        from espnet.nets.ctc_prefix_score import CTCPrefixScore

        self.x = np.asarray(log_probs, dtype=np.float32)
        self.frames, self.blank = self.x.shape[0], self.x.shape[1] - 1
        self.impl = CTCPrefixScore(self.x, self.blank, -1, np)
        self.cands = np.arange(self.blank)
        # prefix -> (T, 2) forward variables; prefix -> (log psi of each extension, their states)
        self.states: Dict[Tuple[int, ...], np.ndarray] = {(): self.impl.initial_state()}
        self.psi: Dict[Tuple[int, ...], float] = {(): 0.0}
        self.ext: "OrderedDict[Tuple[int, ...], Tuple[np.ndarray, np.ndarray]]" = OrderedDict()
        self.cache_size = cache_size

    def _state(self, prefix: Tuple[int, ...]) -> np.ndarray:
        if prefix not in self.states:
            head, last = prefix[:-1], prefix[-1]
            psi, r = self.extensions(head)
            self.states[prefix] = np.array(r[last])
            self.psi[prefix] = float(psi[last])
        return self.states[prefix]

    def extensions(self, prefix: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
        """``log psi(prefix + c)`` for every label ``c`` ``(V,)``, and their states ``(V, T, 2)``."""
        if prefix in self.ext:
            self.ext.move_to_end(prefix)
            return self.ext[prefix]
        r_prev = self._state(prefix)
        if len(prefix) + 1 >= self.frames:  # more labels than frames: impossible
            out = (np.full(self.blank, NEG, np.float32), np.full((self.blank, self.frames, 2), NEG, np.float32))
        else:
            out = self.impl([-1, *prefix], self.cands, r_prev)
        self.ext[prefix] = out
        while len(self.ext) > self.cache_size:
            self.ext.popitem(last=False)
        return out

    def prefix_score(self, prefix: Tuple[int, ...]) -> float:
        """``log psi(prefix)``: probability that the labels start with ``prefix``."""
        self._state(prefix)
        return self.psi[prefix]

    def full_score(self, prefix: Tuple[int, ...]) -> float:
        """``log p(prefix)``: probability that the labels are exactly ``prefix``."""
        r = self._state(prefix)
        return float(np.logaddexp(r[-1, 0], r[-1, 1]))


def _stamp_ok(text: str) -> bool:
    """Whether ``text`` can begin a timestamp ``s.ss-e.ee>`` whose end is not before its start."""
    if not _STAMP_PREFIX.fullmatch(text) or "-" not in text:
        return bool(_STAMP_PREFIX.fullmatch(text))
    start, end = text.rstrip(">").split("-")
    if "." not in end:  # more integer digits may follow unless there are four
        return len(end) < 4 or int(end) + 0.99 >= float(start) - 1e-9
    whole, frac = end.split(".")
    return int(whole) + int((frac + "99")[:2]) / 100 >= float(start) - 1e-9


def _log_sub(a: float, b: float) -> float:
    """``log(exp(a) - exp(b))`` for ``a >= b`` (``NEG`` when they are equal)."""
    if b >= a:
        return NEG
    return a + float(np.log1p(-np.exp(b - a)))


class JointCtcLogitsProcessor:
    """A ``transformers`` logits processor adding CTC prefix scores to the text block.

    Args:
        log_probs: Per input, ``(T_i, V + 1)`` CTC log posteriors (blank last).
        tokens: The answer's structure tokens (:class:`AnswerTokens`).
        ctc_weight: ``lambda`` of the joint score, in ``(0, 1]``.
        num_beams: Beams per input (rows of ``input_ids`` are input-major).
        prompt_length: Columns of ``input_ids`` before the answer (0 when the
            prompt was given as embeddings only).
    """

    def __init__(
        self,
        log_probs: Sequence[np.ndarray],
        tokens: AnswerTokens,
        ctc_weight: float,
        num_beams: int = 1,
        prompt_length: int = 0,
    ) -> None:
        if not 0.0 < ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in (0, 1], got {ctc_weight}")
        self.scorers = [CtcPrefixScorer(lp) for lp in log_probs]
        self.tokens = tokens
        self.weight = ctc_weight
        self.num_beams = num_beams
        self.prompt_length = prompt_length

    def ctc_delta(self, item: int, state: TextBlockState, vocab: int) -> Optional[np.ndarray]:
        """``(vocab,)`` log-probability of each next token from the CTC and the
        timestamp grammar, or ``None`` outside the text block."""
        if state.kind in ("other", "open"):
            return None
        tok = self.tokens
        delta = np.full(vocab, NEG, dtype=np.float64)
        if state.kind == "stamp":  # the grammar alone
            for c, i in tok.stamp_ids.items():
                if _stamp_ok(state.stamp + c):
                    delta[i] = 0.0
            return delta
        sc, labels = self.scorers[item], state.labels
        psi = sc.prefix_score(labels)
        ext, _ = sc.extensions(labels)
        end = sc.full_score(labels)
        if state.kind == "word":
            n = min(vocab, ext.shape[0])
            delta[:n] = ext[:n] - psi
            # ending the line: the labels end here, or go on with a newline
            delta[tok.newline] = min(0.0, float(np.logaddexp(end, ext[tok.newline])) - psi)
            return delta
        # line start: </text> if the labels end here, else a new line's timestamp
        if state.first:
            go_on = _log_sub(0.0, end)
        else:  # the newline just written was either the end or a line change
            both = float(np.logaddexp(end, ext[tok.newline]))
            end, go_on = end - both, float(ext[tok.newline]) - both
        delta[tok.close_text] = end
        for d in "0123456789":
            delta[tok.stamp_ids[d]] = go_on
        return delta

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Joint scores of the next token for every row."""
        logp = torch.log_softmax(scores.float(), dim=-1)
        out = logp.clone()
        rows = input_ids[:, self.prompt_length :].tolist()
        for row, ids in enumerate(rows):
            state = self.tokens.state(ids)
            delta = self.ctc_delta(row // self.num_beams, state, scores.shape[-1])
            if delta is None:
                continue
            ctc = torch.from_numpy(delta).to(out.device, out.dtype)
            out[row] = (1 - self.weight) * logp[row] + self.weight * ctc
        return out.to(scores.dtype)


def ctc_log_posteriors(model, speech: torch.Tensor, lengths: torch.Tensor) -> List[np.ndarray]:
    """Per input ``(T_i, V + 1)`` SOT-CTC log posteriors of a TagSpeech model.

    Raises:
        ValueError: a model without a CTC head (trained without ``ctc_weight``,
            ``ctc_embed`` or ``ctc_compress``).
    """
    if model.ctc_head is None:
        raise ValueError("ctc_weight > 0 in decoding needs a model with a CTC head")
    with torch.no_grad():
        enc, enc_len = model.semantic_encoder(speech, lengths)
        logp = torch.log_softmax(model.ctc_head(enc).float(), dim=-1)
    return [logp[i, : int(enc_len[i])].cpu().numpy() for i in range(logp.shape[0])]
