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

import heapq
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


class _PrefixTrie:
    """Every prefix the search has made, as a node: its parent, last label, length and LM state.

    A prefix is an int (its node), so extending and looking one up cost the same
    whatever its length; the LM score of a node is computed once, from its parent's.
    """

    def __init__(self, lm: Optional[TokenNgramLM], end_token: Optional[int], channel_token: Optional[int],
                 num_channels: int) -> None:
        self.lm, self.end_token, self.channel_token = lm, end_token, channel_token
        self.keep = max(0, (lm.order - 1) if lm is not None else 0)
        self.parent: List[int] = [-1]
        self.last: List[int] = [-1]
        self.length: List[int] = [0]
        self.score: List[float] = [0.0]  # the LM's log probability of the prefix
        self.channel: List[int] = [0]
        self.hist: List[Tuple[Tuple[int, ...], ...]] = [tuple(() for _ in range(max(1, num_channels)))]
        self.children: Dict[Tuple[int, int], int] = {}

    def child(self, node: int, tok: int) -> int:
        """The node of ``node``'s prefix followed by ``tok`` (made on first use)."""
        key = (node, tok)
        hit = self.children.get(key)
        if hit is not None:
            return hit
        hist, channel, score = self.hist[node], self.channel[node], self.score[node]
        if tok == self.channel_token:
            channel = (channel + 1) % len(hist)
        else:
            if self.lm is not None:
                score += self.lm.logprob(hist[channel], tok)
            own = () if tok == self.end_token or not self.keep else (hist[channel] + (tok,))[-self.keep:]
            hist = hist[:channel] + (own,) + hist[channel + 1:]
        new = len(self.parent)
        self.parent.append(node)
        self.last.append(tok)
        self.length.append(self.length[node] + 1)
        self.score.append(score)
        self.channel.append(channel)
        self.hist.append(hist)
        self.children[key] = new
        return new

    def labels(self, node: int) -> List[int]:
        """The label sequence of ``node``."""
        out = []
        while node > 0:
            out.append(self.last[node])
            node = self.parent[node]
        return out[::-1]


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
    trie = _PrefixTrie(lm, end_token, channel_token, num_channels)
    last, length, lm_score = trie.last, trie.length, trie.score

    def total(item: Tuple[int, List[float]]) -> float:
        node, (pb, pnb) = item
        return _lae(pb, pnb) + lm_weight * lm_score[node] + token_bonus * length[node]

    beams: Dict[int, List[float]] = {0: [0.0, _NEG]}
    for t in range(lp.shape[0]):
        row = lp[t]
        nxt: Dict[int, List[float]] = {}

        def add(node: int, idx: int, value: float) -> None:
            cell = nxt.get(node)
            if cell is None:
                cell = nxt[node] = [_NEG, _NEG]
            cell[idx] = _lae(cell[idx], value)

        if row[blank] > blank_skip:
            cands = []
        else:
            order = np.argsort(-row[:blank])[:top_k]
            cands = [int(c) for c in order if row[c] > prune]
        for node, (pb, pnb) in beams.items():
            both = _lae(pb, pnb)
            add(node, 0, both + row[blank])
            if node:
                add(node, 1, pnb + row[last[node]])  # the last label goes on
            for c in cands:
                step = pb if node and c == last[node] else both  # a repeat needs a blank between
                if step > _NEG:
                    add(trie.child(node, c), 1, step + row[c])
        beams = dict(heapq.nlargest(beam_size, nxt.items(), key=total))
    best = max(beams.items(), key=total)
    return trie.labels(best[0])
