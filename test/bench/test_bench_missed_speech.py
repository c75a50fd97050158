"""bench/bench_missed_speech.py: missed speech by overlap, word recall alone / in overlap, the CLI."""

import importlib.util
from pathlib import Path

import pytest

from espnet_tagspeech.data.formats import write_rttm, write_seglst
from espnet_tagspeech.data.turn import Turn, Word

_PATH = Path(__file__).resolve().parents[2] / "bench" / "bench_missed_speech.py"
_spec = importlib.util.spec_from_file_location("bench_missed_speech", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# A talks 0-4 s, B 3-6 s: 1 s of two speakers (2 s of speech), 5 s of one
REF = [Turn("r1", "A", 0.0, 4.0, (Word("hello", 0.5, 1.0), Word("there", 3.2, 3.8))),
       Turn("r1", "B", 3.0, 6.0, (Word("yes", 3.1, 3.6), Word("indeed", 5.0, 5.5)))]


def test_speech_by_overlap_splits_missed_and_false_alarm_speech():
    # the system hears one speaker over all of it, and an extra second at 7-8 s
    hyp = [Turn("r1", "s1", 0.0, 6.0), Turn("r1", "s1", 7.0, 8.0)]
    rows = bench.speech_by_overlap(REF, hyp)
    assert rows[1] == pytest.approx((5.0, 0.0, 0.0))
    assert rows[2] == pytest.approx((2.0, 1.0, 0.0))  # one of the two speakers missed for 1 s
    assert rows[0] == pytest.approx((0.0, 0.0, 1.0))  # the extra second where nobody talks
    # a speaker's own overlapping turns count once
    assert bench.activity([Turn("r", "A", 0.0, 0.02), Turn("r", "A", 0.01, 0.03)], 4).tolist() == [1, 1, 1, 0]


def test_word_recall_alone_and_in_overlap():
    words = [(t.recording, t.speaker, w) for t in REF for w in t.words]
    hyp = [Turn("r1", "s1", 0.4, 3.9, (Word("hello"), Word("there"))),  # A's line: "yes" not in it
           Turn("r1", "s2", 4.8, 5.6, (Word("indeed"),))]
    # "there" (3.5 s) and "yes" (3.35 s) are said while the other talks
    assert bench.word_recall(words, REF, hyp) == {False: (2, 2), True: (1, 2)}
    # a line far from the word does not find it, whatever it holds
    far = [Turn("r1", "s1", 20.0, 21.0, (Word("hello"), Word("there"), Word("yes"), Word("indeed")))]
    assert bench.word_recall(words, REF, far) == {False: (0, 2), True: (0, 2)}


def test_cli_prints_the_table(tmp_path, capsys):
    data, dec = tmp_path / "data", tmp_path / "dec"
    data.mkdir()
    dec.mkdir()
    write_rttm(data / "rttm", REF)
    (data / "words.ctm").write_text("".join(f"r1 {t.speaker} {w.start:.2f} {w.end - w.start:.2f} {w.text}\n"
                                            for t in REF for w in t.words))
    hyp = [Turn("r1", "s1", 0.0, 6.0, (Word("hello"), Word("there"), Word("yes"), Word("indeed")))]
    write_rttm(dec / "rttm", hyp)
    write_seglst(dec / "hyp.seglst.json", hyp)
    assert bench.main(["--decode_dir", str(dec), "--data_dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "| 2 | 28.6 | 14.29 | 0.00 |" in out  # 2 of 7 s of speech overlapped, 1 s of it missed
    assert "words said in overlap: 2 of 2 found (100.0 %)" in out
    assert bench.main(["--decode_dir", str(tmp_path / "nothing"), "--data_dir", str(data)]) == 1
