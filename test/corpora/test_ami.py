"""Tests of espnet_tagspeech.corpora.ami and bin/prepare_ami on a small AMI in its real layout."""

from pathlib import Path

import pytest
from corpus_fixtures import (
    ES2002A_TURNS,
    ES2002A_WORDS,
    build_but_rttms,
    words_xml,
    write_split,
)

from espnet_tagspeech.bin import prepare_ami
from espnet_tagspeech.corpora.ami import (
    audio_path,
    find_annotations,
    find_rttm,
    gender_of,
    join_words,
    load_meeting_nxt,
    load_meeting_rttm,
    meeting_words,
    read_meeting_list,
    read_meetings,
    read_participants,
    read_words,
)
from espnet_tagspeech.corpora.nxt import parse_href, parse_xml
from espnet_tagspeech.corpora.problems import Problems
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_ctm, read_rttm, read_seglst, read_uem
from espnet_tagspeech.data.kaldi import KaldiDataDir, read_scp
from espnet_tagspeech.data.turn import Word
from espnet_tagspeech.data.validate import validate_data_dir

REPO = Path(__file__).resolve().parents[2]
SPLIT_DIR = REPO / "egs2" / "ami" / "tagspeech1" / "local" / "split_full_corpus_asr"


def _speakers(corpus: Path):
    res = find_annotations(corpus) / "corpusResources"
    return read_meetings(res / "meetings.xml", read_participants(res / "participants.xml"))


def _summary(turns):
    return sorted((t.recording, t.speaker, t.gender, round(t.start, 3), round(t.end, 3), t.text) for t in turns)


# ----------------------------------------------------------------------------- partition lists


def test_full_corpus_asr_lists():
    sets = {name: read_meeting_list(SPLIT_DIR / f"{name}.list") for name in ("train", "dev", "test")}
    assert [len(sets[n]) for n in ("train", "dev", "test")] == [136, 18, 16]
    assert sorted(sets["dev"]) == sorted(
        [f"{s}{x}" for s in ("ES2011", "IS1008", "TS3004") for x in "abcd"]
        + ["IB4001", "IB4002", "IB4003", "IB4004", "IB4010", "IB4011"]
    )
    assert sorted(sets["test"]) == sorted(f"{s}{x}" for s in ("ES2004", "IS1009", "TS3003", "EN2002") for x in "abcd")
    everything = sets["train"] + sets["dev"] + sets["test"]
    assert len(set(everything)) == len(everything)
    for gone in ("IS1002a", "IS1005d", "IB4005"):
        assert gone not in everything
    assert {"ES2002a", "IS1000a", "TS3012d", "EN2001a", "IN1016"} <= set(sets["train"])


def test_meeting_list_errors(tmp_path: Path):
    path = tmp_path / "x.list"
    path.write_text("ES2002a\n# comment\n\nES2002b  # trailing\nES2002a\n")
    with pytest.raises(DataFormatError, match=r"x\.list:5: ES2002a listed twice \(first on line 1\)"):
        read_meeting_list(path)
    path.write_text("ES2002a\nnot-a-meeting\n")
    with pytest.raises(DataFormatError, match=r"x\.list:2: not an AMI meeting id"):
        read_meeting_list(path)
    path.write_text("ES2002a\n# comment\nIB4001  # x\n")
    assert read_meeting_list(path) == ["ES2002a", "IB4001"]


# ----------------------------------------------------------------------------- NXT parsing


def test_href_forms():
    assert parse_href("X.A.words.xml#id(X.A.words0)..id(X.A.words4)") == ("X.A.words.xml", "X.A.words0", "X.A.words4")
    assert parse_href("X.A.words.xml#id(X.A.words7)") == ("X.A.words.xml", "X.A.words7", "X.A.words7")
    with pytest.raises(DataFormatError, match="cannot read NXT reference"):
        parse_href("X.A.words.xml#words0", "seg.xml", 3)


def test_xml_syntax_error_names_the_line():
    with pytest.raises(DataFormatError, match=r"w\.xml:3: malformed XML"):
        parse_xml(b'<?xml version="1.0"?>\n<root>\n<w>a</x>\n</root>\n', "w.xml")


