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
