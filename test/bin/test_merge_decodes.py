"""Tests of merging per-job decoding outputs (espnet_tagspeech/bin/merge_decodes.py)."""

import importlib.util
import json

import pytest

from espnet_tagspeech.bin.merge_decodes import main
from espnet_tagspeech.data.formats import read_rttm
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.serialization import serialize, target_to_line


def test_cut_outputs_move_to_recording_time(tmp_path):
    j1, j2 = tmp_path / "o1", tmp_path / "o2"
    j1.mkdir()
    j2.mkdir()
    cut_a = serialize([Turn.from_text("x", "p", 0.0, 1.0, "hello there"),
                       Turn.from_text("x", "q", 0.5, 2.0, "yes")])
    cut_b = serialize([Turn.from_text("x", "p", 0.2, 9.0, "long")])  # runs past its cut: clipped
    (j1 / "text").write_text(f"rec1_a {target_to_line(cut_a)}\n")
    (j2 / "text").write_text(f"rec1_b {target_to_line(cut_b)}\nrec2_a <text>\\n0.00-1.0\n")
    (tmp_path / "cut2reco").write_text("rec1_a rec1 10.0 12.0\nrec1_b rec1 20.0 23.0\nrec2_a rec2 0.0 5.0\n")
    out = tmp_path / "dec"
    assert main(["--out_dir", str(out), "--cut2reco", str(tmp_path / "cut2reco"), "--link", "none",
                 str(j1), str(j2)]) == 0
    rttm = [(t.recording, t.speaker, t.start, t.end) for t in read_rttm(out / "rttm")]
    assert rttm == [("rec1", "rec1_a|1", 10.0, 11.0), ("rec1", "rec1_a|2", 10.5, 12.0),
                    ("rec1", "rec1_b|1", 20.2, 23.0)]
    hyp = json.loads((out / "hyp.seglst.json").read_text())
    assert [(h["session_id"], h["start_time"], h["words"]) for h in hyp] == [
        ("rec1", 10.0, "hello there"), ("rec1", 10.5, "yes"), ("rec1", 20.2, "long")]
    warn = dict(line.split() for line in (out / "parse_warnings").read_text().splitlines())
    assert warn["rec1_a"] == "0" and int(warn["rec2_a"]) > 0  # truncated output: warned, not fatal


def test_missing_job_output_and_unknown_cut(tmp_path, caplog):
    (tmp_path / "o1").mkdir()
    assert main(["--out_dir", str(tmp_path / "d"), "--link", "none", str(tmp_path / "o1")]) == 1
    assert "o1/text: no such file" in caplog.text
    (tmp_path / "o1" / "text").write_text("k <text>\n")
    (tmp_path / "c2r").write_text("other r 0 1\n")
    assert main(["--out_dir", str(tmp_path / "d"), "--cut2reco", str(tmp_path / "c2r"),
                 "--link", "none", str(tmp_path / "o1")]) == 1
    assert "no entry for decoded keys ['k']" in caplog.text


def test_link_model_needs_the_model_config(tmp_path, caplog):
    (tmp_path / "o1").mkdir()
    (tmp_path / "o1" / "text").write_text("rec1 <text>\\n</text>\n")
    (tmp_path / "wav.scp").write_text("rec1 /nonexistent.wav\n")
    assert main(["--out_dir", str(tmp_path / "d"), "--link", "model", "--wav_scp",
                 str(tmp_path / "wav.scp"), str(tmp_path / "o1")]) == 1
    assert "link 'model' needs --train_config" in caplog.text


def test_rttm_from_the_text_lines(tmp_path):
    """The speaker block disagrees with the lines: --rttm_from lines takes the lines'
    times with the block's speaker of each line; the default keeps the block."""
    job = tmp_path / "o1"
    job.mkdir()
    target = ("<text>\n0.00-1.00>hello there\n0.50-2.00>yes\n</text>\n<speaker>\n"
              '<spk id="1" g="f" t="0.00-1.40"/>\n<spk id="2" g="m" t="0.60-2.50"/>\n</speaker>')
    (job / "text").write_text(f"cut {target_to_line(target)}\n")
    (tmp_path / "cut2reco").write_text("cut rec 10.0 13.0\n")
    rttms = {}
    for source in ("block", "lines"):
        out = tmp_path / source
        assert main(["--out_dir", str(out), "--cut2reco", str(tmp_path / "cut2reco"), "--link", "none",
                     "--rttm_from", source, str(job)]) == 0
        rttms[source] = [(t.speaker, t.start, t.end) for t in read_rttm(out / "rttm")]
    assert rttms["block"] == [("cut|1", 10.0, 11.4), ("cut|2", 10.6, 12.5)]
    assert rttms["lines"] == [("cut|1", 10.0, 11.0), ("cut|2", 10.5, 12.0)]


