"""TagSpeechTask: options, --print_config, data names, preprocessor checks."""

import sys

import numpy as np
import pytest
import soundfile
import yaml

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.tasks.preprocessor import TagSpeechPreprocessor, check_waveform
from espnet_tagspeech.tasks.tagspeech import TagSpeechTask


def _print_config(monkeypatch, capsys, cmd):
    # ESPnet's --print_config reads its options from sys.argv.
    monkeypatch.setattr(sys, "argv", ["tagspeech_train", *cmd])
    from espnet_tagspeech.bin.tagspeech_train import main

    with pytest.raises(SystemExit) as ex:
        main(cmd)
    assert ex.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_print_config_defaults(monkeypatch, capsys):
    cfg = _print_config(monkeypatch, capsys, ["--print_config"])
    assert cfg["semantic_encoder"] == "wavlm" and cfg["speaker_encoder"] == "ecapa"
    assert cfg["semantic_projector"] == cfg["speaker_projector"] == "stack_mlp"
    assert cfg["llm"] == "hf_causal_lm"
    assert cfg["llm_conf"]["freeze"] is True
    assert cfg["model_conf"] == {
        "semantic_anchor_interval": 8, "speaker_anchor_interval": 8,
        "ctc_weight": 0.0, "ctc_embed": False, "ctc_compress": False, "ctc_order": "sot", "ctc_channels": 2,
        "input_token_noise": 0.0, "ctc_noise": 0.0, "copy_head_init": False, "ctc_line_embed": 0,
        "answer_line_embed": 0,
        "frame_clock": False, "ctc_line_times": False, "ctc_line_gap": 0.0,
        "speaker_on_words": False, "time_anchors": True, "speaker_stream": True, "save_frozen": True,
    }


def test_print_config_merges_a_config_file_and_overrides(monkeypatch, capsys):
    from espnet_tagspeech.model.tiny import TINY_CONFIG

    cmd = ["--config", str(TINY_CONFIG), "--print_config", "--llm_conf", "tokenizer=x.model"]
    cfg = _print_config(monkeypatch, capsys, cmd)
    assert cfg["llm_conf"]["tokenizer"] == "x.model"
    assert cfg["llm_conf"]["config"]["hidden_size"] == 64
    assert cfg["speaker_projector_conf"] == {"ds_rate": 4, "output_norm": False}


def test_unknown_choice_on_the_command_line_lists_valid_ones(capsys):
    with pytest.raises(SystemExit):
        TagSpeechTask.main(cmd=["--print_config", "--speaker_encoder", "xvector"])
    err = capsys.readouterr().err
    assert "xvector" in err and "ecapa" in err


def test_data_names():
    # training needs the answer; the audio comes as speech or as the dumped streams
    assert TagSpeechTask.required_data_names(train=True) == ("text",)
    assert TagSpeechTask.optional_data_names(train=True)[0] == "speech"
    assert {"semantic_feats", "speaker_feats"} <= set(TagSpeechTask.optional_data_names(train=True))
    assert TagSpeechTask.required_data_names(train=False, inference=True) == ("speech",)


@pytest.mark.parametrize(
    "wav,rate,message",
    [
        (np.zeros(100, np.float32), 8000, "sample rate 8000 Hz"),
        (np.zeros((100, 2), np.float32), None, "not mono"),
        (np.zeros(0, np.float32), None, "empty audio"),
        (np.array([0.0, np.nan], np.float32), None, "NaN"),
    ],
)
def test_bad_audio_is_named(wav, rate, message):
    with pytest.raises(DataFormatError, match=f"k1: .*{message}"):
        check_waveform(wav, "k1", "wav.scp", sample_rate=rate)


def test_check_waveform_accepts_mono_column_and_ints():
    out = check_waveform(np.full((4, 1), 16384, np.int16), "k")
    assert out.shape == (4,) and out.dtype == np.float32
    assert out[0] == pytest.approx(0.5, abs=1e-3)


class _Tok:
    def encode(self, text):
        return [ord(c) for c in text]


def test_preprocessor_tokenizes_unescaped_targets_and_checks_rate(tmp_path):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    soundfile.write(str(good), np.zeros(1600, np.float32), 16000)
    soundfile.write(str(bad), np.zeros(800, np.float32), 8000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"g {good}\nb {bad}\n")
    pre = TagSpeechPreprocessor(True, _Tok(), 16000, [str(scp)])
    out = pre("g", {"speech": np.zeros(1600, np.float32), "text": "<text>\\n</text>"})
    assert out["text"].tolist() == [ord(c) for c in "<text>\n</text>"]
    assert out["text"].dtype == np.int64
    assert out["ctc_text"].tolist() == []  # no text lines in this target
    full = '<text>\\n0.00-1.00>HI THERE\\n0.50-2.00>YO\\n</text>\\n<speaker>\\n'
    full += '<spk id="1" g="u" t="0.00-1.00"/>\\n<spk id="2" g="u" t="0.50-2.00"/>\\n</speaker>'
    out = pre("g", {"speech": np.zeros(1600, np.float32), "text": full})
    assert "".join(map(chr, out["ctc_text"])) == "HI THERE\nYO"
    with pytest.raises(DataFormatError, match=r"wav\.scp: b: sample rate 8000"):
        pre("b", {"speech": np.zeros(800, np.float32), "text": "x"})
    with pytest.raises(DataFormatError, match="g: empty target"):
        pre("g", {"speech": np.zeros(1600, np.float32), "text": "  "})
