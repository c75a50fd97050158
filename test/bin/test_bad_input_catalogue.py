"""Bad input at the command lines a user meets: a non-zero exit and a message naming the file
(and line or entry), or a warning where the data stays usable; never a traceback.

Each case: (tool, files to write {name: bytes}, argv with {d} for the case dir, expected exit,
text the log must contain)."""

import importlib
import logging

import pytest

OK_RTTM = b"SPEAKER r1 1 0.00 1.00 <NA> <NA> A <NA> <NA>\n"
OK_SEGLST = b'[{"session_id": "r1", "speaker": "A", "start_time": 0, "end_time": 1, "words": "a b"}]'

CASES = {
    "rttm_missing": ("score_diarization", {"s.rttm": OK_RTTM},
                     ["-r", "{d}/none.rttm", "-s", "{d}/s.rttm"], 1, "none.rttm: no such file"),
    "rttm_no_speaker": ("score_diarization", {"r.rttm": b"SPEAKER r1 1 0.00 1.00 <NA> <NA>\n", "s.rttm": OK_RTTM},
                        ["-r", "{d}/r.rttm", "-s", "{d}/s.rttm"], 1, "r.rttm:1: RTTM line needs"),
    "rttm_negative_duration": ("score_diarization",
                               {"r.rttm": OK_RTTM + b"SPEAKER r1 1 2.00 -1.00 <NA> <NA> A <NA> <NA>\n",
                                "s.rttm": OK_RTTM},
                               ["-r", "{d}/r.rttm", "-s", "{d}/s.rttm"], 1, "r.rttm:2: negative duration"),
    "rttm_not_utf8": ("score_diarization", {"r.rttm": b"SPEAKER r1 1 0.00 1.00 <NA> <NA> \xff <NA> <NA>\n",
                                            "s.rttm": OK_RTTM},
                      ["-r", "{d}/r.rttm", "-s", "{d}/s.rttm"], 1, "r.rttm:1: not UTF-8"),
    "rttm_unknown_recording": ("score_diarization",
                               {"r.rttm": OK_RTTM, "s.rttm": OK_RTTM + OK_RTTM.replace(b"r1", b"r9")},
                               ["-r", "{d}/r.rttm", "-s", "{d}/s.rttm"], 0, "no reference has, not scored: r9"),
    "uem_short_line": ("score_diarization", {"r.rttm": OK_RTTM, "u.uem": b"r1 1 0.0\n"},
                       ["-r", "{d}/r.rttm", "-s", "{d}/r.rttm", "-u", "{d}/u.uem"], 1, "u.uem:1: UEM line needs"),
    "seglst_without_words": ("score_words",
                             {"r.json": b'[{"session_id": "r1", "speaker": "A", "start_time": 0, "end_time": 1}]',
                              "h.json": OK_SEGLST},
                             ["-r", "{d}/r.json", "-h", "{d}/h.json"], 1, "r.json (entry 0): missing keys ['words']"),
    "seglst_truncated": ("score_words", {"r.json": OK_SEGLST, "h.json": b'[{"session_id": "r1",\n'},
                         ["-r", "{d}/r.json", "-h", "{d}/h.json"], 1, "h.json:2: not valid JSON"),
    "seglst_missing": ("score_words", {"h.json": OK_SEGLST},
                       ["-r", "{d}/none.json", "-h", "{d}/h.json"], 1, "none.json: no such file"),
    "tokenizer_text_missing": ("train_tokenizer", {}, ["--text", "{d}/none", "--out_dir", "{d}/tok"], 1,
                               "none: no such text file"),
    "tokenizer_text_empty": ("train_tokenizer", {"text": b""}, ["--text", "{d}/text", "--out_dir", "{d}/tok"], 1,
                             "text: no targets"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named(case, tmp_path, caplog):
    tool, files, argv, want_rc, want_msg = CASES[case]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    main = importlib.import_module(f"espnet_tagspeech.bin.{tool}").main
    caplog.set_level(logging.INFO)
    rc = main([a.format(d=tmp_path) for a in argv])
    assert (rc or 0) == want_rc
    assert want_msg in caplog.text
    if tool == "train_tokenizer":
        assert not (tmp_path / "tok").exists()  # nothing half-written