def test_link_unit_line_clusters_lines_by_voice(tmp_path, caplog):
    """The model calls both lines of each cut speaker 1 and swaps nothing right:
    --link_unit line labels every line by its own voice across the recording."""
    import numpy as np
    import soundfile as sf

    sr = 16000
    rng = np.random.default_rng(0)

    def voice(f0, sec):
        t = np.arange(int(sec * sr)) / sr
        return (0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
                + 0.01 * rng.standard_normal(len(t))).astype(np.float32)

    audio = np.zeros(sr * 12, np.float32)
    for f0, s, e in [(110.0, 0.0, 2.0), (260.0, 2.5, 4.5), (260.0, 6.0, 8.0), (110.0, 8.5, 11.0)]:
        audio[int(s * sr): int(e * sr)] = voice(f0, e - s)
    sf.write(tmp_path / "rec.wav", audio, sr)
    (tmp_path / "wav.scp").write_text(f"rec {tmp_path / 'rec.wav'}\n")
    (tmp_path / "cut2reco").write_text("a rec 0.0 5.0\nb rec 6.0 11.0\n")
    job = tmp_path / "o1"
    job.mkdir()
    one = '<speaker>\n<spk id="1" g="f" t="0.00-4.50"/>\n</speaker>'
    (job / "text").write_text(
        "a " + target_to_line(f"<text>\n0.00-2.00>hello\n2.50-4.50>yes\n</text>\n{one}") + "\n"
        + "b " + target_to_line(f"<text>\n0.00-2.00>no\n2.50-5.00>fine\n</text>\n{one}") + "\n")
    base = ["--cut2reco", str(tmp_path / "cut2reco"), "--wav_scp", str(tmp_path / "wav.scp"),
            "--link", "fbank", "--linking_threshold", "0.5", str(job)]
    out = tmp_path / "line"
    assert main(["--out_dir", str(out), "--link_unit", "line", "--rttm_from", "lines"] + base) == 0
    assert [(t.speaker, t.start) for t in read_rttm(out / "rttm")] == [
        ("spk1", 0.0), ("spk2", 2.5), ("spk2", 6.0), ("spk1", 8.5)]
    hyp = json.loads((out / "hyp.seglst.json").read_text())
    assert [(h["speaker"], h["words"]) for h in hyp] == [
        ("spk1", "hello"), ("spk2", "yes"), ("spk2", "no"), ("spk1", "fine")]
    # the same with resemblyzer's prints named in a link yaml (as conf/link_lines.yaml does)
    if importlib.util.find_spec("resemblyzer") is not None:
        conf = tmp_path / "link_lines.yaml"
        conf.write_text("link: resemblyzer\nlink_unit: line\nrttm_from: lines\nlinking_threshold: 0.6\n")
        out = tmp_path / "ge2e"
        assert main(["--out_dir", str(out), "--config", str(conf)] + base[:4] + [str(job)]) == 0
        assert [(t.speaker, t.start) for t in read_rttm(out / "rttm")] == [
            ("spk1", 0.0), ("spk2", 2.5), ("spk2", 6.0), ("spk1", 8.5)]
    # the model's own ids put both lines of a cut on one speaker
    out = tmp_path / "spk"
    assert main(["--out_dir", str(out), "--rttm_from", "lines"] + base) == 0
    hyp = json.loads((out / "hyp.seglst.json").read_text())
    assert hyp[0]["speaker"] == hyp[1]["speaker"]
    # line clustering is meaningless for the block's ranges or without voices
    assert main(["--out_dir", str(tmp_path / "x"), "--link_unit", "line"] + base) == 1
    assert "link_unit 'line' needs rttm_from 'lines'" in caplog.text
    # a line said inside another (e.g. a backchannel) is another voice: --max_line_overlap_frac
    job2 = tmp_path / "o2"
    job2.mkdir()
    (job2 / "text").write_text(
        "a " + target_to_line(f"<text>\n0.00-4.50>hello there\n1.00-1.60>yes\n</text>\n{one}") + "\n")
    loose = ["--cut2reco", str(tmp_path / "cut2reco"), "--wav_scp", str(tmp_path / "wav.scp"), "--link", "fbank",
             "--linking_threshold", "2.0", "--link_unit", "line", "--rttm_from", "lines", "--max_line_overlap", "1.0"]
    assert main(["--out_dir", str(tmp_path / "o2a")] + loose + [str(job2)]) == 0
    hyp = json.loads((tmp_path / "o2a" / "hyp.seglst.json").read_text())
    assert hyp[0]["speaker"] == hyp[1]["speaker"]
    assert main(["--out_dir", str(tmp_path / "o2b"), "--max_line_overlap_frac", "0.5"] + loose + [str(job2)]) == 0
    hyp = json.loads((tmp_path / "o2b" / "hyp.seglst.json").read_text())
    assert hyp[0]["speaker"] != hyp[1]["speaker"]


