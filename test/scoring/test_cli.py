"""Command-line scorers: tables, JSON, file lists and errors naming file:line."""

import json
import logging

import pytest

from espnet_tagspeech.bin import score_diarization, score_words
from espnet_tagspeech.data.formats import write_rttm, write_seglst
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.table import format_table


@pytest.fixture
def rttms(tmp_path):
    ref = tmp_path / "ref.rttm"
    hyp = tmp_path / "sys.rttm"
    write_rttm(ref, [Turn("a", "A", 0, 10), Turn("a", "B", 10, 20), Turn("b", "A", 0, 10)])
    write_rttm(hyp, [Turn("a", "X", 0, 12), Turn("a", "Y", 12, 20), Turn("c", "Z", 0, 3)])
    return ref, hyp


def _rows(out):
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}


def test_score_diarization_table_and_json(rttms, tmp_path, capsys, caplog):
    ref, hyp = rttms
    out_json = tmp_path / "scores.json"
    with caplog.at_level(logging.WARNING):
        rc = score_diarization.main(["-r", str(ref), "-s", str(hyp), "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["File", "DER", "JER", "MISS", "FA", "CONF"]
    rows = _rows(text)
    # JER: A vs X = 1 - 10/12, B vs Y = 1 - 8/10.
    assert rows["a"] == ["10.00", f"{(100 / 6 + 20) / 2:.2f}", "0.00", "0.00", "10.00"]
    assert rows["b"] == ["100.00", "100.00", "100.00", "0.00", "0.00"]
    assert "c" not in rows
    assert lines[-1].startswith("*** OVERALL ***")
    assert lines[-1].split()[3] == f"{100 * 12 / 30:.2f}"  # pooled DER
    assert "only in the system output" in caplog.text and " c" in caplog.text
    data = json.loads(out_json.read_text())
    assert data["overall"]["der"] == pytest.approx(40.0)
    assert [f["file"] for f in data["files"]] == ["a", "b"]
    assert data["system_only"] == ["c"]


def test_score_diarization_lists_collar_and_formats(rttms, tmp_path, capsys):
    ref, hyp = rttms
    (tmp_path / "ref.list").write_text(f"{ref}\n\n")
    (tmp_path / "sys.list").write_text(f"{hyp}\n")
    rc = score_diarization.main(["-R", str(tmp_path / "ref.list"), "-S", str(tmp_path / "sys.list"),
                                 "--collar", "0.25", "--table_fmt", "tsv"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "File\tDER\tJER\tMISS\tFA\tCONF"
    a = lines[1].split("\t")
    assert a[0] == "a" and a[1] == f"{100 * 1.75 / 19:.2f}"


def test_score_diarization_errors_name_file_and_line(tmp_path, rttms, caplog):
    ref, hyp = rttms
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 zero 1.0 <NA> <NA> A\n")
    assert score_diarization.main(["-r", str(bad), "-s", str(hyp)]) == 1
    assert f"{bad}:2" in caplog.text
    caplog.clear()
    uem = tmp_path / "bad.uem"
    uem.write_text("a 1 0 10\nb 1 5\n")
    assert score_diarization.main(["-r", str(ref), "-s", str(hyp), "-u", str(uem)]) == 1
    assert f"{uem}:2" in caplog.text
    caplog.clear()
    lst = tmp_path / "ref.list"
    lst.write_text(f"{ref}\n{tmp_path / 'missing.rttm'}\n")
    assert score_diarization.main(["-R", str(lst), "-s", str(hyp)]) == 1
    assert f"{lst}:2" in caplog.text


def test_score_diarization_with_uem(rttms, tmp_path, capsys):
    ref, hyp = rttms
    uem = tmp_path / "all.uem"
    uem.write_text("a 1 0.0 10.0\n")
    assert score_diarization.main(["-r", str(ref), "-s", str(hyp), "-u", str(uem)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert list(rows) == ["a", "***"]
    assert rows["a"][0] == "0.00"


def test_score_words_cli(tmp_path, capsys):
    ref = tmp_path / "ref.seglst.json"
    hyp = tmp_path / "hyp.seglst.json"
    write_seglst(ref, [Turn.from_text("m", "A", 0, 2, "hello world"),
                       Turn.from_text("m", "B", 2, 4, "foo bar baz")])
    write_seglst(hyp, [Turn.from_text("m", "2", 2, 4, "foo bar baz"),
                       Turn.from_text("m", "1", 0, 2, "hello word")])
    out_json = tmp_path / "w.json"
    assert score_words.main(["-r", str(ref), "-h", str(hyp), "--collar", "5",
                             "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    row = [line for line in text.splitlines() if line.startswith("m ")][0].split()
    assert row[1:5] == ["20.00", "20.00", "20.00", "20.00"]
    assert "speaker count accuracy: 100.00 %" in text
    data = json.loads(out_json.read_text())
    assert data["overall"]["cpwer"]["sub"] == 1
    assert data["per_recording"]["m"]["n_hyp_speakers"] == 2


def test_score_words_metrics_option_and_too_many_speakers(tmp_path, capsys, caplog):
    ref = tmp_path / "ref.seglst.json"
    hyp = tmp_path / "hyp.seglst.json"
    write_seglst(ref, [Turn.from_text("m", "A", 0, 2, "hello world"),
                       Turn.from_text("m", "B", 2, 4, "foo bar baz")])
    write_seglst(hyp, [Turn.from_text("m", "1", 0, 2, "hello world"),
                       Turn.from_text("m", "2", 2, 3, "foo"), Turn.from_text("m", "3", 3, 4, "bar baz")])
    out_json = tmp_path / "w.json"
    assert score_words.main(["-r", str(ref), "-h", str(hyp), "--metrics", "wer", "cpwer",
                             "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "ORC-WER" not in text and "tcpWER" not in text
    header = [line for line in text.splitlines() if line.startswith("Recording")][0].split()
    assert header[:3] == ["Recording", "cpWER", "WER"]  # the table's order, not the option's
    row = [line for line in text.splitlines() if line.startswith("m ")][0].split()
    assert row[1:3] == ["40.00", "0.00"]  # speaker 3's two words: 2 deletions + 2 insertions of 5
    assert set(json.loads(out_json.read_text())["overall"]) == {"cpwer", "wer"}
    # 25 hypothesis speakers in one recording: meeteval refuses; the CLI names the files, no traceback
    write_seglst(hyp, [Turn.from_text("m", str(i), i / 10, i / 10 + 0.1, "yes") for i in range(25)])
    assert score_words.main(["-r", str(ref), "-h", str(hyp), "--metrics", "wer"]) == 0
    assert score_words.main(["-r", str(ref), "-h", str(hyp)]) == 1
    assert f"{hyp} against {ref}: meeteval refused to score" in caplog.text


def test_score_words_malformed_seglst(tmp_path, caplog):
    ref = tmp_path / "ref.seglst.json"
    ref.write_text(json.dumps([{"session_id": "m", "speaker": "A", "start_time": 0,
                                "end_time": 1, "words": "a"},
                               {"session_id": "m", "speaker": "A", "start_time": 0}]))
    assert score_words.main(["-r", str(ref), "-h", str(ref)]) == 1
    assert "entry 1" in caplog.text and "missing keys" in caplog.text


def test_table_formats():
    rows = [["a", 1.0, 2], ["bb", 10.456, None]]
    simple = format_table(["x", "y", "z"], rows)
    assert simple.splitlines()[2] == "a    1.00  2"
    assert simple.splitlines()[3] == "bb  10.46  -"
    gh = format_table(["x", "y", "z"], rows, "github")
    assert gh.splitlines()[1].startswith("|:")
    assert gh.splitlines()[2] == "| a  |  1.00 | 2 |"
    with pytest.raises(ValueError):
        format_table(["x"], rows)
    with pytest.raises(ValueError):
        format_table(["x", "y", "z"], rows, "latex")
