"""Tests of speaker linking across cuts (espnet_tagspeech/linking.py)."""

import numpy as np
import pytest

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.linking import cluster_with_constraints, fbank_embedding, link_lines, link_speakers

SR = 16000


def _voice(rng, f0, seconds):
    """A crude voice: harmonic series at f0 with noise, distinct spectra per f0."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return (0.1 * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _two_voice_recording(rng):
    voices = {"A": 110.0, "B": 260.0}
    audio = np.zeros(SR * 40, np.float32)
    spk_turns, txt_turns, cut_of, truth = [], [], {}, {}
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
    return audio, spk_turns, txt_turns, cut_of, truth


def test_cannot_link_is_respected_even_when_closest():
    emb = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    # items 0 and 1 are nearly identical but belong to one cut: never merged
    labels = cluster_with_constraints(emb, ["c1", "c1", "c2"], threshold=2.0)
    assert labels[0] != labels[1]
    assert len(set(labels)) == 2
    assert cluster_with_constraints(emb, ["c1", "c2", "c3"], threshold=0.1) == [0, 0, 1]
    assert cluster_with_constraints(emb, ["c1", "c2", "c3"], threshold=0.0, num_clusters=1) == [0, 0, 0]


def test_link_speakers_recovers_two_voices_across_four_cuts():
    # four cuts of 10 s; in each, local ids are assigned by first appearance
    audio, spk_turns, txt_turns, cut_of, truth = _two_voice_recording(np.random.default_rng(0))
    new_spk, new_txt = link_speakers(spk_turns, txt_turns, cut_of, audio, SR, fbank_embedding)
    mapping = {}
    for old, new in zip(spk_turns, new_spk):
        mapping.setdefault(truth[old.speaker], set()).add(new.speaker)
    assert mapping["A"] != mapping["B"]
    assert all(len(v) == 1 for v in mapping.values()), mapping
    assert [t.speaker for t in new_txt] == [t.speaker for t in new_spk]


def test_speaker_stream_embedder_links_voices(tmp_path):
    """Voice prints pooled from a (tiny, random) TagSpeech speaker stream link two voices."""
    import torch

    from espnet_tagspeech.linking import SpeakerStreamEmbedder
    from espnet_tagspeech.model.tiny import build_args, setup_tiny
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    _, cfg = setup_tiny(str(tmp_path), num_cuts=2)
    torch.manual_seed(0)
    model = TagSpeechTask.build_model(build_args(cfg))
    torch.save(model.state_dict(), tmp_path / "model.pth")
    embed = SpeakerStreamEmbedder(cfg, str(tmp_path / "model.pth"))
    rng = np.random.default_rng(1)
    v1, v2 = embed(_voice(rng, 110.0, 2.0), SR), embed(_voice(rng, 110.0, 1.0), SR)
    assert v1.shape == (2 * model.speaker_encoder.output_size(),)
    audio, spk_turns, txt_turns, cut_of, truth = _two_voice_recording(rng)
    # random weights: distances are not calibrated, so give the count (linking must still
    # pair each cut's speakers the right way round)
    new_spk, _ = link_speakers(spk_turns, txt_turns, cut_of, audio, SR, embed, num_speakers=2)
    mapping = {}
    for old, new in zip(spk_turns, new_spk):
        mapping.setdefault(truth[old.speaker], set()).add(new.speaker)
    assert mapping["A"] != mapping["B"]
    assert all(len(v) == 1 for v in mapping.values()), mapping
    try:
        embed(np.zeros(800, np.float32), 8000)
    except ValueError as e:
        assert "8000 Hz" in str(e)
    else:
        raise AssertionError("a wrong sample rate must fail")
    assert np.isfinite(embed(np.zeros(10, np.float32), SR)).all()  # shorter than a frame: padded


def _lines_with_wrong_ids(rng):
    """Six lines of two voices; the model's ids are all "1" (it attributed nothing)."""
    voices = {"A": 110.0, "B": 260.0}
    audio = np.zeros(SR * 30, np.float32)
    plan = [("A", 0.0, 3.0), ("B", 2.5, 6.0), ("A", 7.0, 9.0), ("B", 10.0, 13.0),
            ("B", 14.0, 16.0), ("A", 15.5, 19.0)]
    lines, truth = [], []
    for who, s, e in plan:
        audio[int(s * SR): int(e * SR)] += _voice(rng, voices[who], e - s)
        lines.append(Turn.from_text("rec", "cut|1", s, e, "hello"))
        truth.append(who)
    return audio, lines, truth


def test_link_lines_relabels_each_line_by_its_voice():
    audio, lines, truth = _lines_with_wrong_ids(np.random.default_rng(0))
    out = link_lines(lines, audio, SR, fbank_embedding, threshold=0.5)
    assert [(t.start, t.end, t.text) for t in out] == [(t.start, t.end, t.text) for t in lines]
    got = [t.speaker for t in out]
    assert got[0] == "spk1" and got[1] == "spk2"  # numbered by first appearance
    assert got == ["spk1" if w == "A" else "spk2" for w in truth]
    # a known count of one puts every line on one speaker unless overlaps forbid it
    assert {t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, num_speakers=1,
                                          max_overlap=1000)} == {"spk1"}
    assert link_lines([], audio, SR, fbank_embedding) == []