def test_linking_options_from_a_yaml_and_misspelled_keys(tmp_path, caplog):
    j1 = tmp_path / "o1"
    j1.mkdir()
    cut = serialize([Turn.from_text("x", "p", 0.0, 1.0, "hello"), Turn.from_text("x", "q", 2.0, 3.0, "yes")])
    (j1 / "text").write_text(f"rec1 {target_to_line(cut)}\n")
    conf = tmp_path / "link.yaml"
    conf.write_text("link: none\nrttm_from: lines\n")
    out = tmp_path / "dec"
    assert main(["--config", str(conf), "--out_dir", str(out), str(j1)]) == 0
    assert [t.speaker for t in read_rttm(out / "rttm")] == ["rec1|1", "rec1|2"]
    conf.write_text("link: none\nlinking_treshold: 0.3\n")
    assert main(["--config", str(conf), "--out_dir", str(tmp_path / "dec2"), str(j1)]) == 1
    assert "linking_treshold" in caplog.text and str(conf) in caplog.text
    assert not (tmp_path / "dec2").exists()
    # a flag wins over the yaml, and a bad combination is named before any work
    conf.write_text("link: fbank\nlink_unit: line\nrttm_from: lines\n")
    assert main(["--config", str(conf), "--rttm_from", "block", "--out_dir", str(tmp_path / "dec3"), str(j1)]) == 1
    assert "link_unit 'line' needs rttm_from 'lines'" in caplog.text


def test_voices_from_writes_each_linked_speaker_s_voice(tmp_path, caplog):
    """--voices_from: voices.json holds one print per recording speaker, its voice over its lines."""
    import numpy as np
    import soundfile as sf

    sr = 16000
    t = np.arange(sr * 4) / sr
    low, high = np.sin(2 * np.pi * 110 * t), np.sin(2 * np.pi * 300 * t) * 0.3
    sf.write(tmp_path / "rec.wav", np.concatenate([low, high]).astype(np.float32), sr)
    (tmp_path / "wav.scp").write_text(f"rec {tmp_path / 'rec.wav'}\n")
    (tmp_path / "cut2reco").write_text("a rec 0.0 8.0\n")
    job = tmp_path / "o1"
    job.mkdir()
    answer = serialize([Turn.from_text("a", "1", 0.0, 4.0, "hello"), Turn.from_text("a", "2", 4.0, 8.0, "yes")])
    (job / "text").write_text(f"a {target_to_line(answer)}\n")
    out = tmp_path / "dec"
    args = ["--out_dir", str(out), "--cut2reco", str(tmp_path / "cut2reco"), "--wav_scp", str(tmp_path / "wav.scp"),
            "--link", "none", str(job)]
    assert main(args) == 0 and not (out / "voices.json").exists()
    assert main(args + ["--voices_from", "fbank"]) == 0
    voices = json.loads((out / "voices.json").read_text())
    assert sorted(voices) == ["rec"] and sorted(voices["rec"]) == ["a|1", "a|2"]
    one, two = (np.array(voices["rec"][k]) for k in ("a|1", "a|2"))
    assert np.linalg.norm(one) == pytest.approx(1.0, abs=1e-4) and one @ two < 0.99  # two voices


def test_voices_from_needs_the_recordings(tmp_path, caplog):
    job = tmp_path / "o1"
    job.mkdir()
    (job / "text").write_text("a <text>\\n0.00-1.00>hi\\n</text>\n")
    assert main(["--out_dir", str(tmp_path / "dec"), "--link", "none", "--voices_from", "fbank", str(job)]) == 1
    assert "recordings to link are missing" in caplog.text and not (tmp_path / "dec").exists()
