"""Tests of speaker linking across cuts (espnet_tagspeech/decode/voices.py, espnet_tagspeech/decode/clustering.py)."""

import numpy as np
import pytest

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.decode.voices import _subtract as _ref_subtract
from espnet_tagspeech.decode.voices import cluster_with_constraints, fbank_embedding, link_lines, link_speakers

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

    from espnet_tagspeech.decode.voices import SpeakerStreamEmbedder
    from espnet_tagspeech.model.tiny import setup_tiny
    from espnet_tagspeech.tasks.tagspeech import args_from_config
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    _, cfg = setup_tiny(str(tmp_path), num_cuts=2)
    torch.manual_seed(0)
    model = TagSpeechTask.build_model(args_from_config(cfg))
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


def test_resemblyzer_embedder_links_voices_at_any_rate():
    """The pre-trained GE2E prints (``link: resemblyzer``) link two voices without being told the count."""
    import torchaudio

    from espnet_tagspeech.decode.voices import ResemblyzerEmbedder, make_embedder

    pytest.importorskip("resemblyzer")
    embed = make_embedder("resemblyzer")
    assert isinstance(embed, ResemblyzerEmbedder)
    rng = np.random.default_rng(1)
    a1, a2, b = _voice(rng, 110.0, 2.0), _voice(rng, 110.0, 3.0), _voice(rng, 260.0, 2.0)
    va1, va2, vb = embed(a1, SR), embed(a2, SR), embed(b, SR)
    assert va1.shape == (256,) and abs(np.linalg.norm(va1) - 1) < 1e-5
    assert va1 @ va2 > va1 @ vb + 0.05
    # 8 kHz audio is resampled, quiet audio brought up: still the same voice
    import torch

    low = torchaudio.functional.resample(torch.from_numpy(a1), SR, 8000).numpy()
    assert embed(0.1 * low, 8000) @ va1 > max(0.85, va1 @ vb + 0.2)
    assert np.isfinite(embed(np.zeros(10, np.float32), SR)).all()  # shorter than a frame: padded
    audio, spk_turns, txt_turns, cut_of, truth = _two_voice_recording(rng)
    new_spk, _ = link_speakers(spk_turns, txt_turns, cut_of, audio, SR, embed, threshold=0.6)
    mapping = {}
    for old, new in zip(spk_turns, new_spk):
        mapping.setdefault(truth[old.speaker], set()).add(new.speaker)
    assert mapping["A"].isdisjoint(mapping["B"]) and all(len(v) == 1 for v in mapping.values()), mapping


