"""Bad input at the model-side command lines (per-cut decoding, the packed model,
pre-training), run as a user runs them: named before any model is built or loaded.

As in ``test_bad_input_catalogue.py``: each case builds a small input in the test's dir
and returns the :class:`Call`; :func:`catalogue.run_case` checks the exit status, the
message, that there is no traceback, and that a failed run left the dir as it was."""

from pathlib import Path
from typing import Callable, Dict

import pytest
from catalogue import Call, nan_wav, registrar, run_case, write, write_wav
from test_bad_input_catalogue_decode import _corrupted

CASES: Dict[str, Callable[[Path], Call]] = {}


case = registrar(CASES)


def _model(d: Path) -> list:
    """A model that must never be loaded: the case fails before."""
    write(d / "exp" / "config.yaml", "llm: hf_causal_lm\n")
    write(d / "exp" / "model.pth", b"weights")
    return ["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth"]


# ----------------------------------------------------------------------------- tagspeech_inference


@case("tagspeech_inference/model_zip_corrupted")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "a a.wav\n")
    _corrupted(d / "packed.zip")
    return Call("tagspeech_inference", ["--model_tag", "packed.zip", "--data_path_and_name_and_type",
                                        "wav.scp,speech,sound", "--output_dir", "out"], 1,
                "packed.zip: corrupted zip: member 'exp/model.pth' fails its CRC check")


@case("tagspeech_inference/model_zip_truncated")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "a a.wav\n")
    data = _corrupted(d / "packed.zip").read_bytes()
    write(d / "packed.zip", data[: len(data) // 2])
    return Call("tagspeech_inference", ["--model_tag", "packed.zip", "--data_path_and_name_and_type",
                                        "wav.scp,speech,sound", "--output_dir", "out"], 1,
                "packed.zip: not a readable zip")


@case("tagspeech_inference/key_not_in_wav_scp")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "a a.wav\n")
    write(d / "keys", "zz\n")
    return Call("tagspeech_inference", [*_model(d), "--data_path_and_name_and_type", "wav.scp,speech,sound",
                                        "--key_file", "keys", "--output_dir", "out"], 1,
                "keys: keys not in wav.scp: ['zz']")


@case("tagspeech_inference/wav_nan")
def _(d):
    write_wav(d / "a.wav")
    nan_wav(d / "b.wav")
    write(d / "wav.scp", "a a.wav\nb b.wav\n")
    return Call("tagspeech_inference", [*_model(d), "--data_path_and_name_and_type", "wav.scp,speech,sound",
                                        "--output_dir", "out"], 1,
                "input 'b' (b.wav): audio holds NaN or infinite samples")


@case("tagspeech_inference/segment_beyond_audio")
def _(d):
    write_wav(d / "a.wav", 1.0)
    write(d / "wav.scp", "r1 a.wav\n")
    write(d / "segments", "c1 r1 5.00 6.00\n")
    return Call("tagspeech_inference", [*_model(d), "--data_path_and_name_and_type", "wav.scp,speech,sound",
                                        "--output_dir", "out"], 1, "c1")


@case("tagspeech_inference/decode_config_key_misspelled")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "a a.wav\n")
    write(d / "decode.yaml", "max_new_token: 12\n")
    return Call("tagspeech_inference", [*_model(d), "--config", "decode.yaml", "--data_path_and_name_and_type",
                                        "wav.scp,speech,sound", "--output_dir", "out"], 2,
                ["decode.yaml", "max_new_token"])


# ----------------------------------------------------------------------------- tagspeech_meeting_inference


@case("tagspeech_meeting_inference/decode_config_key_misspelled")
def _(d):
    write_wav(d / "a.wav", 2.0)
    write(d / "decode.yaml", "max_new_token: 12\n")
    return Call("tagspeech_meeting_inference", [*_model(d), "--inference_config", "decode.yaml",
                                                "--out_dir", "out", "a.wav"], 1, ["decode.yaml", "max_new_token"])


@case("tagspeech_meeting_inference/link_config_value_bad")
def _(d):
    write_wav(d / "a.wav", 2.0)
    write(d / "link.yaml", "link_unit: voice\n")
    return Call("tagspeech_meeting_inference", [*_model(d), "--link_config", "link.yaml",
                                                "--out_dir", "out", "a.wav"], 1, ["link.yaml", "link_unit"])


# ----------------------------------------------------------------------------- pretrain


def _pretrain(d: Path, conf: str, data: str = "data") -> list:
    write(d / "pre.yaml", conf)
    write(d / "exp" / "config.yaml", "llm: hf_causal_lm\n")
    if data == "data":
        write_wav(d / "data" / "c1.wav")
        write(d / "data" / "wav.scp", "c1 data/c1.wav\n")
        write(d / "data" / "text", "c1 <text>\\n0.00-1.00>HI\\n</text>\\n<speaker>\\n</speaker>\n")
    return ["--config", "pre.yaml", "--model_config", "exp/config.yaml", "--train_dir", data,
            "--valid_dir", data, "--output_dir", "pre"]


@case("pretrain/config_key_misspelled")
def _(d):
    return Call("pretrain", _pretrain(d, "semantic: {step: 10}\n"), 1,
                "pre.yaml: semantic: unknown keys ['step']")


@case("pretrain/config_top_key_misspelled")
def _(d):
    return Call("pretrain", _pretrain(d, "semantic: {steps: 10}\nbatch_secs: 40\n"), 1,
                "pre.yaml: unknown keys ['batch_secs']")


@case("pretrain/train_dir_missing")
def _(d):
    return Call("pretrain", _pretrain(d, "semantic: {steps: 1}\n", data="nowhere"), 1,
                "nowhere/wav.scp: no such file")


@case("pretrain/speaker_part_without_rttm")
def _(d):
    return Call("pretrain", _pretrain(d, "speaker: {steps: 1}\n"), 1, "speaker pre-training needs --train_rttm")


@case("pretrain/output_dir_read_only")
def _(d):
    argv = _pretrain(d, "semantic: {steps: 1}\n")
    (d / "pre").mkdir()
    return Call("pretrain", argv, 1, "pre: output dir is not writable", readonly=[d / "pre"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_named_and_leaves_nothing(name, tmp_path):
    run_case(CASES[name](tmp_path), tmp_path)
