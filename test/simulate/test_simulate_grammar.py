"""The sentence grammar: word alphabet, vocabulary size, disjoint splits."""

import re

import numpy as np
import pytest

from espnet_tagspeech.simulate.grammar import BACKCHANNELS, Grammar, sentence_split


def test_words_are_lowercase_ascii_and_apostrophes():
    g = Grammar()
    assert all(re.fullmatch(r"[a-z']+", w) for w in g.vocabulary())
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert all(re.fullmatch(r"[a-z']+", w) for w in g.sample(rng, "train"))


def test_vocabulary_and_sentence_counts():
    full, small = Grammar(1.0), Grammar(0.3)
    assert 250 <= len(full.vocabulary()) <= 1000
    assert len(small.vocabulary()) < len(full.vocabulary())
    assert full.count_sentences() > 100_000 and small.count_sentences() > 5_000
    assert set(small.vocabulary()) <= set(full.vocabulary())
    # every backchannel word is in the vocabulary
    assert {w for p in BACKCHANNELS for w in p.split()} <= set(small.vocabulary())
    # sampled words stay inside the (reduced) vocabulary
    rng = np.random.default_rng(1)
    vocab = set(small.vocabulary())
    assert all(set(small.sample(rng, "dev")) <= vocab for _ in range(100))


def test_splits_are_disjoint_and_deterministic():
    g = Grammar(0.5)
    drawn = {}
    for split in ("train", "dev", "test"):
        rng = np.random.default_rng(3)
        drawn[split] = {" ".join(g.sample(rng, split)) for _ in range(300)}
        assert all(sentence_split(s) == split for s in drawn[split])
        assert len(drawn[split]) > 200  # mostly distinct sentences
    assert not drawn["train"] & drawn["dev"] and not drawn["train"] & drawn["test"]
    assert not drawn["dev"] & drawn["test"]
    a = [g.sample(np.random.default_rng(5), "test") for _ in range(3)]
    b = [g.sample(np.random.default_rng(5), "test") for _ in range(3)]
    assert a == b


def test_split_shares_over_enumeration():
    g = Grammar(0.3)
    counts = {"train": 0, "dev": 0, "test": 0}
    for i, s in enumerate(g.enumerate_sentences()):
        counts[sentence_split(s)] += 1
        if i > 20000:
            break
    total = sum(counts.values())
    assert 0.75 < counts["train"] / total < 0.85
    assert 0.07 < counts["dev"] / total < 0.13 and 0.07 < counts["test"] / total < 0.13


def test_bad_scale_and_split():
    with pytest.raises(ValueError):
        Grammar(0.0)
    with pytest.raises(ValueError):
        Grammar().sample(np.random.default_rng(0), "eval")