def test_resemblyzer_print_of_long_audio_is_its_utterance_embedding_in_batches():
    """Minutes of a speaker's speech (a long meeting's recording voices) are embedded a batch
    of partials at a time: the same print as resemblyzer's one-batch utterance embedding."""
    pytest.importorskip("resemblyzer")
    from espnet_tagspeech.decode.voices import ResemblyzerEmbedder

    embed = ResemblyzerEmbedder()
    rng = np.random.default_rng(3)
    wav = np.concatenate([_voice(rng, f, 2.0) for f in (110.0, 130.0, 120.0, 115.0, 125.0)])  # 10 s
    whole = embed.encoder.embed_utterance(wav)  # 12 partials in one batch
    np.testing.assert_allclose(embed._utterance(wav, batch=5), whole, atol=1e-5)
    np.testing.assert_allclose(embed._utterance(wav), whole, atol=1e-5)
    short = wav[: SR // 2]  # under one partial: padded, as resemblyzer does
    np.testing.assert_allclose(embed._utterance(short, batch=1), embed.encoder.embed_utterance(short), atol=1e-5)


def test_make_embedder_names_what_it_needs(monkeypatch):
    import builtins

    from espnet_tagspeech.decode.voices import make_embedder

    assert make_embedder("fbank") is fbank_embedding
    with pytest.raises(ValueError, match="link 'model' needs the model's config"):
        make_embedder("model")
    with pytest.raises(ValueError, match="no voice prints for link 'none'"):
        make_embedder("none")
    real_import = builtins.__import__

    def no_resemblyzer(name, *args, **kw):
        if name.startswith("resemblyzer"):
            raise ImportError("No module named 'resemblyzer'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_resemblyzer)
    with pytest.raises(ValueError, match="needs the resemblyzer package: pip install --no-deps resemblyzer"):
        make_embedder("resemblyzer")


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


def _stray_recording():
    """Three cuts of two speakers each (20.5 s of speech); cut c1's second speaker is a
    0.5-s stray of a third voice.  Returns ``(turns, cut_of, audio)``."""
    rng = np.random.default_rng(3)
    audio = np.zeros(SR * 30, np.float32)
    # (cut, local id, f0, start, end)
    plan = [("c0", "1", 110.0, 0.0, 4.0), ("c0", "2", 260.0, 4.5, 8.5),
            ("c1", "1", 110.0, 10.0, 14.0), ("c1", "2", 180.0, 14.5, 15.0),
            ("c2", "1", 260.0, 20.0, 24.0), ("c2", "2", 110.0, 24.5, 28.5)]
    turns, cut_of = [], {}
    for cut, local, f0, s, e in plan:
        audio[int(s * SR): int(e * SR)] += _voice(rng, f0, e - s)
        cut_of[f"{cut}|{local}"] = cut
        turns.append(Turn("rec", f"{cut}|{local}", s, e))
    return turns, cut_of, audio


def test_link_speakers_min_speaker_sec_folds_a_stray_speaker_but_keeps_a_cuts_speakers_apart():
    turns, cut_of, audio = _stray_recording()
    free, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, threshold=0.2)
    assert len({t.speaker for t in free}) == 3  # the stray is a speaker of its own
    folded, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, threshold=0.2, min_speaker_sec=1.0)
    got = [t.speaker for t in folded]
    assert len(set(got)) == 2
    assert got[3] != got[2]  # it may not join its cut-mate's speaker, even if closer
    assert got[3] == got[1] and [got[0], got[1], got[2], got[4], got[5]] == [
        t.speaker for i, t in enumerate(free) if i != 3]
    # a known speaker count wins over the minimum
    counted, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, num_speakers=3, min_speaker_sec=1.0)
    assert len({t.speaker for t in counted}) == 3


def test_link_speakers_min_speaker_frac_scales_the_fold_with_the_recordings_speech():
    turns, cut_of, audio = _stray_recording()  # 20.5 s of speech, a 0.5-s stray
    count = lambda out: len({t.speaker for t in out})  # noqa: E731
    link = lambda **kw: link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, threshold=0.2, **kw)[0]  # noqa: E731
    assert count(link(min_speaker_frac=0.01)) == 3  # 0.2 s: the stray's 0.5 s passes
    folded = link(min_speaker_frac=0.05)  # 1.0 s: it joins a speaker it may join
    assert count(folded) == 2 and [t.speaker for t in folded] == [t.speaker for t in link(min_speaker_sec=1.0)]
    assert count(link(min_speaker_sec=0.1, min_speaker_frac=0.05)) == 2  # the larger bar wins
    assert count(link(num_speakers=3, min_speaker_frac=0.05)) == 3  # a known count wins


