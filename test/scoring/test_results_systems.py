"""tagspeech_results with two systems on one test set: ovl WER column and answer-warning counts."""

import json
import logging

import pytest

from espnet_tagspeech.bin import tagspeech_results
from espnet_tagspeech.data.formats import write_ctm, write_rttm, write_seglst, write_uem
from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.scoring.results import default_system_name, evaluate_dataset

LLM, CASCADE = "TagSpeech (LLM)", "cascade (CTC + clustering)"

# Recording m: A talks in [0, 4), B in [2, 6); charlie, delta and echo are said in overlap.
# Recording n: one speaker, no overlap. 3 overlapped and 7 other reference words in all.
REF = [
    Turn("m", "A", 0.0, 4.0, (Word("alpha", 0.0, 0.8), Word("bravo", 1.0, 1.8),
                              Word("charlie", 2.1, 2.9), Word("delta", 3.0, 3.8))),
    Turn("m", "B", 2.0, 6.0, (Word("echo", 2.2, 3.0), Word("foxtrot", 4.2, 5.0),
                              Word("golf", 5.0, 5.8))),
    Turn("n", "C", 0.0, 3.0, (Word("one", 0.1, 0.9), Word("two", 1.1, 1.9),
                              Word("three", 2.1, 2.9))),
]


def _decode_dir(path, m_a, m_b, warnings=None):
    path.mkdir(parents=True)
    turns = [Turn.from_text("m", "1", 0, 4, m_a), Turn.from_text("m", "2", 2, 6, m_b),
             Turn.from_text("n", "1", 0, 3, "one two three")]
    write_rttm(path / "rttm", turns)
    write_seglst(path / "hyp.seglst.json", turns)
    if warnings is not None:
        (path / "parse_warnings").write_text(warnings)
    return path


@pytest.fixture
def dirs(tmp_path):
    ref = tmp_path / "data" / "test"
    ref.mkdir(parents=True)
    write_rttm(ref / "rttm", REF)
    write_uem(ref / "uem", {"m": (0.0, 6.0), "n": (0.0, 3.0)})
    write_seglst(ref / "ref.seglst.json", REF)
    write_ctm(ref / "words.ctm", REF)
    # LLM: the overlapped "echo" is deleted; 2 of 4 cuts had parser warnings (3 warnings)
    llm = _decode_dir(tmp_path / "exp" / "tagspeech" / "decode_llm" / "test",
                      "alpha bravo charlie delta", "foxtrot golf", "m-0 0\nm-1 2\nn-0 1\nn-1 0\n")
    # cascade: "uh" inserted after bravo, before the overlap; no parse_warnings file
    cascade = _decode_dir(tmp_path / "exp" / "cascade" / "decode_ctc" / "test",
                          "alpha bravo uh charlie delta", "echo foxtrot golf")
    return ref, llm, cascade


def _table(md):
    rows = [line for line in md.splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows]