def test_metadata(ami_corpus: Path):
    speakers = _speakers(ami_corpus)
    assert speakers[("ES2002a", "A")].name == "FEE005"
    assert speakers[("ES2002a", "B")].gender == "m"
    assert speakers[("ES2002a", "B")].channel == 1
    assert gender_of("MEO069") == "m" and gender_of("FIE081") == "f" and gender_of("X1") == "u"
    assert gender_of("MEO069", {"MEO069": "f"}) == "f"  # participants.xml wins


def test_read_words_keeps_document_order_and_marks_non_words(ami_corpus: Path):
    words = read_words(find_annotations(ami_corpus) / "words" / "ES2002a.B.words.xml")
    assert [w.id for w in words] == [f"ES2002a.B.words{i}" for i in range(7)]
    assert [w.text for w in words] == ["YEAH", None, None, "UM", None, "RIGHT", "UNTIMED"]
    assert words[0].word == Word("YEAH", 1.0, 1.4)
    assert words[6].word is None  # no times: kept for ranges, not placeable
    assert words[0].line == 3


def test_join_words_boundary_and_overlap():
    w = [Word("A", 0.0, 1.0), Word("B", 0.8, 1.2), Word("C", 1.7, 2.0), Word("D", 2.49, 2.6)]
    turns = join_words(w, "M", "S", "f", max_pause=0.5)
    assert [(t.start, t.end, t.text) for t in turns] == [(0.0, 1.2, "A B"), (1.7, 2.6, "C D")]
    assert all(t.gender == "f" for t in turns)
    assert len(join_words(w, "M", "S", max_pause=10.0)) == 1
    assert len(join_words(w, "M", "S", max_pause=0.01)) == 3  # A and B overlap: always one turn
    assert join_words([], "M", "S") == []


def test_word_level_turns_of_a_meeting(ami_corpus: Path):
    turns = load_meeting_nxt(find_annotations(ami_corpus), "ES2002a", _speakers(ami_corpus))
    assert _summary(turns) == sorted(ES2002A_TURNS)
    first = [t for t in turns if t.text == "OKAY SO"][0]
    assert first.words == (Word("OKAY", 0.5, 0.8), Word("SO", 0.9, 1.2))


def test_segment_turns_use_transcriber_times_and_href_ranges(ami_corpus: Path):
    turns = load_meeting_nxt(find_annotations(ami_corpus), "ES2002a", _speakers(ami_corpus), mode="segments")
    assert _summary(turns) == [
        ("ES2002a", "FEE005", "f", 0.45, 1.25, "OKAY SO"),
        ("ES2002a", "FEE005", "f", 1.65, 2.45, "THAT'S TV"),
        ("ES2002a", "FEE005", "f", 3.45, 3.95, "FINE"),
        ("ES2002a", "MEE006", "m", 0.95, 2.65, "YEAH UM RIGHT"),
    ]


def test_malformed_word_is_reported_with_file_line_and_id(ami_corpus: Path):
    rows = list(ES2002A_WORDS["A"])
    rows[2] = ("w", 2, "abc", "1.20", "so", "")
    path = find_annotations(ami_corpus) / "words" / "ES2002a.A.words.xml"
    path.write_bytes(words_xml("ES2002a", "A", rows))
    with pytest.raises(DataFormatError) as err:
        load_meeting_nxt(find_annotations(ami_corpus), "ES2002a", _speakers(ami_corpus))
    assert err.value.path == str(path)
    assert err.value.line == 5
    assert "element ES2002a.A.words2: starttime is not a number: 'abc'" in str(err.value)
    # Not strict: the word is skipped and the rest kept.
    problems = Problems(strict=False)
    turns = load_meeting_nxt(find_annotations(ami_corpus), "ES2002a", _speakers(ami_corpus), problems=problems)
    assert len(problems) == 1
    assert ("ES2002a", "FEE005", "f", 0.5, 0.8, "OKAY") in _summary(turns)