def test_link_speakers_min_member_sec_takes_apart_a_speaker_gathered_from_strays():
    rng = np.random.default_rng(5)
    audio = np.zeros(SR * 60, np.float32)
    # four cuts of voice A with a 0.6-s stray of voice C each (2.4 s of C in all), two cuts of B
    plan = [(f"c{k}", "1", 110.0, 10.0 * k, 10.0 * k + 4.0) for k in range(4)]
    plan += [(f"c{k}", "2", 180.0, 10.0 * k + 5.0, 10.0 * k + 5.6) for k in range(4)]
    plan += [("c4", "1", 260.0, 40.0, 44.0), ("c5", "1", 260.0, 50.0, 54.0)]
    turns, cut_of = [], {}
    for cut, local, f0, s, e in plan:
        v = _voice(rng, f0, e - s)
        audio[int(s * SR): int(s * SR) + len(v)] += v
        cut_of[f"{cut}|{local}"] = cut
        turns.append(Turn("rec", f"{cut}|{local}", s, e))
    kept, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, threshold=0.2, min_speaker_sec=1.0)
    assert len({t.speaker for t in kept}) == 3  # the strays' 2.4 s pass the total
    parted, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, threshold=0.2, min_speaker_sec=1.0,
                              min_member_sec=1.0)
    got = [t.speaker for t in parted]
    assert len(set(got)) == 2
    assert set(got[4:8]) == {got[8]} == {got[9]} and got[8] != got[0]  # with B: each shares its cut with A
    counted, _ = link_speakers(turns, [], cut_of, audio, SR, fbank_embedding, num_speakers=3, min_member_sec=1.0)
    assert len({t.speaker for t in counted}) == 3  # a known count wins


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
    from espnet_tagspeech.decode.voices import split_lines_by_voice
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


# --- the linking code before windowed clustering, kept as the reference for equivalence ---
# (its span subtraction is unchanged and shared: _ref_subtract)

def _ref_cosine_dist(x):
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    return 1.0 - x @ x.T


def _ref_cluster(emb, groups, threshold, num_clusters=None, cannot_link=None):
    n = len(groups)
    if n == 0:
        return []
    dist = _ref_cosine_dist(emb)
    apart = np.array([[a == b for b in groups] for a in groups], dtype=bool)
    np.fill_diagonal(apart, False)
    if cannot_link is not None:
        apart |= cannot_link | cannot_link.T
    clusters = {i: [i] for i in range(n)}
    while len(clusters) > 1:
        if num_clusters is not None and len(clusters) <= num_clusters:
            break
        best, pair = None, None
        keys = sorted(clusters)
        for ia, a in enumerate(keys):
            for b in keys[ia + 1:]:
                if apart[np.ix_(clusters[a], clusters[b])].any():
                    continue
                d = float(dist[np.ix_(clusters[a], clusters[b])].mean())
                if best is None or d < best:
                    best, pair = d, (a, b)
        if pair is None or (num_clusters is None and best > threshold):
            break
        a, b = pair
        clusters[a].extend(clusters.pop(b))
    root = {i: k for k, members in clusters.items() for i in members}
    return _ref_renumber([root[i] for i in range(n)])


def _ref_renumber(label):
    order = {}
    return [order.setdefault(c, len(order)) for c in label]


def _ref_voice_prints(items, audio, sr, embed):
    from espnet_tagspeech.data.turn import merge_intervals

    vecs = []
    for own, others in items:
        mine = merge_intervals(own)
        alone = _ref_subtract(mine, merge_intervals(others))
        use = alone if sum(e - s for s, e in alone) >= 0.3 else mine
        pieces = [p for p in (audio[int(s * sr): int(e * sr)] for s, e in use) if len(p)]
        chunk = np.concatenate(pieces) if pieces else np.zeros(int(0.1 * sr), np.float32)
        vecs.append(np.asarray(embed(chunk, sr), dtype=np.float64))
    emb = np.stack(vecs)
    return emb - emb.mean(0, keepdims=True) if len(items) > 2 else emb


def _ref_link_speakers(speaker_turns, cut_of, audio, sr, embed, threshold=0.3, num_speakers=None):
    by_label = {}
    for t in speaker_turns:
        by_label.setdefault(t.speaker, []).append((t.start, t.end))
    labels = sorted(by_label, key=lambda k: min(s for s, _ in by_label[k]))
    emb = _ref_voice_prints(
        [(by_label[lab], [sp for o, spans in by_label.items() if o != lab and cut_of[o] == cut_of[lab]
                          for sp in spans]) for lab in labels], audio, sr, embed)
    assign = _ref_cluster(emb, [cut_of[k] for k in labels], threshold, num_speakers)
    new = {lab: f"spk{c + 1}" for lab, c in zip(labels, assign)}
    return [new[t.speaker] for t in speaker_turns]