def test_two_systems_in_one_table(dirs, tmp_path, capsys):
    ref, llm, cascade = dirs
    (llm / "segmentation").write_text("vad\n")
    out = tmp_path / "exp" / "RESULTS.md"
    rc = tagspeech_results.main(["--decode_dir", str(llm), str(cascade), "--ref_dir", str(ref), str(ref),
                                 "--system", LLM, CASCADE, "--out", str(out)])
    assert rc == 0
    md = out.read_text()
    table = _table(md)
    assert table[0][:2] == ["dataset", "system"] and table[0][10:12] == ["WER", "ovl WER"]
    llm_row, cascade_row = table[2], table[3]
    assert llm_row[:2] == ["test", LLM] and cascade_row[:2] == ["test", CASCADE]
    assert len(llm_row) == len(cascade_row) == 13
    # one error of 10 reference words each
    assert llm_row[8] == llm_row[10] == cascade_row[10] == "10.00"
    assert llm_row[11] == f"{100 / 3:.2f}"  # the deletion is one of 3 overlapped words
    assert cascade_row[11] == "0.00"  # the insertion follows a non-overlapped word
    assert llm_row[12] == cascade_row[12] == "100.00"

    assert (f"- test / {LLM}: 2 of 4 cuts had answer warnings (3 warnings; "
            f"see {llm / 'parse_warnings'})") in md
    # each row's decode dir and test-set segmentation are named
    assert f"- test / {LLM}: segmentation vad; `{llm}`" in md
    assert f"- test / {CASCADE}: segmentation unknown; `{cascade}`" in md
    assert f"- test / {CASCADE}: answer warnings unknown (no {cascade / 'parse_warnings'})" in md
    printed = capsys.readouterr().out
    assert "2 of 4 cuts had answer warnings" in printed and "| test" in printed

    per = json.loads((out.parent / "per_recording.json").read_text())
    assert sorted(per["test"]) == sorted([LLM, CASCADE])
    s_llm, s_cas = per["test"][LLM], per["test"][CASCADE]
    assert s_llm["summary"]["ovl_wer"] == pytest.approx(100 / 3)
    assert s_llm["summary"]["nonovl_wer"] == 0.0
    assert s_cas["summary"]["nonovl_wer"] == pytest.approx(100 / 7)
    assert (s_llm["summary"]["ovl_ref_words"], s_llm["summary"]["nonovl_ref_words"]) == (3, 7)
    assert s_llm["recordings"]["m"]["ovl_ref_words"] == 3
    assert s_llm["recordings"]["n"]["ovl_wer"] is None  # no overlapped words in n
    assert s_llm["recordings"]["n"]["nonovl_wer"] == 0.0
    assert s_llm["answer_warnings"] == {"path": str(llm / "parse_warnings"), "cuts": 4,
                                        "cuts_with_warnings": 2, "warnings": 3}
    assert s_cas["answer_warnings"] is None


def test_default_system_names_and_label_clash(dirs, tmp_path, caplog):
    ref, llm, cascade = dirs
    out = tmp_path / "R.md"
    # decode dirs named like the dataset are labelled by their parent
    assert tagspeech_results.main(["--decode_dir", str(llm), str(cascade),
                                   "--ref_dir", str(ref), str(ref), "--out", str(out)]) == 0
    assert [r[:2] for r in _table(out.read_text())[2:]] == [["test", "decode_llm"], ["test", "decode_ctc"]]
    assert default_system_name("exp/x/decode_a", "test") == "decode_a"
    assert default_system_name("exp/x/decode_a/test/", "test") == "decode_a"
    out.unlink()
    assert tagspeech_results.main(["--decode_dir", str(llm), str(llm),
                                   "--ref_dir", str(ref), str(ref), "--out", str(out)]) == 2
    assert "give distinct --system labels" in caplog.text and not out.exists()
    assert tagspeech_results.main(["--decode_dir", str(llm), "--ref_dir", str(ref),
                                   "--system", "a", "b"]) == 2


def test_malformed_parse_warnings_names_file_and_line(dirs, caplog):
    ref, llm, _ = dirs
    (llm / "parse_warnings").write_text("m-0 0\nm-1 two\n")
    assert tagspeech_results.main(["--decode_dir", str(llm), "--ref_dir", str(ref)]) == 1
    assert f"{llm / 'parse_warnings'}:2" in caplog.text
    assert not (llm / "RESULTS.md").exists()


def test_word_times_from_word_level_seglst_or_none(dirs, caplog):
    ref, llm, _ = dirs
    (ref / "words.ctm").unlink()
    write_seglst(ref / "ref.seglst.json", REF, word_level=True)
    res = evaluate_dataset(llm, ref, system=LLM)
    assert res.summary["ovl_wer"] == pytest.approx(100 / 3)
    assert res.row()[11] == pytest.approx(100 / 3)

    write_seglst(ref / "ref.seglst.json", REF)  # turn level: no word times left
    with caplog.at_level(logging.WARNING):
        res = evaluate_dataset(llm, ref, system=LLM)
    assert res.row()[11] is None  # shown as "-"
    assert res.summary["wer"] == pytest.approx(10.0)
    assert "no reference word times" in caplog.text
