"""Bad input at the decoding-side command lines (merging decodes, scoring, RESULTS.md,
packing, the model card, whole-meeting decoding, training), run as a user runs them.

As in ``test_bad_input_catalogue.py``: each case builds a small input in the test's dir
and returns the :class:`Call`; :func:`catalogue.run_case` checks the exit status, the
message, that there is no traceback, and that a failed run left the dir as it was."""

import zipfile
from pathlib import Path
from typing import Callable, Dict

import pytest
from catalogue import Call, nan_wav, registrar, run_case, truncated_wav, write, write_wav

CASES: Dict[str, Callable[[Path], Call]] = {}

RTTM = "SPEAKER r1 1 0.00 1.00 <NA> <NA> A <NA> <NA>\n"
SEGLST = '[{"session_id": "r1", "speaker": "A", "start_time": 0, "end_time": 1, "words": "a b"}]'
ANSWER = (r"<text>\n0.00-1.00>HELLO THERE\n</text>\n<speaker>\n"
          r'<spk id="1" g="f" t="0.00-1.00"/>\n</speaker>')  # fmt: skip


case = registrar(CASES)


# ----------------------------------------------------------------------------- score_diarization


@case("score_diarization/rttm_missing")
def _(d):
    write(d / "s.rttm", RTTM)
    return Call("score_diarization", ["-r", "none.rttm", "-s", "s.rttm"], 1, "none.rttm: no such file")


@case("score_diarization/rttm_without_speaker")
def _(d):
    write(d / "r.rttm", "SPEAKER r1 1 0.00 1.00 <NA> <NA>\n")
    write(d / "s.rttm", RTTM)
    return Call("score_diarization", ["-r", "r.rttm", "-s", "s.rttm"], 1,
                "r.rttm:1: RTTM line needs at least 8 fields")


@case("score_diarization/rttm_negative_duration")
def _(d):
    write(d / "r.rttm", RTTM + "SPEAKER r1 1 2.00 -1.00 <NA> <NA> A <NA> <NA>\n")
    write(d / "s.rttm", RTTM)
    return Call("score_diarization", ["-r", "r.rttm", "-s", "s.rttm"], 1, "r.rttm:2: negative duration")


@case("score_diarization/rttm_not_utf8")
def _(d):
    write(d / "r.rttm", b"SPEAKER r1 1 0.00 1.00 <NA> <NA> \xff <NA> <NA>\n")
    write(d / "s.rttm", RTTM)
    return Call("score_diarization", ["-r", "r.rttm", "-s", "s.rttm"], 1, "r.rttm:1: not UTF-8")


@case("score_diarization/system_recording_unknown_warns")
def _(d):
    write(d / "r.rttm", RTTM)
    write(d / "s.rttm", RTTM + RTTM.replace("r1", "r9"))
    return Call("score_diarization", ["-r", "r.rttm", "-s", "s.rttm"], 0,
                "system RTTM s.rttm has recordings that no reference has, not scored: r9")


@case("score_diarization/uem_short_line")
def _(d):
    write(d / "r.rttm", RTTM)
    write(d / "u.uem", "r1 1 0.0\n")
    return Call("score_diarization", ["-r", "r.rttm", "-s", "r.rttm", "-u", "u.uem"], 1,
                "u.uem:1: UEM line needs 4 fields")


@case("score_diarization/list_names_missing_file")
def _(d):
    write(d / "r.rttm", RTTM)
    write(d / "sys.list", "r.rttm\ngone.rttm\n")
    return Call("score_diarization", ["-r", "r.rttm", "-S", "sys.list"], 1,
                "sys.list:2: listed file does not exist: gone.rttm")


@case("score_diarization/json_dir_read_only")
def _(d):
    write(d / "r.rttm", RTTM)
    (d / "out").mkdir()
    return Call("score_diarization", ["-r", "r.rttm", "-s", "r.rttm", "--json", "out/der.json"], 1,
                "out: output dir is not writable", readonly=[d / "out"])


# ----------------------------------------------------------------------------- score_words


@case("score_words/seglst_without_words")
def _(d):
    write(d / "r.json", '[{"session_id": "r1", "speaker": "A", "start_time": 0, "end_time": 1}]')
    write(d / "h.json", SEGLST)
    return Call("score_words", ["-r", "r.json", "-h", "h.json"], 1, "r.json (entry 0): missing keys ['words']")