def _ref_closest_allowed(i, members, dist, apart):
    options = [(float(dist[i, m].mean()), c) for c, m in members.items() if not apart[i, m].any()]
    return min(options)[1] if options else None


def _ref_absorb_small(assign, emb, alone, apart, min_sec):
    dist = _ref_cosine_dist(emb)
    dur = {}
    for c, sec in zip(assign, alone):
        dur[c] = dur.get(c, 0.0) + sec
    members = {c: [i for i, x in enumerate(assign) if x == c] for c in dur if dur[c] >= min_sec}
    label = list(assign)
    for i, c in enumerate(assign):
        if c not in members:
            best = _ref_closest_allowed(i, members, dist, apart)
            if best is not None:
                label[i] = best
                members[best].append(i)
    return _ref_renumber(label)


def _ref_attach_rest(n, clustered, part, emb, apart):
    label, members = [-1] * n, {}
    for i, c in zip(clustered, part):
        label[i] = c
        members.setdefault(c, []).append(i)
    dist = _ref_cosine_dist(emb)
    for i in range(n):
        if label[i] < 0:
            best = _ref_closest_allowed(i, members, dist, apart)
            label[i] = best if best is not None else len(members)
            members.setdefault(label[i], []).append(i)
    return _ref_renumber(label)


def _ref_apart(a, b, max_overlap, max_frac):
    shared = min(a[1], b[1]) - max(a[0], b[0])
    if shared > max_overlap:
        return True
    shorter = min(a[1] - a[0], b[1] - b[0])
    return max_frac is not None and shared > 0 and shared > max_frac * shorter


def _ref_link_lines(text_turns, audio, sr, embed, threshold=0.3, num_speakers=None, max_overlap=0.3,
                    min_speaker_sec=0.0, voice_trim=0.0, max_overlap_frac=None, min_line_sec=0.0):
    from espnet_tagspeech.data.turn import merge_intervals

    lines = sorted(text_turns, key=lambda t: (t.start, t.end))
    spans = [(t.start, t.end) for t in lines]
    cores = [(s + voice_trim, e - voice_trim) if e - s >= 2 * voice_trim + 0.3 else (s, e) for s, e in spans]
    emb = _ref_voice_prints([([c], cores[:i] + cores[i + 1:]) for i, c in enumerate(cores)], audio, sr, embed)
    n = len(lines)
    overlap = np.array([[_ref_apart(a, b, max_overlap, max_overlap_frac) for b in cores] for a in cores], bool)
    np.fill_diagonal(overlap, False)
    long_lines = [i for i, (s, e) in enumerate(spans) if e - s >= min_line_sec] or list(range(n))
    sub = np.ix_(long_lines, long_lines)
    part = _ref_cluster(emb[long_lines], [str(i) for i in long_lines], threshold, num_speakers, overlap[sub])
    if min_speaker_sec > 0 and num_speakers is None:
        alone = [sum(e - s for s, e in _ref_subtract([spans[i]], merge_intervals(spans[:i] + spans[i + 1:])))
                 for i in long_lines]
        part = _ref_absorb_small(part, emb[long_lines], alone, overlap[sub], min_speaker_sec)
    return [(t.text, f"spk{c + 1}") for t, c in zip(lines, _ref_attach_rest(n, long_lines, part, emb, overlap))]


# --- synthetic meetings without audio: the "audio" is the frame index, voice prints a frame table ---

RATE = 20


