"""bench/bench_long_form.py: plan parsing, scoring, the table, and one tiny run end to end."""

import importlib.util
import json
from pathlib import Path

import pytest

from espnet_tagspeech.data.turn import Turn

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_long_form.py"


@pytest.fixture(scope="module")
def blf():
    spec = importlib.util.spec_from_file_location("bench_long_form", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(minutes, speakers, found, wall, audio_s, rss=1.5):
    return {"minutes": minutes, "speakers": speakers, "speakers_found": found, "wall_s": wall,
            "rtf": wall / audio_s, "s_per_audio_min": wall / (audio_s / 60), "peak_rss_gb": rss,
            "der_c025": 12.345, "cpwer": 20.0}


def test_parse_plan(blf):
    plan = blf.parse_plan("1:4, 10:4,30:6,60:6")
    assert [(e.minutes, e.speakers) for e in plan] == [(1.0, 4), (10.0, 4), (30.0, 6), (60.0, 6)]
    assert [e.tag for e in blf.parse_plan("0.3:2,60:6")] == ["0.3min_2spk", "60min_6spk"]
    form = "minutes:speakers"
    for bad, match in [("10", form), ("10:4:1", form), ("x:4", form), ("10:2.5", form), ("", form),
                       ("0:4", "minutes > 0"), ("5:0", "speakers >= 1"), ("5:2,5:2", "twice")]:
        with pytest.raises(ValueError, match=match):
            blf.parse_plan(bad)
    args = blf.get_parser().parse_args([])
    assert [e.tag for e in args.plan] == ["1min_4spk", "10min_4spk", "30min_6spk", "60min_6spk"]
    with pytest.raises(SystemExit):
        blf.get_parser().parse_args(["--plan", "1:x"])


def test_table_ratio_targets_and_files(blf, tmp_path):
    rows = [_row(10, 4, 4, 120.0, 600.0), _row(60, 6, 8, 1008.0, 3600.0, rss=4.2)]
    table = blf.markdown_table(rows).splitlines()
    assert [c.strip() for c in table[0].strip("|").split("|")] == list(blf.HEADERS)
    assert set(table[1]) <= set("|-:")
    assert [c.strip() for c in table[3].strip("|").split("|")] == [
        "60", "6", "8", "1008.0", "0.280", "16.80", "4.20", "12.35", "20.00"]
    assert blf.cost_ratio(rows) == pytest.approx(16.8 / 12.0)
    assert blf.cost_ratio(rows[:1]) is None
    summary = blf.summary_lines(rows)
    assert summary[0] == "cost per audio minute, 60 min / 10 min: 1.40 (target <= 1.3: MISSED)"
    assert "peak RSS 4.20 GB (< 4: MISSED)" in summary[1] and "RTF 0.280 (<= 0.3: ok)" in summary[1]
    assert "speakers found 8 (+-1: MISSED)" in summary[1]
    assert blf.summary_lines(rows[:1]) == []
    failed = [rows[0], {"minutes": 60.0, "speakers": 6, "failed": "killed"}]
    assert blf.markdown_table(failed).splitlines()[3].replace(" ", "") == "|60|6|failed|-|-|-|-|-|-|"
    assert blf.cost_ratio(failed) is None and blf.summary_lines(failed) == []
    blf.write_results(tmp_path, rows, "TABLE", "- header")
    assert (tmp_path / "RESULTS.md").read_text() == "# Long-form benchmark\n\n- header\n\nTABLE\n"
    assert json.loads((tmp_path / "results.json").read_text()) == rows
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_score_perfect_and_empty_answers(blf, tmp_path):
    from espnet_tagspeech.data.formats import turns_to_seglst, write_rttm, write_seglst, write_uem

    ref = [Turn.from_text("rec", "a", 0.5, 2.0, "HELLO THERE"),
           Turn.from_text("rec", "b", 1.5, 3.0, "YES"),
           Turn.from_text("rec", "a", 3.5, 5.0, "GOOD MORNING ALL")]
    write_rttm(tmp_path / "rttm", ref)  # what the simulator writes, less the word times
    write_uem(tmp_path / "uem", {"rec": (0.0, 6.0)})
    write_seglst(tmp_path / "ref.seglst.json", ref)
    hyp = [t.with_speaker({"a": "spk1", "b": "spk2"}[t.speaker]) for t in ref]
    perfect = {"lines": turns_to_seglst(hyp), "speakers": turns_to_seglst(hyp)}
    assert blf.score(tmp_path, perfect) == {"der_c025": 0.0, "cpwer": 0.0, "ref_speakers": 2,
                                            "speakers_found": 2}
    empty = blf.score(tmp_path, {"lines": [], "speakers": []})
    assert empty == {"der_c025": 100.0, "cpwer": 100.0, "ref_speakers": 2, "speakers_found": 0}


def test_no_model_is_a_skip_and_bad_model_an_error(blf, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(blf, "DEFAULT_MODEL", tmp_path / "absent.zip")
    assert blf.main(["--work_dir", str(tmp_path / "w")]) == 0
    assert "nothing to benchmark" in capsys.readouterr().err
    assert blf.main(["--model", str(tmp_path / "absent.zip")]) == 2
    assert blf.main(["--train_config", str(tmp_path / "c.yaml")]) == 2
    assert "both --train_config and --model_file" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_a_bad_link_config_is_refused_before_anything_runs(blf, tmp_path, capsys):
    model = tmp_path / "m.zip"
    model.write_bytes(b"")
    work = tmp_path / "w"
    assert blf.main(["--model", str(model), "--work_dir", str(work), "--link_config", str(tmp_path / "no.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "link.yaml"
    bad.write_text("link: resemblyzer\nlinking_treshold: 1.0\n")
    assert blf.main(["--model", str(model), "--work_dir", str(work), "--link_config", str(bad)]) == 2
    assert "linking_treshold" in capsys.readouterr().err
    assert not work.exists()


def test_tiny_run_end_to_end_and_resume(blf, tmp_path, caplog):
    """Simulate 12 s with 2 test voices, decode with a random tiny model in a child process, score."""
    import logging

    import torch

    from espnet_tagspeech.model.tiny import setup_tiny
    from espnet_tagspeech.tasks.tagspeech import args_from_config
    from espnet_tagspeech.simulate.voices import EspeakNotFoundError, check_espeak
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    try:
        check_espeak()
    except EspeakNotFoundError as e:
        pytest.skip(str(e))
    _, cfg = setup_tiny(str(tmp_path / "tiny"), num_cuts=2)
    torch.manual_seed(0)
    torch.save(TagSpeechTask.build_model(args_from_config(cfg)).state_dict(), tmp_path / "model.pth")
    work = tmp_path / "work"
    argv = ["--train_config", cfg, "--model_file", str(tmp_path / "model.pth"), "--plan", "0.2:2",
            "--work_dir", str(work), "--cache_dir", str(tmp_path / "cache"), "--num_threads", "1",
            "--sim_nj", "1", "--max_new_tokens", "8", "--segmenter", "energy"]
    assert blf.main(argv) == 0
    (row,) = json.loads((work / "results.json").read_text())
    assert row["speakers"] == 2 and 5.0 < row["audio_s"] < 15.0
    assert row["wall_s"] > 0 and row["rtf"] == pytest.approx(row["wall_s"] / row["audio_s"])
    assert 0.05 < row["peak_rss_gb"] < 8 and row["peak_rss_gb"] >= row["rss_loaded_gb"]
    results = (work / "RESULTS.md").read_text()
    assert "| minutes | speakers | speakers found |" in results and "|     0.2 |" in results
    # a second run simulates and decodes nothing
    caplog.set_level(logging.INFO)
    assert blf.main(argv) == 0
    assert "reusing the meeting simulated" in caplog.text and "reusing the decoding" in caplog.text
    assert json.loads((work / "results.json").read_text()) == [row]


def test_split_picks_whose_voices_speak_and_a_new_simulation(blf, tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd):
        calls.append(cmd)
        out = Path(cmd[cmd.index("--out_dir") + 1])
        out.mkdir(parents=True, exist_ok=True)
        meeting = {"recording": "m0", "speakers": 2, "duration": 60.0}
        (out / "meetings.json").write_text(json.dumps({"meetings": [meeting]}))
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(blf.subprocess, "run", fake_run)
    (entry,) = blf.parse_plan("1:2")
    sim_dir = tmp_path / "sim"
    blf.simulate(entry, sim_dir, tmp_path / "cache", 0, 1)
    cmd = calls[-1]
    assert cmd[cmd.index("--split") + 1] == "test"  # the default
    blf.simulate(entry, sim_dir, tmp_path / "cache", 0, 1)
    assert len(calls) == 1  # the same meeting is reused
    sim = blf.simulate(entry, sim_dir, tmp_path / "cache", 0, 1, split="dev")
    assert len(calls) == 2 and calls[-1][calls[-1].index("--split") + 1] == "dev"  # other voices: again
    assert sim["recording"] == "m0"
    assert blf.get_parser().parse_args([]).split == "test"
    with pytest.raises(SystemExit):
        blf.get_parser().parse_args(["--split", "train"])  # training voices are not a benchmark
