"""LEARNING: a tiny random-init TagSpeech model overfits synthetic cuts through
ESPnet's Trainer, and Speech2Tags then decodes each cut's exact target."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny

pytestmark = pytest.mark.slow  # trains through ESPnet's Trainer


def _train(work: Path, extra=()):
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    data = work / "data"
    cmd = [
        "--config", str(work / "config.yaml"),
        "--output_dir", str(work / "exp"),
        "--ngpu", "0",
        "--seed", "0",
        "--train_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--train_data_path_and_name_and_type", f"{data}/text,text,text",
        "--valid_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--valid_data_path_and_name_and_type", f"{data}/text,text,text",
        "--train_shape_file", f"{data}/speech_shape",
        "--train_shape_file", f"{data}/text_shape",
        "--valid_shape_file", f"{data}/speech_shape",
        "--valid_shape_file", f"{data}/text_shape",
        *extra,
    ]
    TagSpeechTask.main(cmd=cmd)


def _epoch_losses(exp: Path):
    from espnet2.train.reporter import Reporter

    state = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    rep = Reporter()
    rep.load_state_dict(state["reporter"])
    return [rep.get_value("train", "loss", e) for e in range(1, rep.get_epoch() + 1)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("overfit")
    cuts, _ = setup_tiny(str(work), num_cuts=3)
    _train(work)
    return work, cuts


def test_tiny_model_overfits_and_decodes_targets(trained):
    tmp_path, cuts = trained
    exp = tmp_path / "exp"
    losses = _epoch_losses(exp)
    vocab = int((tmp_path / "token" / "vocab_size").read_text())
    # Loss starts near uniform guessing and falls by more than 90 %.
    assert losses[0] < math.log(vocab) * 1.5
    assert losses[-1] < 0.1 * losses[0], losses

    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    s2t = Speech2Tags(exp / "config.yaml", exp / "latest.pth", decode_config={"max_new_tokens": 200})
    for key, (wav, target) in cuts.items():
        res = s2t.batch([wav], fs=16000, keys=[key])[0]
        assert res.text == target
        assert res.warnings == []
    # Batched greedy decoding gives the same strings.
    keys = list(cuts)
    batched = s2t.batch([cuts[k][0] for k in keys], keys=keys)
    assert [r.text for r in batched] == [cuts[k][1] for k in keys]


def test_trained_model_through_the_cli_with_segments(trained, tmp_path):
    """Cuts of one recording (wav.scp + segments): outputs land in recording time."""
    import numpy as np
    import soundfile

    from espnet_tagspeech.bin.tagspeech_inference import main as decode
    from espnet_tagspeech.data.formats import read_rttm
    from espnet_tagspeech.serialization import parse

    work, cuts = trained
    exp = work / "exp"
    reco = tmp_path / "reco"
    reco.mkdir()
    wav = np.concatenate([cuts["cut1"][0], cuts["cut2"][0]])
    soundfile.write(str(reco / "meeting.wav"), wav, 16000, subtype="FLOAT")
    (reco / "wav.scp").write_text(f"meeting {reco / 'meeting.wav'}\n")
    (reco / "segments").write_text("cut1 meeting 0.00 1.20\ncut2 meeting 1.20 2.80\n")
    out = tmp_path / "decode"
    decode([
        "--data_path_and_name_and_type", f"{reco}/wav.scp,speech,sound",
        "--output_dir", str(out), "--batch_size", "2",
        "--train_config", str(exp / "config.yaml"), "--model_file", str(exp / "latest.pth"),
        "--max_new_tokens", "200",
    ])
    expected = []
    for key, offset in (("cut1", 0.0), ("cut2", 1.2)):
        for t in parse(cuts[key][1], recording="meeting", offset=offset).speaker_turns:
            expected.append((f"{key}-{t.speaker}", round(t.start, 2), round(t.end, 2)))
    got = [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in read_rttm(out / "rttm")]
    assert sorted(got) == sorted(expected)
    assert {t.recording for t in read_rttm(out / "rttm")} == {"meeting"}
    assert (out / "warnings").read_text() == ""


def test_text_from_ctc_hands_the_ctc_lines_to_the_llm(trained, monkeypatch):
    """--text_from ctc: the text block is the CTC head's lines with their CTC times; the
    overfit LLM then writes the cut's speaker block after it."""
    from espnet_tagspeech.decode import speech2tags
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.model.tiny import spelled_ctc_posteriors
    from espnet_tagspeech.serialization import parse
    from espnet_tagspeech.tasks.preprocessor import sot_transcript
    from espnet_tagspeech.tsot import element_labels, split_elements

    work, cuts = trained
    exp = work / "exp"
    s2t = Speech2Tags(exp / "config.yaml", exp / "latest.pth", decode_config={"max_new_tokens": 200})
    tok = s2t.model.llm.tokenizer
    wav, target = next((w, t) for w, t in cuts.values() if len(parse(t).turns) >= 2)
    labels, _ = element_labels(split_elements(sot_transcript(target)), tok)
    post = spelled_ctc_posteriors(labels, tok.vocab_size)
    monkeypatch.setattr(speech2tags, "ctc_log_posteriors", lambda model, speech, lengths, feats=None: [post])
    # (the tiny model has no CTC head: a stand-in passes the check, its posteriors are given)
    monkeypatch.setattr(s2t.model, "ctc_head", torch.nn.Identity())
    s2t.decode_config = replace(s2t.decode_config, text_from="ctc")
    res = s2t.batch([wav], keys=["k"])[0]
    fs = s2t.model.semantic_encoder.frame_shift
    # SOT head (one channel): lines follow each other, each from its first to its last label
    lines = sot_transcript(target).split("\n")
    assert [t.text for t in res.turns] == lines
    first = 1  # label k fires at frame 2 k + 1
    for turn, line in zip(res.turns, lines):
        n = len(element_labels(line.split(), tok)[0])
        assert turn.start == pytest.approx(round(first * fs, 2))
        assert turn.end == pytest.approx(round((first + 2 * (n - 1) + 1) * fs, 2))
        first += 2 * (n + 1)  # the line's labels and its newline
    # the LLM went on after the text block (not a second one): its speaker block
    after = res.text.split("</text>")
    assert len(after) == 2 and after[1].startswith('\n<speaker>\n<spk id="1"'), res.text
