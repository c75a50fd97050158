"""CTC prefix beam search with a channel-aware token n-gram LM (shallow fusion).

The standard prefix beam search (Hannun et al., 2014): every prefix keeps the
probability of the paths ending in a blank and of those ending in its last
label; at each frame, prefixes extend by the labels the frame finds likely,
and the best ``beam_size`` prefixes survive by

    log P_ctc(prefix) + lm_weight * log P_lm(prefix) + token_bonus * len(prefix)

For a time-ordered (t-SOT, :mod:`espnet_tagspeech.tsot`) head, the LM scores
every token from the history of its own virtual channel: ``channel_token``
switches the channel (no LM score) and ``end_token`` ends the channel's line
(scored as the line's last token; the channel's history starts again).  With
one channel it is plain shallow fusion of line-wise LM histories.
"""

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM

_NEG = -math.inf


def _lae(a: float, b: float) -> float:
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


class _LMState:
    """LM bookkeeping of one prefix: total score, current channel, each channel's history."""

    __slots__ = ("score", "channel", "hist")

    def __init__(self, score: float, channel: int, hist: Tuple[Tuple[int, ...], ...]) -> None:
        self.score = score
        self.channel = channel
        self.hist = hist


def ctc_prefix_beam_search(
    log_probs: np.ndarray,
    beam_size: int = 8,
    lm: Optional[TokenNgramLM] = None,
    lm_weight: float = 0.0,
    token_bonus: float = 0.0,
    end_token: Optional[int] = None,
    channel_token: Optional[int] = None,
    num_channels: int = 1,
    top_k: int = 8,
    prune: float = math.log(1e-4),
    blank_skip: float = math.log(0.999),
) -> List[int]:
    """The best label sequence of CTC posteriors under the beam search.

    Args:
        log_probs: ``(T, V + 1)`` CTC log posteriors (blank last).
        beam_size: Prefixes kept per frame.
        lm: Token n-gram LM, or ``None`` (CTC alone).
        lm_weight: Weight of the LM's log probability.
        token_bonus: Score added per label (counters the LM's bias to short outputs).
        end_token: The line-end label (resets its channel's LM history).
        channel_token: The t-SOT channel-change label (switches the LM history).
        num_channels: Virtual channels of a t-SOT head.
        top_k: Most labels tried per frame.
        prune: Labels below this log posterior in a frame are not tried.
        blank_skip: Frames whose blank log posterior is above this extend no prefix.

    Returns:
        The label ids of the best prefix.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    blank = lp.shape[1] - 1
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    keep = max(0, (lm.order - 1) if lm is not None else 0)
    empty = _LMState(0.0, 0, tuple(() for _ in range(max(1, num_channels))))
    states: Dict[Tuple[int, ...], _LMState] = {(): empty}

    def lm_state(prefix: Tuple[int, ...]) -> _LMState:
        hit = states.get(prefix)
        if hit is not None:
            return hit
        prev = lm_state(prefix[:-1])
        tok = prefix[-1]
        if tok == channel_token:
            st = _LMState(prev.score, (prev.channel + 1) % len(prev.hist), prev.hist)
        else:
            add = lm.logprob(prev.hist[prev.channel], tok) if lm is not None else 0.0
            hist = list(prev.hist)
            hist[prev.channel] = () if tok == end_token else (prev.hist[prev.channel] + (tok,))[-keep:] if keep else ()
            st = _LMState(prev.score + add, prev.channel, tuple(hist))
        states[prefix] = st
        return st

    def total(prefix: Tuple[int, ...], pb: float, pnb: float) -> float:
        return _lae(pb, pnb) + lm_weight * lm_state(prefix).score + token_bonus * len(prefix)

    beams: Dict[Tuple[int, ...], List[float]] = {(): [0.0, _NEG]}
    for t in range(lp.shape[0]):
        row = lp[t]
        nxt: Dict[Tuple[int, ...], List[float]] = {}

        def add(prefix, idx, value):
            cell = nxt.get(prefix)
            if cell is None:
                cell = nxt[prefix] = [_NEG, _NEG]
            cell[idx] = _lae(cell[idx], value)

        if row[blank] > blank_skip:
            cands = []
        else:
            order = np.argsort(-row[:blank])[:top_k]
            cands = [int(c) for c in order if row[c] > prune]
        for prefix, (pb, pnb) in beams.items():
            both = _lae(pb, pnb)
            add(prefix, 0, both + row[blank])
            if prefix:
                add(prefix, 1, pnb + row[prefix[-1]])  # the last label goes on
            for c in cands:
                step = pb if prefix and c == prefix[-1] else both  # a repeat needs a blank between
                if step > _NEG:
                    add(prefix + (c,), 1, step + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: total(kv[0], *kv[1]), reverse=True)
        beams = dict(ranked[:beam_size])
    best = max(beams.items(), key=lambda kv: total(kv[0], *kv[1]))
    return list(best[0])