@case("score_words/seglst_truncated")
def _(d):
    write(d / "r.json", SEGLST)
    write(d / "h.json", '[{"session_id": "r1",\n')
    return Call("score_words", ["-r", "r.json", "-h", "h.json"], 1, "h.json:2: not valid JSON")


@case("score_words/seglst_missing")
def _(d):
    write(d / "h.json", SEGLST)
    return Call("score_words", ["-r", "none.json", "-h", "h.json"], 1, "none.json: no such file")


@case("score_words/stm_short_line")
def _(d):
    write(d / "r.json", SEGLST)
    write(d / "h.stm", "r1 1 A 0.0 1.0 a b\nr1 1 B 2.0\n")
    return Call("score_words", ["-r", "r.json", "-h", "h.stm"], 1, "h.stm:2: STM line needs >= 5 fields, got 4")


# ----------------------------------------------------------------------------- tagspeech_results


def _decoded(d: Path) -> list:
    write(d / "ref" / "rttm", RTTM)
    write(d / "ref" / "ref.seglst.json", SEGLST)
    write(d / "dec" / "rttm", RTTM)
    write(d / "dec" / "hyp.seglst.json", SEGLST)
    return ["--decode_dir", "dec", "--ref_dir", "ref", "--out", "res/RESULTS.md"]


@case("tagspeech_results/hyp_seglst_missing")
def _(d):
    argv = _decoded(d)
    (d / "dec" / "hyp.seglst.json").unlink()
    return Call("tagspeech_results", argv, 1, "dec/hyp.seglst.json: no such file")


@case("tagspeech_results/uem_offset_not_a_number")
def _(d):
    argv = _decoded(d)
    write(d / "ref" / "uem", "r1 1 0.0 x\n")
    return Call("tagspeech_results", argv, 1, "ref/uem:1: offset is not a number: 'x'")


@case("tagspeech_results/parse_warnings_not_a_count")
def _(d):
    argv = _decoded(d)
    write(d / "dec" / "parse_warnings", "c1 many\n")
    return Call("tagspeech_results", argv, 1, "dec/parse_warnings:1: value of 'c1' is not an integer: 'many'")


@case("tagspeech_results/out_dir_read_only")
def _(d):
    argv = _decoded(d)
    (d / "res").mkdir()
    return Call("tagspeech_results", argv, 1, "res: output dir is not writable", readonly=[d / "res"])


# ----------------------------------------------------------------------------- merge_decodes


def _jobs(d: Path) -> list:
    write(d / "logdir" / "output.1" / "text", f"c1 {ANSWER}\n")
    write(d / "logdir" / "output.2" / "text", f"c2 {ANSWER}\n")
    write(d / "cut2reco", "c1 r1 0.000 2.000\nc2 r1 2.000 4.000\n")
    return ["--out_dir", "dec", "--link", "none", "--cut2reco", "cut2reco", "logdir/output.1", "logdir/output.2"]


@case("merge_decodes/job_output_missing")
def _(d):
    argv = _jobs(d)
    (d / "logdir" / "output.2" / "text").unlink()
    return Call("merge_decodes", argv, 1, "logdir/output.2/text: no such file (did that decoding job fail?)")


@case("merge_decodes/key_decoded_twice")
def _(d):
    argv = _jobs(d)
    write(d / "logdir" / "output.2" / "text", f"c1 {ANSWER}\n")
    return Call("merge_decodes", argv, 1, "logdir/output.2/text: key 'c1' decoded by two jobs")


@case("merge_decodes/job_output_not_utf8")
def _(d):
    argv = _jobs(d)
    write(d / "logdir" / "output.2" / "text", b"c2 \xff\n")
    return Call("merge_decodes", argv, 1, "logdir/output.2/text:1: not valid UTF-8")


@case("merge_decodes/cut2reco_short_line")
def _(d):
    argv = _jobs(d)
    write(d / "cut2reco", "c1 r1 0.000 2.000\nc2 r1 2.000\n")
    return Call("merge_decodes", argv, 1, "cut2reco:2: expected 4 fields, got 3")


@case("merge_decodes/cut2reco_times_not_numbers")
def _(d):
    argv = _jobs(d)
    write(d / "cut2reco", "c1 r1 0.000 2.000\nc2 r1 two four\n")
    return Call("merge_decodes", argv, 1, "cut2reco:2: times of 'c2' are not numbers: 'two' 'four'")


@case("merge_decodes/reco2num_spk_not_a_count")
def _(d):
    write(d / "reco2num_spk", "r1 two\n")
    return Call("merge_decodes", [*_jobs(d), "--reco2num_spk", "reco2num_spk"], 1,
                "reco2num_spk:1: value of 'r1' is not an integer: 'two'")


