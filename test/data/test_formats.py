"""Tests of the Turn record and the RTTM/UEM/SegLST/STM/CTM readers and writers."""

import json

import pytest

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import (
    load_turns,
    read_ctm,
    read_rttm,
    read_seglst,
    read_stm,
    read_uem,
    write_ctm,
    write_rttm,
    write_seglst,
    write_stm,
    write_uem,
)
from espnet_tagspeech.data.turn import Turn, Word, merge_intervals


def _turns():
    return [
        Turn("rec2", "bob", 3.0, 4.5, (Word("hi", 3.0, 3.4), Word("there", 3.5, 4.5)), "m"),
        Turn("rec1", "amy", 0.25, 1.0, (Word("okay", 0.25, 1.0),), "f"),
        Turn("rec1", "bob", 0.5, 2.0, (Word("yes", 0.5, 0.9), Word("sure", 1.2, 2.0))),
    ]


def test_turn_validation_and_helpers():
    with pytest.raises(ValueError, match="bad time span"):
        Turn("r", "a", 2.0, 1.0)
    with pytest.raises(ValueError, match="recording"):
        Turn("r x", "a", 0, 1)
    with pytest.raises(ValueError, match="gender"):
        Turn("r", "a", 0, 1, gender="x")
    with pytest.raises(ValueError, match="whitespace"):
        Word("a b")
    with pytest.raises(ValueError, match="both"):
        Word("a", 1.0, None)
    t = _turns()[0].shifted(-3.0, recording="cut")
    assert (t.recording, t.start, t.end, t.words[1].start) == ("cut", 0.0, 1.5, 0.5)
    assert t.text == "hi there" and t.duration == 1.5
    assert merge_intervals([(3, 4), (0, 1), (1, 2), (2.5, 3.2)]) == [(0, 2), (2.5, 4)]
    assert merge_intervals([(0, 1), (1.4, 2)], max_gap=0.5) == [(0, 2)]


def test_rttm_round_trip_sorted(tmp_path):
    path = tmp_path / "x" / "ref.rttm"
    write_rttm(path, _turns())
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER rec1 1 0.250 0.750 <NA> <NA> amy <NA> <NA>"
    assert [ln.split()[1] for ln in lines] == ["rec1", "rec1", "rec2"]
    back = read_rttm(path)
    assert [(t.recording, t.speaker, t.start, t.end) for t in back] == [
        ("rec1", "amy", 0.25, 1.0), ("rec1", "bob", 0.5, 2.0), ("rec2", "bob", 3.0, 4.5)
    ]
    assert not list(path.parent.glob(".*tmp"))  # no temp files left


@pytest.mark.parametrize(
    "content, line, what",
    [
        ("SPEAKER r 1 0.0 1.0 <NA> <NA> a <NA> <NA>\nSPEAKER r 1 x 1.0 <NA> <NA> a <NA> <NA>\n", 2, "onset"),
        ("SPEAKER r 1 0.0 -1.0 <NA> <NA> a <NA> <NA>\n", 1, "negative duration"),
        ("\n;; comment\nSPEAKER r 1 0.0\n", 3, "at least 8 fields"),
        ("SPEAKER r 1 0.0 nan <NA> <NA> a\n", 1, "not finite"),
        ("speaker r 1 0 1 <NA> <NA> a\n", 1, "expected an RTTM"),
    ],
)
def test_rttm_errors_name_file_and_line(tmp_path, content, line, what):
    p = tmp_path / "bad.rttm"
    p.write_text(content)
    with pytest.raises(DataFormatError) as ei:
        read_rttm(p)
    assert ei.value.line == line and what in str(ei.value)
    assert str(ei.value).startswith(f"{p}:{line}:")


def test_rttm_bad_utf8(tmp_path):
    p = tmp_path / "bad.rttm"
    p.write_bytes(b"SPEAKER r 1 0 1 <NA> <NA> a <NA> <NA>\nSPEAKER r\xff 1 0 1 <NA> <NA> a\n")
    with pytest.raises(DataFormatError, match=r"bad.rttm:2: not UTF-8"):
        read_rttm(p)


def test_uem(tmp_path):
    p = tmp_path / "all.uem"
    write_uem(p, {"b": (0.0, 10.0), "a": (1.5, 2.5)})
    assert p.read_text().splitlines()[0] == "a 1 1.500 2.500"
    assert read_uem(p) == {"a": (1.5, 2.5), "b": (0.0, 10.0)}
    p.write_text("a 1 0 1\na 1 2 3\n")
    with pytest.raises(DataFormatError, match=":2: second region"):
        read_uem(p)
    p.write_text("a 1 5 1\n")
    with pytest.raises(DataFormatError, match=":1: bad scoring region"):
        read_uem(p)


def test_seglst_turn_and_word_level(tmp_path):
    p = tmp_path / "ref.seglst.json"
    write_seglst(p, _turns())
    data = json.loads(p.read_text())
    assert data[0] == {"session_id": "rec1", "speaker": "amy", "start_time": 0.25,
                       "end_time": 1.0, "words": "okay"}
    back = load_turns(p)
    assert [t.text for t in back] == ["okay", "yes sure", "hi there"]
    write_seglst(p, _turns(), word_level=True)
    assert len(json.loads(p.read_text())) == 5
    p.write_text('[{"session_id": "a", "speaker": "s", "start_time": 0, "end_time": 1}]')
    with pytest.raises(DataFormatError, match=r"entry 0.*missing keys \['words'\]"):
        read_seglst(p)
    p.write_text("[1, 2")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        read_seglst(p)


def test_stm_and_ctm(tmp_path):
    write_stm(tmp_path / "a.stm", _turns())
    back = read_stm(tmp_path / "a.stm")
    assert [(t.speaker, t.text) for t in back] == [("amy", "okay"), ("bob", "yes sure"), ("bob", "hi there")]
    write_ctm(tmp_path / "a.ctm", _turns())
    rows = read_ctm(tmp_path / "a.ctm")
    assert [(r[1], r[2].text) for r in rows][:3] == [("amy", "okay"), ("bob", "yes"), ("bob", "sure")]
    assert rows[0][2].start == 0.25 and abs(rows[0][2].end - 1.0) < 1e-9
    with pytest.raises(ValueError, match="no times"):
        write_ctm(tmp_path / "b.ctm", [Turn.from_text("r", "a", 0, 1, "x")])
    assert not (tmp_path / "b.ctm").exists()  # nothing half-written