def test_link_lines_never_merges_overlapping_lines():
    audio, lines, _ = _lines_with_wrong_ids(np.random.default_rng(1))
    # one voice everywhere, yet lines 0/1 and 4/5 overlap by 0.5 s: two speakers at least
    same = np.tile(_voice(np.random.default_rng(2), 110.0, 1.0), 30)
    out = link_lines(lines, same, SR, fbank_embedding, threshold=2.0, max_overlap=0.3)
    assert out[0].speaker != out[1].speaker and out[4].speaker != out[5].speaker
    loose = link_lines(lines, same, SR, fbank_embedding, threshold=2.0, max_overlap=1000)
    assert {t.speaker for t in loose} == {"spk1"}


def test_cannot_link_matrix_must_match_the_items():
    emb = np.eye(3)
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        cluster_with_constraints(emb, ["a", "b", "c"], 1.0, cannot_link=np.zeros((2, 2), bool))


def test_min_speaker_sec_folds_tiny_speakers_into_their_closest():
    rng = np.random.default_rng(3)
    audio = np.zeros(SR * 20, np.float32)
    plan = [(110.0, 0.0, 4.0), (260.0, 4.5, 8.5), (110.0, 9.0, 13.0), (180.0, 13.5, 14.0),
            (260.0, 14.5, 18.5)]
    lines = []
    for f0, s, e in plan:
        audio[int(s * SR): int(e * SR)] += _voice(rng, f0, e - s)
        lines.append(Turn.from_text("rec", "x", s, e, "word"))
    free = [t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, threshold=0.2)]
    assert len(set(free)) == 3 and free[3] not in (free[0], free[1])  # the 0.5 s voice alone
    folded = [t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, threshold=0.2,
                                            min_speaker_sec=1.0)]
    assert len(set(folded)) == 2
    assert folded[:3] == free[:3] and folded[4] == free[4] and folded[3] in (folded[0], folded[1])
    # a known speaker count wins over the minimum
    counted = link_lines(lines, audio, SR, fbank_embedding, num_speakers=3, min_speaker_sec=1.0)
    assert len({t.speaker for t in counted}) == 3


def _backchannel_recording(rng):
    """Voice A's turns each hold a 0.6-s backchannel of voice B (mixed in); B also has turns."""
    audio = np.zeros(SR * 40, np.float32)
    lines, truth = [], []
    for k in range(4):
        for f0, s, e, who in [(110.0, 0.0, 4.0, "A"), (260.0, 1.5, 2.1, "B"), (260.0, 5.0, 9.0, "B")]:
            v = _voice(rng, f0, e - s)
            start = int((k * 10 + s) * SR)
            audio[start: start + len(v)] += v
            lines.append(Turn.from_text("rec", "x", k * 10 + s, k * 10 + e, "word"))
            truth.append(who)
    return audio, lines, truth


def test_min_speaker_sec_counts_only_speech_where_no_other_line_is_active():
    audio, lines, truth = _backchannel_recording(np.random.default_rng(6))
    want = ["spk1" if w == "A" else "spk2" for w in truth]
    # the mixed voice prints of the backchannels make a speaker of their own (2.4 s)...
    free = [t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, threshold=0.3, max_overlap=1.0)]
    assert len(set(free)) == 3 and len({free[i] for i, w in enumerate(truth) if w == "B"}) == 2
    # ...which has no speech of its own (all of it inside A's turns): folded into B
    folded = link_lines(lines, audio, SR, fbank_embedding, threshold=0.3, max_overlap=1.0, min_speaker_sec=1.0)
    assert [t.speaker for t in folded] == want


def test_max_overlap_frac_keeps_a_line_said_inside_another_apart():
    _, lines, _ = _backchannel_recording(np.random.default_rng(7))
    same = np.tile(_voice(np.random.default_rng(8), 110.0, 1.0), 40)  # one voice everywhere
    # each backchannel overlaps its container by 0.6 s only: under max_overlap 1 s they may merge
    loose = link_lines(lines, same, SR, fbank_embedding, threshold=2.0, max_overlap=1.0)
    assert {t.speaker for t in loose} == {"spk1"}
    # but all of it lies inside the other line
    apart = link_lines(lines, same, SR, fbank_embedding, threshold=2.0, max_overlap=1.0, max_overlap_frac=0.5)
    for k in range(4):
        assert apart[3 * k].speaker != apart[3 * k + 1].speaker
    assert len({t.speaker for t in apart}) == 2
    # lines that only touch (or do not overlap) are never kept apart by the fraction
    touching = [Turn.from_text("rec", "x", 0.0, 2.0, "a"), Turn.from_text("rec", "x", 2.0, 2.5, "b")]
    assert {t.speaker for t in link_lines(touching, same, SR, fbank_embedding, threshold=2.0,
                                          max_overlap_frac=0.1)} == {"spk1"}


