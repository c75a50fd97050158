"""Tests of CTC prefix beam search with n-gram fusion (espnet_tagspeech/decode/ctc/search.py)."""

import itertools
import math

import numpy as np
import pytest

from espnet_tagspeech.decode.ctc.alignment import collapse_path
from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM
from espnet_tagspeech.decode.ctc.search import ctc_prefix_beam_search


def _collapse(path, blank):
    return tuple(collapse_path(path, blank))


def _label_probs(lp):
    """Total CTC probability of every label sequence, by enumerating all paths."""
    blank = lp.shape[1] - 1
    out = {}
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        key = _collapse(path, blank)
        out[key] = out.get(key, 0.0) + math.exp(sum(lp[t, s] for t, s in enumerate(path)))
    return out


def test_wide_search_finds_the_most_probable_labels_not_the_best_path():
    # the best single path is all blanks, but label 0 spread over frames is more probable
    probs = np.array([[0.4, 0.0, 0.6], [0.4, 0.0, 0.6], [0.4, 0.0, 0.6]]) + 1e-9
    lp = np.log(probs / probs.sum(1, keepdims=True))
    assert _collapse(lp.argmax(-1), 2) == ()
    got = ctc_prefix_beam_search(lp, beam_size=20, prune=-math.inf, blank_skip=0.0)
    table = _label_probs(lp)
    assert tuple(got) == max(table, key=table.get) == (0,)


@pytest.mark.parametrize("seed", range(4))
def test_matches_exhaustive_search_on_random_posteriors(seed):
    rng = np.random.default_rng(seed)
    lp = np.log(rng.dirichlet(np.ones(4) * 0.7, size=5))  # 5 frames, labels 0-2, blank 3
    table = _label_probs(lp)
    got = ctc_prefix_beam_search(lp, beam_size=200, top_k=3, prune=-math.inf, blank_skip=0.0)
    assert table[tuple(got)] == pytest.approx(max(table.values()))


def _frames(seq, vocab, amb=None, peak=0.97):
    """Posteriors spelling ``seq`` one label per frame, blanks between; ``amb`` = (a, b, pa)
    makes the last label an ambiguous choice between a and b."""
    rows = []
    for x in seq:
        rows.append({vocab: 1.0})
        rows.append({x: 1.0})
    if amb:
        a, b, pa = amb
        rows.append({vocab: 1.0})
        rows.append({a: pa, b: 1 - pa})
    rows.append({vocab: 1.0})
    probs = np.full((len(rows), vocab + 1), 1e-4)
    for t, r in enumerate(rows):
        for k, v in r.items():
            probs[t, k] = v
    return np.log(probs / probs.sum(1, keepdims=True))


def test_greedy_when_posteriors_are_sure_and_the_lm_decides_ambiguities():
    vocab = 6  # 0 ends a line, 5 switches channel, blank 6
    lm = TokenNgramLM.train([[1, 2, 0], [3, 4, 0]], order=2, vocab_size=vocab)
    sure = _frames([1, 2, 0, 3, 4, 0], vocab)
    assert ctc_prefix_beam_search(sure, 4) == [1, 2, 0, 3, 4, 0]
    assert ctc_prefix_beam_search(sure, 4, lm, lm_weight=1.0, end_token=0) == [1, 2, 0, 3, 4, 0]
    amb = _frames([1], vocab, amb=(4, 2, 0.55))  # the CTC slightly prefers 4 after 1
    assert ctc_prefix_beam_search(amb, 4) == [1, 4]
    assert ctc_prefix_beam_search(amb, 4, lm, lm_weight=1.0, end_token=0) == [1, 2]


def test_each_channel_keeps_its_own_lm_history():
    vocab = 6
    lm = TokenNgramLM.train([[1, 2, 0], [3, 4, 0]], order=2, vocab_size=vocab)
    # 1 on channel 0, then 3 on channel 1, back to channel 0: 2 or 4 next?
    lp = _frames([1, 5, 3, 5], vocab, amb=(4, 2, 0.55))
    kw = dict(lm=lm, lm_weight=1.0, end_token=0, channel_token=5)
    assert ctc_prefix_beam_search(lp, 8, num_channels=2, **kw)[-1] == 2  # continues "1"
    assert ctc_prefix_beam_search(lp, 8, num_channels=1, **kw)[-1] == 4  # one stream: continues "3"


def test_token_bonus_and_bad_beam():
    vocab = 6
    lm = TokenNgramLM.train([[1, 0]], order=2, vocab_size=vocab)
    lp = _frames([1, 3], vocab)  # the LM dislikes 3 after 1
    assert ctc_prefix_beam_search(lp, 4, lm, lm_weight=5.0, end_token=0) == [1]
    assert ctc_prefix_beam_search(lp, 4, lm, lm_weight=5.0, token_bonus=30.0, end_token=0) == [1, 3]
    with pytest.raises(ValueError, match="beam_size"):
        ctc_prefix_beam_search(lp, 0)
