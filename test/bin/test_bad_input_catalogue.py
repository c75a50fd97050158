"""Bad input at the data-side command lines (data preparation, data dirs, audio, cuts, VAD
windows, tokenizer and n-gram training), run as a user runs them.

Each case builds a small input in the test's dir and returns the :class:`Call` to make;
:func:`catalogue.run_case` checks the exit status, the message (file and line, or the key),
that there is no traceback, and that a failed run left the dir exactly as it was.
(Decoding, scoring, packing and training: ``test_bad_input_catalogue_decode.py``.)"""

from pathlib import Path
from typing import Callable, Dict

import pytest
from catalogue import Call, data_dir, empty_wav, nan_wav, registrar, run_case, truncated_wav, write, write_wav

CASES: Dict[str, Callable[[Path], Call]] = {}

TARGET = (r"<text>\n0.00-1.00>HELLO THERE\n</text>\n<speaker>\n"
          r'<spk id="1" g="f" t="0.00-1.00"/>\n</speaker>')  # fmt: skip


case = registrar(CASES)


# ----------------------------------------------------------------------------- prepare_ami

WORDS = """<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>
<nite:root nite:id="ES2002a.A.words" xmlns:nite="http://nite.sourceforge.net/">
   <w nite:id="ES2002a.A.words0" starttime="0.50" endtime="0.80">Okay</w>
   <w nite:id="ES2002a.A.words1" starttime="0.90" endtime="1.20">so</w>
</nite:root>
"""


def _ami(d: Path, words: str = WORDS, audio: Callable[[Path], Path] = write_wav) -> list:
    """A one-meeting AMI corpus (train set only) and the prepare_ami options for it."""
    audio(d / "AMI" / "amicorpus" / "ES2002a" / "audio" / "ES2002a.Array1-01.wav")
    write(d / "AMI" / "words" / "ES2002a.A.words.xml", words.encode("iso-8859-1"))
    write(d / "split" / "train.list", "ES2002a\n")
    return ["--corpus_dir", "AMI", "--split_dir", "split", "--sets", "train", "--out_dir", "data"]


@case("prepare_ami/no_corpus_dir")
def _(d):
    write(d / "split" / "train.list", "ES2002a\n")
    return Call("prepare_ami", ["--corpus_dir", "nowhere", "--split_dir", "split", "--out_dir", "data"], 1,
                "--corpus_dir nowhere is not a directory")


@case("prepare_ami/meeting_list_bad_id")
def _(d):
    argv = _ami(d)
    write(d / "split" / "train.list", "ES2002a\nnot-a-meeting\n")
    return Call("prepare_ami", argv, 1, "train.list:2: not an AMI meeting id: 'not-a-meeting'")


@case("prepare_ami/words_xml_truncated")
def _(d):
    argv = _ami(d, WORDS[: WORDS.index("so</w>")])
    return Call("prepare_ami", argv, 1, "ES2002a.A.words.xml:4:")


@case("prepare_ami/audio_header_truncated")
def _(d):
    return Call("prepare_ami", _ami(d, audio=truncated_wav), 1,
                ["ES2002a.Array1-01.wav: cannot read audio header"])


@case("prepare_ami/meeting_without_audio")
def _(d):
    argv = _ami(d)
    (d / "AMI" / "amicorpus" / "ES2002a" / "audio" / "ES2002a.Array1-01.wav").unlink()
    return Call("prepare_ami", argv, 1, ["1 meetings cannot be prepared", "ES2002a: no audio"])


@case("prepare_ami/out_dir_read_only")
def _(d):
    argv = _ami(d)
    (d / "data").mkdir()
    return Call("prepare_ami", argv, 1, "data: output dir is not writable", readonly=[d / "data"])


# ----------------------------------------------------------------------------- prepare_alimeeting

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "R0001_M0001_F_SPK0001"
        xmin = 0
        xmax = 2
        intervals: size = 1
        intervals [1]:
            xmin = 0.5
            xmax = 1.5
            text = "你好"