def _fake_meeting(rng, seconds, n_spk, line_noise=0.06, frame_noise=0.3, dim=16):
    """Lines ``(speaker, start, end)`` of 1-8 s with overlaps and backchannels, fake audio, embed."""
    centroids = rng.standard_normal((n_spk, dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    plan, t, prev = [], 0.2, -1
    while True:
        spk = int(rng.choice([s for s in range(n_spk) if s != prev]))
        length = float(rng.uniform(1.0, 8.0))
        if t + length > seconds:
            break
        plan.append((spk, round(t, 2), round(t + length, 2)))
        if rng.random() < 0.2 and length > 2.0:
            s = t + float(rng.uniform(0.3, length - 1.2))
            other = int(rng.choice([x for x in range(n_spk) if x != spk]))
            plan.append((other, round(s, 2), round(s + float(rng.uniform(0.2, 0.9)), 2)))
        t += length + float(rng.uniform(-0.8, 1.5))
        prev = spk
    plan.sort(key=lambda x: (x[1], x[2]))
    frames = frame_noise * rng.standard_normal((int(seconds * RATE) + 1, dim))
    for spk, s, e in plan:
        frames[int(s * RATE): int(e * RATE)] += centroids[spk] + line_noise * rng.standard_normal(dim)

    def embed(chunk, sr):
        return frames[np.asarray(chunk, dtype=np.int64)].mean(0)

    return plan, np.arange(len(frames), dtype=np.float64), embed


def _as_lines(plan):
    return [Turn.from_text("rec", "x", s, e, f"l{i}") for i, (_, s, e) in enumerate(plan)]


def test_cluster_with_constraints_matches_the_reference_on_random_items():
    rng = np.random.default_rng(10)
    for trial in range(150):
        n = int(rng.integers(1, 30))
        emb = rng.standard_normal((n, int(rng.integers(2, 6)))) + rng.standard_normal(2).sum()
        groups = [f"g{g}" for g in rng.integers(0, max(1, n // int(rng.integers(1, 4))), n)]
        cannot = rng.random((n, n)) < rng.uniform(0, 0.15) if trial % 2 else None
        threshold = float(rng.uniform(0.05, 1.5))
        k = int(rng.integers(1, 5)) if trial % 3 == 0 else None
        want = _ref_cluster(emb, groups, threshold, k, cannot)
        assert cluster_with_constraints(emb, groups, threshold, k, cannot) == want, trial
        # times all inside one window: the same clustering
        times = rng.uniform(0, 50, n)
        assert cluster_with_constraints(emb, groups, threshold, k, cannot, times=times, window_sec=60.0) == want
    assert cluster_with_constraints(np.zeros((0, 2)), [], 0.3) == []


def test_link_lines_matches_the_reference_on_short_meetings():
    rng = np.random.default_rng(11)
    for trial in range(40):
        plan, audio, embed = _fake_meeting(rng, float(rng.uniform(30, 70)), int(rng.integers(2, 6)),
                                           line_noise=float(rng.uniform(0.05, 0.4)))
        opts = dict(threshold=float(rng.uniform(0.1, 0.8)), max_overlap=float(rng.choice([0.0, 0.3, 1.0, -0.2])),
                    min_speaker_sec=float(rng.choice([0.0, 3.0, 8.0])), voice_trim=float(rng.choice([0.0, 0.2])),
                    max_overlap_frac=[None, 0.5][trial % 2], min_line_sec=float(rng.choice([0.0, 1.2, 3.0])),
                    num_speakers=int(rng.integers(1, 6)) if trial % 5 == 0 else None)
        lines = _as_lines(plan)
        got = [(t.text, t.speaker) for t in link_lines(lines, audio, RATE, embed, **opts)]
        assert got == _ref_link_lines(lines, audio, RATE, embed, **opts), (trial, opts)


def _cut_speakers(plan, cut_sec=10.0):
    turns, cut_of = [], {}
    for spk, s, e in plan:
        cut = int(s // cut_sec)
        cut_of[f"c{cut}|{spk}"] = f"c{cut}"
        turns.append(Turn("rec", f"c{cut}|{spk}", s, min(e, (cut + 1) * cut_sec)))
    return turns, cut_of


def test_link_speakers_matches_the_reference_on_short_meetings():
    rng = np.random.default_rng(12)
    for trial in range(30):
        plan, audio, embed = _fake_meeting(rng, float(rng.uniform(30, 70)), int(rng.integers(2, 6)),
                                           line_noise=float(rng.uniform(0.05, 0.4)))
        turns, cut_of = _cut_speakers(plan)
        threshold = float(rng.uniform(0.1, 0.8))
        k = int(rng.integers(1, 6)) if trial % 4 == 0 else None
        got, _ = link_speakers(turns, [], cut_of, audio, RATE, embed, threshold, k)
        assert [t.speaker for t in got] == _ref_link_speakers(turns, cut_of, audio, RATE, embed, threshold, k)


def test_link_lines_without_windows_matches_the_reference_on_a_longer_meeting():
    rng = np.random.default_rng(13)
    plan, audio, embed = _fake_meeting(rng, 240.0, 5, line_noise=0.3)
    lines = _as_lines(plan)
    opts = dict(threshold=0.4, max_overlap=1.0, min_speaker_sec=3.0, max_overlap_frac=0.5, min_line_sec=1.2)
    want = _ref_link_lines(lines, audio, RATE, embed, **opts)
    assert [(t.text, t.speaker) for t in link_lines(lines, audio, RATE, embed, window_sec=None, **opts)] == want


def _speech_accuracy(plan, labels):
    """Share of speech on the right speaker under the best one-to-one mapping of labels."""
    from scipy.optimize import linear_sum_assignment

    names = sorted(set(labels))
    table = np.zeros((max(s for s, _, _ in plan) + 1, len(names)))
    for (spk, s, e), lab in zip(plan, labels):
        table[spk, names.index(lab)] += e - s
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / table.sum()


def _violations(spans, labels, max_overlap, max_frac):
    """Pairs of lines on one speaker that overlap more than allowed (brute force)."""
    spans = np.asarray(spans)
    shared = np.minimum(spans[:, None, 1], spans[None, :, 1]) - np.maximum(spans[:, None, 0], spans[None, :, 0])
    length = spans[:, 1] - spans[:, 0]
    shorter = np.minimum(length[:, None], length[None, :])
    apart = (shared > max_overlap) | ((shared > 0) & (shared > max_frac * shorter))
    same = np.asarray(labels)[:, None] == np.asarray(labels)[None, :]
    np.fill_diagonal(apart, False)
    return int((apart & same).sum())


def test_windowed_link_lines_finds_the_speakers_of_a_long_meeting():
    rng = np.random.default_rng(14)
    plan, audio, embed = _fake_meeting(rng, 40 * 60.0, 6)  # 40 min: three levels of 5-, 20-, 80-min windows
    lines = _as_lines(plan)
    opts = dict(threshold=0.4, max_overlap=1.0, max_overlap_frac=0.5, min_speaker_sec=3.0, min_line_sec=1.2)
    out = link_lines(lines, audio, RATE, embed, window_sec=300.0, **opts)
    labels = [t.speaker for t in out]
    assert [t.text for t in out] == [t.text for t in lines]
    assert len(set(labels)) == 6
    assert _speech_accuracy(plan, labels) > 0.98
    assert _violations([(s, e) for _, s, e in plan], labels, 1.0, 0.5) == 0
    # a known count is met exactly; the whole-meeting clustering agrees with the windows
    counted = [t.speaker for t in link_lines(lines, audio, RATE, embed, num_speakers=6, window_sec=300.0, **opts)]
    assert len(set(counted)) == 6 and _speech_accuracy(plan, counted) > 0.98
    whole = [t.speaker for t in link_lines(lines, audio, RATE, embed, window_sec=None, **opts)]
    assert np.mean(np.array(whole) == np.array(labels)) > 0.98


def test_windowed_link_speakers_on_a_long_meeting():
    rng = np.random.default_rng(15)
    plan, audio, embed = _fake_meeting(rng, 30 * 60.0, 5)
    turns, cut_of = _cut_speakers(plan, cut_sec=30.0)
    out, _ = link_speakers(turns, [], cut_of, audio, RATE, embed, threshold=0.3, num_speakers=5, window_sec=120.0)
    labels = [t.speaker for t in out]
    whole, _ = link_speakers(turns, [], cut_of, audio, RATE, embed, threshold=0.3, num_speakers=5, window_sec=None)
    # greedy merges leave a few short local speakers that the cut constraints keep out of 5 clusters
    assert len(set(labels)) == len({t.speaker for t in whole}) <= 7
    assert _speech_accuracy(plan, labels) > 0.98
    for a, b in zip(turns, out):  # two speakers of one cut never share a label
        assert all(b.speaker != d.speaker for c, d in zip(turns, out)
                   if cut_of[c.speaker] == cut_of[a.speaker] and c.speaker != a.speaker)


def test_windowed_clustering_never_joins_items_that_must_stay_apart():
    rng = np.random.default_rng(16)
    for trial in range(30):
        n = int(rng.integers(20, 120))
        emb = rng.standard_normal((3, 4))[rng.integers(0, 3, n)] + 0.3 * rng.standard_normal((n, 4))
        times = rng.uniform(0, 1000, n)  # in any order
        pairs = rng.integers(0, n, (int(rng.integers(0, 2 * n)), 2))
        groups = [f"g{g}" for g in rng.integers(0, n, n)]
        k = 3 if trial % 3 == 0 else None
        labels = np.array(cluster_with_constraints(emb, groups, 0.5, k, cannot_pairs=pairs, times=times,
                                                   window_sec=float(rng.uniform(20, 200))))
        assert not any(labels[i] == labels[j] for i, j in pairs if i != j)
        assert not any(labels[i] == labels[j] for i in range(n) for j in range(i) if groups[i] == groups[j])
        assert labels[0] == 0 and all(labels[i] <= labels[:i].max() + 1 for i in range(1, n))
        if k is not None:
            assert len(set(labels)) >= k


def test_cluster_with_constraints_checks_its_new_arguments():
    emb = np.eye(3)
    with pytest.raises(ValueError, match="times"):
        cluster_with_constraints(emb, ["a", "b", "c"], 1.0, window_sec=10.0)
    with pytest.raises(ValueError, match="3 items"):
        cluster_with_constraints(emb, ["a", "b", "c"], 1.0, cannot_pairs=np.array([[0, 3]]))
    assert cluster_with_constraints(emb, ["a", "b", "c"], 2.0, cannot_pairs=np.array([[0, 1]])) == [0, 1, 0]


def test_span_sweeps_find_the_same_pairs_as_all_pairs():
    from espnet_tagspeech.decode.voices import _overlap_pairs, _touching_pairs

    rng = np.random.default_rng(17)
    for trial in range(50):
        n = int(rng.integers(1, 40))
        starts = np.round(rng.uniform(0, 60, n), 1)
        spans = np.stack([starts, starts + np.round(rng.uniform(0, 6, n), 1)], axis=1)
        if trial % 5 == 0:
            spans[: n // 2] = spans[0]  # identical and zero-length spans
        mo, frac = float(rng.choice([0.0, 0.3, 1.0, -0.5])), [None, 0.5][trial % 2]
        got = {tuple(sorted(p)) for p in _overlap_pairs(spans, mo, frac).tolist()}
        want = {(i, j) for i in range(n) for j in range(i + 1, n) if _ref_apart(spans[i], spans[j], mo, frac)}
        assert got == want
        got = {tuple(sorted(p)) for p in _touching_pairs(spans).tolist()}
        want = {(i, j) for i in range(n) for j in range(i + 1, n)
                if spans[j, 0] < spans[i, 1] and spans[j, 1] > spans[i, 0]}
        assert got == want
