"""Tests of speaker linking across cuts (espnet_tagspeech/linking.py)."""

import numpy as np

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.linking import cluster_with_constraints, fbank_embedding, link_speakers

SR = 16000


def _voice(rng, f0, seconds):
    """A crude voice: harmonic series at f0 with noise, distinct spectra per f0."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return (0.1 * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_cannot_link_is_respected_even_when_closest():
    emb = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    # items 0 and 1 are nearly identical but belong to one cut: never merged
    labels = cluster_with_constraints(emb, ["c1", "c1", "c2"], threshold=2.0)
    assert labels[0] != labels[1]
    assert len(set(labels)) == 2
    assert cluster_with_constraints(emb, ["c1", "c2", "c3"], threshold=0.1) == [0, 0, 1]
    assert cluster_with_constraints(emb, ["c1", "c2", "c3"], threshold=0.0, num_clusters=1) == [0, 0, 0]


def test_link_speakers_recovers_two_voices_across_four_cuts():
    rng = np.random.default_rng(0)
    voices = {"A": 110.0, "B": 260.0}
    audio = np.zeros(SR * 40, np.float32)
    spk_turns, txt_turns, cut_of, truth = [], [], {}, {}
    # four cuts of 10 s; in each, local ids are assigned by first appearance
    for c in range(4):
        order = ["A", "B"] if c % 2 == 0 else ["B", "A"]
        for j, who in enumerate(order):
            s = c * 10 + j * 4.0
            audio[int(s * SR): int((s + 3.5) * SR)] = _voice(rng, voices[who], 3.5)
            label = f"cut{c}|{j + 1}"
            cut_of[label] = f"cut{c}"
            truth[label] = who
            spk_turns.append(Turn("rec", label, s, s + 3.5))
            txt_turns.append(Turn.from_text("rec", label, s, s + 3.5, "hello"))
    new_spk, new_txt = link_speakers(spk_turns, txt_turns, cut_of, audio, SR, fbank_embedding)
    mapping = {}
    for old, new in zip(spk_turns, new_spk):
        mapping.setdefault(truth[old.speaker], set()).add(new.speaker)
    assert mapping["A"] != mapping["B"]
    assert all(len(v) == 1 for v in mapping.values()), mapping
    assert [t.speaker for t in new_txt] == [t.speaker for t in new_spk]