def test_backwards_word_and_bad_segment_range(ami_corpus: Path):
    annotations = find_annotations(ami_corpus)
    rows = list(ES2002A_WORDS["B"])
    rows[3] = ("w", 3, "1.90", "1.60", "um", "")
    (annotations / "words" / "ES2002a.B.words.xml").write_bytes(words_xml("ES2002a", "B", rows))
    with pytest.raises(DataFormatError, match=r"ES2002a\.B\.words\.xml:6: element ES2002a\.B\.words3: endtime"):
        read_words(annotations / "words" / "ES2002a.B.words.xml")
    seg = annotations / "segments" / "ES2002a.A.segments.xml"
    seg.write_bytes(seg.read_bytes().replace(b"ES2002a.A.words7)..", b"ES2002a.A.words9)..", 1))
    with pytest.raises(DataFormatError, match=r"segments\.xml:\d+: element ES2002a\.sync\.2: word id 'ES2002a\.A\.words9'"):
        load_meeting_nxt(annotations, "ES2002a", _speakers(ami_corpus), mode="segments")


def test_unknown_agent_gets_a_meeting_local_name(ami_corpus: Path):
    turns = load_meeting_nxt(find_annotations(ami_corpus), "ES2002a", {})
    assert {t.speaker for t in turns} == {"ES2002a_A", "ES2002a_B"}
    assert {t.gender for t in turns} == {"u"}


# ----------------------------------------------------------------------------- BUT RTTMs


def test_rttm_turns_with_attached_words(ami_corpus: Path):
    rttms = build_but_rttms(ami_corpus)
    path = find_rttm(rttms, "ES2002a")
    assert path == rttms / "train" / "ES2002a.rttm"
    assert find_rttm(rttms, "ES2099a") is None
    bare = load_meeting_rttm(path, "ES2002a")
    assert len(bare) == 5 and all(not t.words for t in bare)
    assert {t.gender for t in bare if t.speaker == "MEE006"} == {"m"}
    words = meeting_words(find_annotations(ami_corpus), "ES2002a", _speakers(ami_corpus))
    turns = load_meeting_rttm(path, "ES2002a", words=words)
    assert [(t.speaker, t.start, t.text) for t in sorted(turns, key=lambda t: t.start)] == [
        ("FEE005", 0.5, "OKAY SO"),
        ("MEE006", 1.0, "YEAH"),
        ("MEE006", 1.6, "UM RIGHT"),
        ("FEE005", 1.7, "THAT'S TV"),
        ("FEE005", 3.5, "FINE"),
    ]


def test_rttm_of_another_recording_is_an_error(tmp_path: Path):
    path = tmp_path / "ES2002a.rttm"
    path.write_text("SPEAKER ES2002b 1 0.5 0.7 <NA> <NA> FEE005 <NA> <NA>\n")
    with pytest.raises(DataFormatError, match="holds a turn of 'ES2002b'"):
        load_meeting_rttm(path, "ES2002a")
    path.write_text("SPEAKER ES2002a 1 0.5 x <NA> <NA> FEE005 <NA> <NA>\n")
    with pytest.raises(DataFormatError, match=r"ES2002a\.rttm:1: duration is not a number"):
        load_meeting_rttm(path, "ES2002a")


# ----------------------------------------------------------------------------- prepare_ami


def _check_dir(d: Path, expected_turns, words_ctm: bool = True) -> None:
    report = validate_data_dir(d)
    assert report.ok, "\n".join(str(p) for p in report.errors)
    kd = KaldiDataDir(d)
    rttm = sorted((t.recording, t.speaker, round(t.start, 3), round(t.end, 3)) for t in kd.rttm)
    assert rttm == sorted((r, s, a, b) for r, s, _, a, b, _ in expected_turns)
    texts = sorted((kd.segments[u].recording, kd.utt2spk[u], kd.segments[u].start, text) for u, text in kd.text.items())
    assert texts == sorted((r, s, a, x) for r, s, _, a, _, x in expected_turns)
    seglst = read_seglst(d / "ref.seglst.json")
    assert _summary(seglst) == sorted((r, s, "u", a, b, x) for r, s, _, a, b, x in expected_turns)
    genders = read_scp(d / "spk2gender")
    assert dict(genders) == {s: g for _, s, g, _, _, _ in expected_turns}
    assert read_uem(d / "uem") == {r: (0.0, 5.0) for r, *_ in expected_turns}
    assert (d / "words.ctm").exists() == words_ctm