@case("merge_decodes/link_config_missing")
def _(d):
    return Call("merge_decodes", [*_jobs(d), "--config", "link.yaml"], 1, "link.yaml: no such linking config")


@case("merge_decodes/link_config_misspelled_key")
def _(d):
    write(d / "link.yaml", "link_unti: speaker\n")
    return Call("merge_decodes", [*_jobs(d), "--config", "link.yaml"], 1,
                "link.yaml: unknown link setting(s) ['link_unti']")


@case("merge_decodes/out_dir_read_only")
def _(d):
    argv = _jobs(d)
    (d / "dec").mkdir()
    return Call("merge_decodes", argv, 1, "dec: output dir is not writable", readonly=[d / "dec"])


# ----------------------------------------------------------------------------- pack / upload_model


def _packable(d: Path) -> list:
    write(d / "exp" / "config.yaml", "llm: hf_causal_lm\n")
    write(d / "exp" / "model.pth", b"weights")
    return ["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth", "--outpath", "exp/packed.zip"]


@case("pack/model_file_missing")
def _(d):
    argv = _packable(d)
    (d / "exp" / "model.pth").unlink()
    return Call("pack", argv, 1, "no such file: exp/model.pth")


@case("pack/config_not_yaml")
def _(d):
    argv = _packable(d)
    write(d / "conf.yaml", "max_new_tokens: 10\nbeam_size: [1\n")
    return Call("pack", [*argv, "--inference_config", "conf.yaml"], 1, "conf.yaml:3: not valid YAML")


@case("pack/out_dir_read_only")
def _(d):
    return Call("pack", _packable(d), 1, "exp: output dir is not writable", readonly=[d / "exp"])


def _zip(path: Path, members: Dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


PACKED = {"meta.yaml": b"files: {model_file: exp/model.pth}\nyaml_files: {train_config: exp/config.yaml}\n",
          "exp/model.pth": b"0123456789" * 50, "exp/config.yaml": b"llm: hf_causal_lm\n"}  # fmt: skip


def _corrupted(path: Path) -> Path:
    """A packed zip whose stored model bytes were changed after packing (CRC mismatch)."""
    _zip(path, PACKED)
    data = path.read_bytes()
    at = data.index(b"0123456789")
    path.write_bytes(data[:at] + b"X" + data[at + 1 :])
    return path


@case("upload_model/zip_truncated")
def _(d):
    _zip(d / "packed.zip", PACKED)
    (d / "packed.zip").write_bytes((d / "packed.zip").read_bytes()[:200])
    return Call("upload_model", ["--packed", "packed.zip", "--exp_dir", "exp"], 1, "packed.zip: not a readable zip")


@case("upload_model/zip_corrupted")
def _(d):
    _corrupted(d / "packed.zip")
    return Call("upload_model", ["--packed", "packed.zip", "--exp_dir", "exp"], 1,
                "packed.zip: corrupted zip: member 'exp/model.pth' fails its CRC check")


@case("upload_model/zip_without_meta")
def _(d):
    _zip(d / "packed.zip", {"exp/model.pth": b"w"})
    return Call("upload_model", ["--packed", "packed.zip", "--exp_dir", "exp"], 1,
                "packed.zip: no meta.yaml: not a packed model")


@case("upload_model/dry_run_replaces_the_card")
def _(d):
    _zip(d / "packed.zip", {**PACKED, "exp/RESULTS.md": b"| test | 12.3 |\n"})
    write(d / "exp" / "hf_upload" / "stale.txt", "from an older model\n")  # gone: 4 members + card + zip
    return Call("upload_model", ["--packed", "packed.zip", "--exp_dir", "exp"], 0, "no --hf_repo: would push 6 files",
                made=[d / "exp" / "hf_upload" / "README.md", d / "exp" / "hf_upload" / "exp" / "model.pth"])


# ----------------------------------------------------------------------------- tagspeech_meeting_inference


def _meeting(d: Path, *wavs: str) -> list:
    """Options of a meeting decoding that must stop before any model is loaded."""
    write(d / "exp" / "config.yaml", "llm: hf_causal_lm\n")
    write(d / "exp" / "model.pth", b"weights")
    return ["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth", "--out_dir", "out", *wavs]


@case("tagspeech_meeting_inference/wav_nan")
def _(d):
    write_wav(d / "a.wav")
    nan_wav(d / "b.wav")
    return Call("tagspeech_meeting_inference", _meeting(d, "a.wav", "b.wav"), 1,
                "recording 'b' (b.wav): audio holds NaN or infinite samples")


@case("tagspeech_meeting_inference/wav_header_truncated")
def _(d):
    truncated_wav(d / "a.wav")
    return Call("tagspeech_meeting_inference", _meeting(d, "a.wav"), 1, "wav.scp key 'a': cannot read a.wav")


@case("tagspeech_meeting_inference/pipe_command_fails")
def _(d):
    write(d / "wav.scp", "m1 cat gone.wav |\n")
    return Call("tagspeech_meeting_inference", [*_meeting(d), "--wav_scp", "wav.scp"], 1,
                "wav.scp key 'm1': command failed with exit code 1: cat gone.wav")


@case("tagspeech_meeting_inference/wav_scp_crlf")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "m1 a.wav\r\n")
    return Call("tagspeech_meeting_inference", [*_meeting(d), "--wav_scp", "wav.scp"], 1,
                "wav.scp:1: line ends with a carriage return")