"""


def _ali(d: Path, textgrid: str = TEXTGRID, audio: bool = True) -> list:
    part = d / "Ali" / "Train_Ali_far"
    write(part / "textgrid_dir" / "R0001_M0001.TextGrid", textgrid)
    if audio:
        write_wav(part / "audio_dir" / "R0001_M0001_MS001.wav", 2.0, channels=2)
    else:
        (part / "audio_dir").mkdir(parents=True)
    return ["--corpus_dir", "Ali", "--sets", "train", "--out_dir", "data"]


@case("prepare_alimeeting/part_missing")
def _(d):
    _ali(d)
    return Call("prepare_alimeeting", ["--corpus_dir", "Ali", "--sets", "eval", "--out_dir", "data"], 1,
                "no Eval_Ali_far/textgrid_dir under Ali")


@case("prepare_alimeeting/textgrid_truncated")
def _(d):
    return Call("prepare_alimeeting", _ali(d, TEXTGRID[: TEXTGRID.index("        intervals [1]:")]), 1,
                "R0001_M0001.TextGrid:")


@case("prepare_alimeeting/session_without_audio")
def _(d):
    return Call("prepare_alimeeting", _ali(d, audio=False), 1, "no R0001_M0001*.wav for session R0001_M0001")


# ----------------------------------------------------------------------------- simulate_meetings

SIM = ["--num_meetings", "1", "--min_duration", "5", "--max_duration", "6", "--nj", "1"]


@case("simulate_meetings/speakers_min_above_max")
def _(d):
    return Call("simulate_meetings", ["--out_dir", "data", *SIM, "--min_speakers", "3", "--max_speakers", "2"], 2,
                "min_speakers")


@case("simulate_meetings/out_dir_read_only")
def _(d):
    (d / "data").mkdir()
    return Call("simulate_meetings", ["--out_dir", "data", *SIM], 1, "data: output dir is not writable",
                readonly=[d / "data"])


# ----------------------------------------------------------------------------- validate_data_dir / fix_data_dir


@case("validate_data_dir/duplicate_key")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")})
    write(d / "d" / "utt2spk", "r1 r1\nr1 r1\n")
    return Call("validate_data_dir", ["d"], 1, "d/utt2spk:2: duplicate key 'r1' (first on line 1)")


@case("validate_data_dir/unsorted_keys")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav"), "r2": write_wav(d / "b.wav")})
    write(d / "d" / "text", "r2 HELLO\nr1 THERE\n")
    return Call("validate_data_dir", ["d"], 1, "d/text:2: not sorted: 'r1' after 'r2'")


@case("validate_data_dir/crlf_text")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")})
    write(d / "d" / "text", "r1 HELLO THERE\r\n")
    return Call("validate_data_dir", ["d"], 1, "d/text:1: line ends with a carriage return")


@case("validate_data_dir/text_not_utf8")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")})
    write(d / "d" / "text", b"r1 HELLO \xff\n")
    return Call("validate_data_dir", ["d"], 1, "d/text:1: not valid UTF-8")


@case("validate_data_dir/wav_other_rate")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav", rate=8000)})
    return Call("validate_data_dir", ["d", "--check-audio"], 1,
                "d/wav.scp:1: 'r1': sample rate 8000 Hz, expected 16000")


@case("validate_data_dir/wav_stereo")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav", channels=2)})
    return Call("validate_data_dir", ["d", "--check-audio"], 1, "d/wav.scp:1: 'r1': 2 channels, expected mono")


@case("validate_data_dir/wav_nan")
def _(d):
    data_dir(d / "d", {"r1": nan_wav(d / "a.wav")})
    return Call("validate_data_dir", ["d", "--check-audio"], 1, "d/wav.scp:1: 'r1': audio holds NaN")


@case("validate_data_dir/rttm_short_lines_warn")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")})
    write(d / "d" / "rttm", "SPEAKER r1 1 0.10 0.50 <NA> <NA> A\n")
    return Call("validate_data_dir", ["d"], 0, "d/rttm:1: warning: RTTM lines have 10 fields, got 8")


@case("validate_data_dir/rttm_unknown_recording")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")})
    write(d / "d" / "rttm", "SPEAKER r9 1 0.10 0.50 <NA> <NA> A <NA> <NA>\n")
    return Call("validate_data_dir", ["d"], 1, "d/rttm:1: recording 'r9' is not in wav.scp/reco2dur")


@case("fix_data_dir/would_empty_the_dir")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")}, ["u1 r1 0.0 0.5"])
    write(d / "d" / "text", b"u1 HELLO \xff\n")
    return Call("fix_data_dir", ["d"], 1, ["d: no utterance is in every file", "left as it was",
                                           "not valid UTF-8"])


@case("fix_data_dir/bad_line_dropped")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")}, ["u1 r1 0.0 0.5", "u2 r1 0.5 0.9"])
    write(d / "d" / "text", b"u1 HELLO \xff\nu2 THERE\n")
    return Call("fix_data_dir", ["d", "--no-backup"], 0, ["text: kept 1, removed 1\n  - line 1: not valid UTF-8",
                                                         "d: removed 3 lines"],
                made=[d / "d" / "utt2spk"])


@case("fix_data_dir/dir_read_only")
def _(d):
    data_dir(d / "d", {"r1": write_wav(d / "a.wav")}, ["u1 r1 0.0 0.5", "u2 r1 0.5 0.9"])
    return Call("fix_data_dir", ["d"], 1, "d: output dir is not writable", readonly=[d / "d"])


# ----------------------------------------------------------------------------- format_wav_scp


@case("format_wav_scp/wav_nan")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav"), "b": nan_wav(d / "b.wav")})
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                ["d/wav.scp:2: key 'b': audio holds NaN", "1 of 2 entries of d are bad; nothing written"])


@case("format_wav_scp/wav_zero_length")
def _(d):
    data_dir(d / "d", {"a": empty_wav(d / "a.wav")})
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                "d/wav.scp:1: key 'a': empty audio")


@case("format_wav_scp/wav_header_truncated")
def _(d):
    data_dir(d / "d", {"a": truncated_wav(d / "a.wav")})
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                "d/wav.scp:1: wav.scp key 'a': cannot read")


@case("format_wav_scp/pipe_command_fails")
def _(d):
    data_dir(d / "d", {"a": "cat gone.wav |"})
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                ["d/wav.scp:1: wav.scp key 'a': command failed with exit code 1: cat gone.wav", "No such file"])


@case("format_wav_scp/segments_unknown_recording")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav")}, ["u1 a 0.0 0.5", "u2 b 0.0 0.5"])
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                "d/segments:2: utterance u2 names recording b, not in wav.scp")


@case("format_wav_scp/stereo_kept_channel_warns")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav", channels=2), "b": write_wav(d / "b.wav")})
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1", "--recordings"], 0,
                "1 of 2 entries have several channels: channel 0 kept (first: d/wav.scp:1: key 'a', 2 channels)",
                made=[d / "out" / "wav.scp", d / "out" / "reco2dur", d / "out" / "data" / "a.wav"])


@case("format_wav_scp/out_dir_read_only")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav")})
    (d / "out").mkdir()
    return Call("format_wav_scp", ["--in_dir", "d", "--out_dir", "out", "--nj", "1"], 1,
                "out: output dir is not writable", readonly=[d / "out"])


# ----------------------------------------------------------------------------- make_cuts


def _turns(d: Path) -> Path:
    data_dir(d / "d", {"r1": write_wav(d / "a.wav", 2.0)}, ["u1 r1 0.10 0.90", "u2 r1 0.50 1.50"])
    write(d / "d" / "utt2spk", "u1 A\nu2 B\n")
    return d / "d"


@case("make_cuts/segments_missing")
def _(d):
    (_turns(d) / "segments").unlink()
    return Call("make_cuts", ["--in_dir", "d", "--out_dir", "cuts"], 2,
                "d/segments: no such file (needed to make cuts)")


@case("make_cuts/reserved_character")
def _(d):
    write(_turns(d) / "text", "u1 HEL<LO\nu2 THERE\n")
    return Call("make_cuts", ["--in_dir", "d", "--out_dir", "cuts"], 2,
                "d/text: utterance 'u1': reserved character in 'HEL<LO'")


@case("make_cuts/unknown_gender")
def _(d):
    write(_turns(d) / "spk2gender", "A x\nB f\n")
    return Call("make_cuts", ["--in_dir", "d", "--out_dir", "cuts"], 2, "d/spk2gender: speaker 'A': gender 'x'")


@case("make_cuts/segment_ends_before_start")
def _(d):
    write(_turns(d) / "segments", "u1 r1 0.90 0.10\nu2 r1 0.50 1.50\n")
    return Call("make_cuts", ["--in_dir", "d", "--out_dir", "cuts"], 2, "d/segments:1: segment end 0.10 is not after")


@case("make_cuts/out_dir_read_only")
def _(d):
    _turns(d)
    (d / "cuts").mkdir()
    return Call("make_cuts", ["--in_dir", "d", "--out_dir", "cuts"], 2, "cuts: output dir is not writable",
                readonly=[d / "cuts"])


# ----------------------------------------------------------------------------- segment_recordings

SEG = ["--in_dir", "d", "--out_dir", "win", "--segmenter", "energy", "--max_window", "2"]


@case("segment_recordings/wav_nan")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav", 2.0), "b": nan_wav(d / "b.wav")})
    return Call("segment_recordings", SEG, 1, ["d/wav.scp:2: wav.scp key 'b'", "NaN", "nothing written"])


@case("segment_recordings/wav_zero_length")
def _(d):
    data_dir(d / "d", {"a": empty_wav(d / "a.wav")})
    return Call("segment_recordings", SEG, 1, ["d/wav.scp:1: wav.scp key 'a'", "empty audio"])


@case("segment_recordings/wav_header_truncated")
def _(d):
    data_dir(d / "d", {"a": truncated_wav(d / "a.wav")})
    return Call("segment_recordings", SEG, 1, "d/wav.scp:1: wav.scp key 'a': cannot read")


@case("segment_recordings/pipe_command_fails")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav", 2.0), "b": "bash -c 'exit 3' |"})
    return Call("segment_recordings", SEG, 1, "d/wav.scp:2: wav.scp key 'b': command failed with exit code 3")


@case("segment_recordings/no_speech_anywhere")
def _(d):
    import numpy as np
    import soundfile as sf

    sf.write(str(d / "a.wav"), np.zeros(32000, np.float32), 16000)
    data_dir(d / "d", {"a": d / "a.wav"})
    return Call("segment_recordings", SEG, 1, "d/wav.scp: no speech found in any of 1 recordings; nothing written")


@case("segment_recordings/out_dir_read_only")
def _(d):
    data_dir(d / "d", {"a": write_wav(d / "a.wav", 2.0)})
    (d / "win").mkdir()
    return Call("segment_recordings", SEG, 1, "win: output dir is not writable", readonly=[d / "win"])


# ----------------------------------------------------------------------------- train_tokenizer

TOK = ["--text", "text", "--out_dir", "tok", "--vocab_size", "150"]


@case("train_tokenizer/text_missing")
def _(d):
    return Call("train_tokenizer", TOK, 1, "text: no such text file")


@case("train_tokenizer/text_empty")
def _(d):
    write(d / "text", "")
    return Call("train_tokenizer", TOK, 1, "text: no targets")


@case("train_tokenizer/key_without_target")
def _(d):
    write(d / "text", f"c1 {TARGET}\nc2\n")
    return Call("train_tokenizer", TOK, 1, "text:2: key 'c2' has no target")


@case("train_tokenizer/text_not_utf8")
def _(d):
    write(d / "text", f"c1 {TARGET}\n".encode() + b"c2 \xfe\xff\n")
    return Call("train_tokenizer", TOK, 1, "text:2: not valid UTF-8")


@case("train_tokenizer/text_crlf")
def _(d):
    write(d / "text", f"c1 {TARGET}\r\n")
    return Call("train_tokenizer", TOK, 1, "text:1: line ends with a carriage return")


@case("train_tokenizer/out_dir_read_only")
def _(d):
    write(d / "text", f"c1 {TARGET}\n")
    (d / "tok").mkdir()
    return Call("train_tokenizer", TOK, 1, "tok: output dir is not writable", readonly=[d / "tok"])


# ----------------------------------------------------------------------------- train_ngram


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    from espnet_tagspeech.model.tokenizer import train_sentencepiece

    return Path(train_sentencepiece([TARGET.replace(r"\n", "\n")], str(tmp_path_factory.mktemp("tok")), 150))


def _ngram(d: Path, tokenizer: Path, text: str) -> list:
    write(d / "text", text)
    (d / "tok.model").write_bytes(tokenizer.read_bytes())
    return ["--text", "text", "--tokenizer", "tok.model", "--order", "3", "--out", "lm/ngram.json"]


@case("train_ngram/text_missing")
def _(d, tokenizer):
    argv = _ngram(d, tokenizer, "")
    (d / "text").unlink()
    return Call("train_ngram", argv, 1, "text: no such text file")


@case("train_ngram/tokenizer_missing")
def _(d, tokenizer):
    argv = _ngram(d, tokenizer, f"c1 {TARGET}\n")
    (d / "tok.model").unlink()
    return Call("train_ngram", argv, 1, "tok.model: no such tokenizer (run train_tokenizer first)")


@case("train_ngram/tokenizer_not_a_model")
def _(d, tokenizer):
    argv = _ngram(d, tokenizer, f"c1 {TARGET}\n")
    write(d / "tok.model", "not a sentencepiece model\n")
    return Call("train_ngram", argv, 1, "tok.model: cannot load the tokenizer")


@case("train_ngram/target_does_not_parse")
def _(d, tokenizer):
    argv = _ngram(d, tokenizer, f"c1 {TARGET}\nc2 <text>\\nno times here\\n</text>\n")
    return Call("train_ngram", argv, 1, "text:2: key 'c2'")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_named_and_leaves_nothing(name, tmp_path, request):
    build = CASES[name]
    extra = [request.getfixturevalue("tokenizer")] if build.__code__.co_argcount > 1 else []
    run_case(build(tmp_path, *extra), tmp_path)