def test_min_line_sec_clusters_the_long_lines_first():
    """A short line inside L2 (a spurious word) must not keep L1 and L2, one voice, apart."""
    audio = np.zeros(SR * 14, np.float32)
    for value, s, e in [(0.1, 0.0, 3.0), (0.3, 5.0, 8.0), (0.2, 6.0, 6.5), (0.5, 10.0, 13.0)]:
        audio[int(s * SR): int(e * SR)] = value
    # voice prints by the segment's level, chosen with zero mean (centring keeps them)
    table = {0.1: [1.0, 0.0], 0.2: [1.0, 0.1], 0.3: [1.0, 0.3], 0.5: [-3.0, -0.4]}

    def embed(chunk, sr):
        return np.array(table[round(float(chunk.mean()), 1)])

    lines = [Turn.from_text("rec", "x", s, e, w) for s, e, w in
             [(0.0, 3.0, "l1"), (5.0, 8.0, "l2"), (6.0, 6.5, "s"), (10.0, 13.0, "m")]]
    # S is closest to L1 and merges with it first; L2 may then never join them
    free = {t.text: t.speaker for t in link_lines(lines, audio, SR, embed, threshold=0.5)}
    assert free["l1"] == free["s"] != free["l2"]
    # the lines of at least 1 s first: L1 and L2 one speaker; S may not join L2 (inside it)
    first = {t.text: t.speaker for t in link_lines(lines, audio, SR, embed, threshold=0.5, min_line_sec=1.0)}
    assert first["l1"] == first["l2"] != first["s"]
    assert first["l1"] == "spk1" and first["l2"] != first["m"]
    # with no long line at all, every line is clustered
    short = link_lines(lines, audio, SR, embed, threshold=0.5, min_line_sec=10.0)
    assert [t.speaker for t in short] == [t.speaker for t in link_lines(lines, audio, SR, embed, threshold=0.5)]


def test_voice_trim_keeps_padded_lines_of_one_voice_together():
    rng = np.random.default_rng(4)
    audio = np.zeros(SR * 20, np.float32)
    plan = [(110.0, 0.5, 4.0), (110.0, 4.25, 8.0), (260.0, 8.5, 12.0), (260.0, 12.25, 16.0)]
    for f0, s, e in plan:
        audio[int(s * SR): int(e * SR)] += _voice(rng, f0, e - s)
    # lines widened by 0.5 s at both ends (as decoding pads CTC times): neighbours overlap 0.75 s
    lines = [Turn.from_text("rec", "x", s - 0.5, e + 0.5, "word") for _, s, e in plan]
    loose = [t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, threshold=0.5)]
    assert loose[0] != loose[1]  # the padded overlap forbids one speaker
    trimmed = [t.speaker for t in link_lines(lines, audio, SR, fbank_embedding, threshold=0.5,
                                             voice_trim=0.5)]
    assert trimmed == ["spk1", "spk1", "spk2", "spk2"]


def test_split_lines_by_voice_cuts_a_merged_line_where_the_voice_changes():
    from espnet_tagspeech.data.turn import Word
    from espnet_tagspeech.linking import split_lines_by_voice
    from espnet_tagspeech.tsot import TsotLine

    rng = np.random.default_rng(5)
    shift = 0.01
    # non-negative frames with a large shared part, as the ECAPA stream's
    voice_a, voice_b = 3 + rng.random(16), 3 + rng.random(16)
    voice_b[:8] += 2.0
    frames = np.zeros((1000, 16))  # 10 s: A speaks 0-4 s, B 4.2-8 s, A again 8.5-10 s
    for (s, e), v in (((0.0, 4.0), voice_a), ((4.2, 8.0), voice_b), ((8.5, 10.0), voice_a)):
        frames[int(s / shift): int(e / shift)] = v + 0.3 * rng.random((int((e - s) / shift), 16))
    words = [Word(f"w{i}", t, t + 0.3) for i, t in enumerate(np.arange(0.1, 7.9, 0.6))]
    merged = TsotLine(0, words)  # one line over both turns
    other = TsotLine(1, [Word("x", 8.6, 8.9), Word("y", 9.2, 9.8)])
    out = split_lines_by_voice([merged, other], frames, shift, threshold=0.02)
    assert [ln.channel for ln in out] == [0, 0, 1]
    first, second = out[0], out[1]
    assert first.words[-1].end <= 4.2 and second.words[0].start >= 3.9  # cut at the change
    assert first.words + second.words == words
    # one voice throughout: nothing to split; a threshold above any distance: nothing either
    same = frames.copy()
    same[:800] = voice_a + 0.3 * rng.random((800, 16))
    assert len(split_lines_by_voice([merged], same, shift, threshold=0.02)) == 1
    assert len(split_lines_by_voice([merged, other], frames, shift, threshold=1.0)) == 2
    # too little speech on one side (min_sec) keeps the line whole
    assert len(split_lines_by_voice([merged], frames, shift, threshold=0.02, min_sec=4.1)) == 1
    assert split_lines_by_voice([], frames, shift, 0.02) == []
