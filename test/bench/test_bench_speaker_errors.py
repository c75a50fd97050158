"""bench/bench_speaker_errors.py: reference linking of cut speakers, count differences, the table."""

import importlib.util
from pathlib import Path

from espnet_tagspeech.data.turn import Turn

_PATH = Path(__file__).resolve().parents[2] / "bench" / "bench_speaker_errors.py"
_spec = importlib.util.spec_from_file_location("bench_speaker_errors", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

REF = [Turn("r1", "A", 0.0, 4.0), Turn("r1", "B", 3.0, 6.0), Turn("r1", "A", 10.0, 14.0), Turn("r1", "B", 14.0, 16.0)]


def test_cut_speakers_take_the_reference_speaker_they_share_most_speech_with():
    cuts = {"c0": [Turn("r1", "c0|1", 0.0, 4.0), Turn("r1", "c0|2", 3.0, 6.0)],
            "c1": [Turn("r1", "c1|1", 10.0, 14.0), Turn("r1", "c1|2", 14.0, 16.0)]}
    linked = bench.link_by_reference(cuts, REF)
    assert [t.speaker for t in linked] == ["A", "B", "A", "B"]


def test_one_person_split_in_a_cut_keeps_one_id_per_person():
    # both ids of cut c0 are mostly A: one-to-one gives A to the larger one only
    cuts = {"c0": [Turn("r1", "c0|1", 0.0, 2.5), Turn("r1", "c0|2", 2.5, 4.0)]}
    assert [t.speaker for t in bench.link_by_reference(cuts, REF)] == ["A", "B"]
    # each on its own (the cascade's lines): both A
    assert [t.speaker for t in bench.link_by_reference(cuts, REF, one_to_one=False)] == ["A", "A"]
    # a speaker where nobody talks stays apart
    far = {"c9": [Turn("r1", "c9|1", 20.0, 21.0)]}
    assert [t.speaker for t in bench.link_by_reference(far, REF)] == ["c9|1"]


def test_count_differences_per_cut():
    spans = {"c0": ("r1", 0.0, 7.0), "c1": ("r1", 9.0, 17.0), "c2": ("r1", 9.0, 17.0)}
    cuts = {"c0": [Turn("r1", "c0|1", 0.0, 6.0)],  # one listed, two talk
            "c1": [Turn("r1", "c1|1", 10.0, 14.0), Turn("r1", "c1|2", 14.0, 16.0)],  # right
            "c2": [Turn("r1", f"c2|{i}", 10.0 + i, 11.0 + i) for i in range(3)]}  # one too many
    assert bench.count_differences(cuts, spans, REF) == {-1: 1, 0: 1, 1: 1}
    # B's 0.2 s in a cut is not a speaker talking there at 0.3 s
    assert bench.count_differences({"x": [Turn("r1", "x|1", 0.0, 3.2)]}, {"x": ("r1", 0.0, 3.2)}, REF) == {0: 1}


def _recipe_files(tmp_path, system_labels):
    data, dec = tmp_path / "data", tmp_path / "decode"
    data.mkdir()
    dec.mkdir()
    (data / "rttm").write_text("".join(f"SPEAKER r1 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                                       for t in REF))
    (data / "uem").write_text("r1 1 0.000 16.000\n")
    (tmp_path / "cut2reco").write_text("c0 r1 0.0 7.0\nc1 r1 9.0 17.0\n")
    answers = {
        "c0": '<text>\\n0.00-4.00>hello there\\n3.00-6.00>yes\\n</text>\\n<speaker>\\n'
              '<spk id="1" g="m" t="0.00-4.00"/>\\n<spk id="2" g="f" t="3.00-6.00"/>\\n</speaker>',
        "c1": '<text>\\n1.00-5.00>next\\n5.00-7.00>ok\\n</text>\\n<speaker>\\n'
              '<spk id="1" g="m" t="1.00-5.00"/>\\n<spk id="2" g="f" t="5.00-7.00"/>\\n</speaker>',
    }
    (dec / "text").write_text("".join(f"{k} {v}\n" for k, v in answers.items()))
    turns = [(0.0, 4.0), (3.0, 6.0), (10.0, 14.0), (14.0, 16.0)]
    (dec / "rttm").write_text("".join(f"SPEAKER r1 1 {s:.3f} {e - s:.3f} <NA> <NA> {lab} <NA> <NA>\n"
                                      for (s, e), lab in zip(turns, system_labels)))
    return ["--decode_dir", str(dec), "--data_dir", str(data), "--cut2reco", str(tmp_path / "cut2reco")]


def test_the_table_shows_the_linking_share(tmp_path, capsys):
    # right answers in each cut, but the second cut's speakers linked the wrong way round
    assert bench.main(_recipe_files(tmp_path, ["s1", "s2", "s2", "s1"])) == 0
    out = capsys.readouterr().out
    decoded = next(line for line in out.splitlines() if line.startswith("| as decoded"))
    linked = next(line for line in out.splitlines() if line.startswith("| cut speakers linked"))
    assert float(linked.split("|")[2]) == 0.0
    assert float(decoded.split("|")[2]) > 30.0  # 6 s of 15 s of speech given to the wrong person
    assert "as many speakers as talk in them: 2 of 2" in out


def test_a_missing_file_is_named(tmp_path, capsys):
    args = _recipe_files(tmp_path, ["s1", "s2", "s1", "s2"])
    (tmp_path / "decode" / "rttm").unlink()
    assert bench.main(args) == 1
    assert "decode/rttm" in capsys.readouterr().err


def test_line_pairs_count_one_person_split_and_two_people_joined():
    lines = {"c0": [Turn("r1", "c0|1", 0.0, 2.0), Turn("r1", "c0|2", 2.0, 3.5),  # both A: split
                    Turn("r1", "c0|2", 4.2, 6.0)],  # B, with A's second line: joined
             "c1": [Turn("r1", "c1|1", 10.0, 14.0), Turn("r1", "c1|1", 20.0, 21.0)]}  # nobody talks at 20 s
    assert bench.line_pairs(lines, REF) == {"same": 1, "split": 1, "different": 2, "joined": 1}


def test_the_line_pairs_of_the_answers_are_printed(tmp_path, capsys):
    assert bench.main(_recipe_files(tmp_path, ["s1", "s2", "s1", "s2"])) == 0
    out = capsys.readouterr().out
    assert "one person's 0, split into two ids 0 (0.0 %); two people's 2, joined under one id 0 (0.0 %)" in out