@case("tagspeech_meeting_inference/wav_scp_duplicate_key")
def _(d):
    write_wav(d / "a.wav")
    write(d / "wav.scp", "m1 a.wav\nm1 a.wav\n")
    return Call("tagspeech_meeting_inference", [*_meeting(d), "--wav_scp", "wav.scp"], 1,
                "wav.scp:2: duplicate key 'm1' (first on line 1)")


@case("tagspeech_meeting_inference/model_file_missing")
def _(d):
    argv = _meeting(d, str(write_wav(d / "a.wav").name))
    (d / "exp" / "model.pth").unlink()
    return Call("tagspeech_meeting_inference", argv, 1, "exp/model.pth: no such file (given by --model_file)")


@case("tagspeech_meeting_inference/model_zip_corrupted")
def _(d):
    write_wav(d / "a.wav")
    _corrupted(d / "packed.zip")
    return Call("tagspeech_meeting_inference", ["--model_tag", "packed.zip", "--out_dir", "out", "a.wav"], 1,
                "packed.zip: corrupted zip: member 'exp/model.pth' fails its CRC check")


@case("tagspeech_meeting_inference/out_dir_read_only")
def _(d):
    argv = _meeting(d, str(write_wav(d / "a.wav").name))
    (d / "out").mkdir()
    return Call("tagspeech_meeting_inference", argv, 1, "out: output dir is not writable", readonly=[d / "out"])


# ----------------------------------------------------------------------------- tagspeech_train


def _training(d: Path, model_conf: str = "semantic_anchor_interval: 8") -> list:
    """A tiny config and a one-cut data dir; the case breaks one of them."""
    from espnet_tagspeech.model.tiny import TINY_CONFIG

    conf = TINY_CONFIG.read_text().replace("semantic_anchor_interval: 8", model_conf)
    write(d / "train.yaml", conf)
    write(d / "tok.model", b"spm")
    write_wav(d / "data" / "c1.wav")
    write(d / "data" / "wav.scp", "c1 data/c1.wav\n")
    write(d / "data" / "text", f"c1 {ANSWER}\n")
    write(d / "data" / "speech_shape", "c1 16000\n")
    write(d / "data" / "text_shape", "c1 40\n")
    argv = ["--config", "train.yaml", "--llm_conf", "{tokenizer: tok.model}", "--output_dir", "exp"]
    for part in ("train", "valid"):
        argv += [f"--{part}_data_path_and_name_and_type", "data/wav.scp,speech,sound",
                 f"--{part}_data_path_and_name_and_type", "data/text,text,text",
                 f"--{part}_shape_file", "data/speech_shape", f"--{part}_shape_file", "data/text_shape"]
    return argv


@case("tagspeech_train/model_conf_key_misspelled")
def _(d):
    return Call("tagspeech_train", _training(d, "semantic_anchor_intervl: 8"), 1,
                "train.yaml: model_conf: unknown key 'semantic_anchor_intervl' "
                "(did you mean 'semantic_anchor_interval'?)")


@case("tagspeech_train/data_file_missing")
def _(d):
    argv = _training(d)
    (d / "data" / "text").unlink()
    return Call("tagspeech_train", argv, 1,
                "data/text: no such file (given by --train_data_path_and_name_and_type)")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_named_and_leaves_nothing(name, tmp_path):
    run_case(CASES[name](tmp_path), tmp_path)