def test_prepare_ami_writes_valid_dirs_matching_the_annotations(ami_corpus: Path, tmp_path: Path):
    split = write_split(tmp_path)
    out = tmp_path / "data"
    assert prepare_ami.main(["--corpus_dir", str(ami_corpus), "--split_dir", str(split), "--out_dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dev_sdm", "test_sdm", "train_sdm"]
    _check_dir(out / "train_sdm", ES2002A_TURNS)
    _check_dir(out / "dev_sdm", [("ES2011a", "FIE081", "f", 0.2, 1.0, "HELLO THERE")])
    # The test meeting's last word runs past the 5 s of audio: clipped.
    _check_dir(out / "test_sdm", [("ES2004a", "MEO069", "m", 4.5, 5.0, "BYE")])
    ctm = read_ctm(out / "train_sdm" / "words.ctm")
    assert [(spk, w.text) for _, spk, w in ctm][:3] == [("FEE005", "OKAY"), ("FEE005", "SO"), ("MEE006", "YEAH")]
    wav = read_scp(out / "train_sdm" / "wav.scp")["ES2002a"]
    assert Path(wav) == audio_path(ami_corpus, "ES2002a", "sdm").resolve()
    assert "UNTIMED" not in (out / "train_sdm" / "text").read_text()


def test_prepare_ami_ihm_mix_and_rttm_annotations(ami_corpus: Path, tmp_path: Path):
    split = write_split(tmp_path)
    rttms = build_but_rttms(ami_corpus)
    out = tmp_path / "data"
    argv = ["--corpus_dir", str(ami_corpus), "--split_dir", str(split), "--out_dir", str(out),
            "--mic", "ihm-mix", "--annotations", "rttm", "--rttm_dir", str(rttms), "--sets", "train"]
    assert prepare_ami.main(argv) == 0
    d = out / "train_ihm-mix"
    assert validate_data_dir(d).ok
    assert read_scp(d / "wav.scp")["ES2002a"].endswith("ES2002a.Mix-Headset.wav")
    assert len(read_rttm(d / "rttm")) == 5
    assert sorted(read_scp(d / "text").values()) == sorted(["OKAY SO", "YEAH", "UM RIGHT", "THAT'S TV", "FINE"])


def test_prepare_ami_reports_malformed_entries_before_writing(ami_corpus: Path, tmp_path: Path, caplog):
    split = write_split(tmp_path)
    words = find_annotations(ami_corpus) / "words" / "ES2011a.A.words.xml"
    words.write_bytes(words.read_bytes().replace(b'starttime="0.70"', b'starttime="-1"'))
    out = tmp_path / "data"
    argv = ["--corpus_dir", str(ami_corpus), "--split_dir", str(split), "--out_dir", str(out)]
    assert prepare_ami.main(argv) == 1
    assert f"{words}:4: element ES2011a.A.words1: bad starttime '-1'" in caplog.text
    assert not out.exists()  # nothing written
    assert prepare_ami.main(argv + ["--skip_bad"]) == 0
    assert read_scp(out / "dev_sdm" / "text") == {"FIE081-ES2011a-0000020-0000060": "HELLO"}


def test_prepare_ami_missing_meetings(ami_corpus: Path, tmp_path: Path):
    split = write_split(tmp_path)
    (split / "train.list").write_text("ES2002a\nES2002b\n")
    argv = ["--corpus_dir", str(ami_corpus), "--split_dir", str(split), "--out_dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit, match="1 meetings cannot be prepared:\n  ES2002b: no audio"):
        prepare_ami.main(argv)
    assert prepare_ami.main(argv + ["--allow_missing"]) == 0
    assert list(read_scp(tmp_path / "data" / "train_sdm" / "wav.scp")) == ["ES2002a"]
    (split / "dev.list").write_text("ES2002a\n")
    assert prepare_ami.main(argv) == 1  # a meeting in two sets
