"""Tests of espnet_tagspeech.corpora.datadir: turns and recordings to a Kaldi data dir."""

from pathlib import Path

import pytest

from espnet_tagspeech.corpora.datadir import Recording, utterance_id, write_corpus_dir
from espnet_tagspeech.data.formats import read_ctm, read_rttm
from espnet_tagspeech.data.kaldi import KaldiDataDir, read_scp
from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.data.validate import validate_data_dir


def _timed(reco, spk, words, gender="u"):
    return Turn(reco, spk, words[0][1], words[-1][2], tuple(Word(*w) for w in words), gender)


def test_utterance_ids_group_speakers():
    t = Turn("rec1", "spkA", 1.234, 5.678)
    assert utterance_id(t) == "spkA-rec1-0000123-0000568"


def test_clip_drop_and_files(tmp_path: Path):
    wav = tmp_path / "a.wav"
    recos = [Recording("rec1", str(wav), 4.0)]
    turns = [
        _timed("rec1", "B", [("HI", 0.5, 1.0)], "m"),
        _timed("rec1", "A", [("YES", 0.8, 1.2), ("NO", 3.5, 4.4), ("LATE", 4.2, 4.6)], "f"),
        Turn("rec1", "A", 4.1, 4.5, (), "f"),  # wholly past the end: dropped
        Turn("rec1", "B", 2.0, 2.004, (Word("X"),), "m"),  # shorter than 10 ms: dropped
    ]
    stats = write_corpus_dir(tmp_path / "d", recos, turns)
    assert (stats.utterances, stats.clipped, stats.dropped, stats.speakers) == (2, 1, 2, 2)
    kd = KaldiDataDir(tmp_path / "d")
    assert dict(kd.text) == {"A-rec1-0000080-0000400": "YES NO", "B-rec1-0000050-0000100": "HI"}
    assert kd.segments["A-rec1-0000080-0000400"].end == 4.0
    assert [(t.speaker, t.end) for t in read_rttm(tmp_path / "d" / "rttm")] == [("B", 1.0), ("A", 4.0)]
    ctm = read_ctm(tmp_path / "d" / "words.ctm")
    assert [(c, w.text, round(w.end, 3)) for _, c, w in ctm] == [("B", "HI", 1.0), ("A", "YES", 1.2), ("A", "NO", 4.0)]
    assert read_scp(tmp_path / "d" / "utt2gender") == {"A-rec1-0000080-0000400": "f", "B-rec1-0000050-0000100": "m"}
    report = validate_data_dir(tmp_path / "d", audio="none")
    assert report.ok, [str(p) for p in report.problems]


def test_untimed_words_write_no_ctm_and_unknown_gender_no_gender_files(tmp_path: Path):
    recos = [Recording("r", "x.wav", 10.0)]
    d = tmp_path / "d"
    (d).mkdir()
    (d / "words.ctm").write_text("stale\n")
    write_corpus_dir(d, recos, [Turn.from_text("r", "s", 1.0, 2.0, "A B")])
    assert not (d / "words.ctm").exists()
    assert not (d / "spk2gender").exists()


def test_errors(tmp_path: Path):
    recos = [Recording("r", "x.wav", 10.0)]
    with pytest.raises(ValueError, match="recording 'q' has no audio"):
        write_corpus_dir(tmp_path / "d", recos, [Turn("q", "s", 1.0, 2.0)])
    with pytest.raises(ValueError, match="share the utterance id"):
        write_corpus_dir(tmp_path / "d", recos, [Turn("r", "s", 1.0, 2.0), Turn("r", "s", 1.001, 2.0)])
    with pytest.raises(ValueError, match="duplicate recording ids"):
        write_corpus_dir(tmp_path / "d", recos * 2, [])


def test_conflicting_gender_becomes_unknown(tmp_path: Path):
    recos = [Recording("r", "x.wav", 10.0)]
    turns = [Turn("r", "s", 1.0, 2.0, gender="f"), Turn("r", "s", 3.0, 4.0, gender="m"), Turn("r", "t", 1.0, 2.0, gender="m")]
    write_corpus_dir(tmp_path / "d", recos, turns)
    assert read_scp(tmp_path / "d" / "spk2gender") == {"s": "u", "t": "m"}
