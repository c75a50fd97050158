"""The per-cut decoding CLI resumes: a killed job decodes only the keys its journal lacks."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

SHARP = {"llm_conf": {"config": {"initializer_range": 0.5}}}  # varied greedy outputs
NUM_KEYS = 24


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A random-init tiny model and a wav.scp of 24 keys (the tiny cuts, repeated)."""
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    work = tmp_path_factory.mktemp("dec")
    cuts, cfg = setup_tiny(str(work), num_cuts=4, overrides=SHARP)
    torch.manual_seed(1)
    torch.save(TagSpeechTask.build_model(args_from_config(cfg)).state_dict(), work / "model.pth")
    wavs = [ln.split()[1] for ln in (work / "data" / "wav.scp").read_text().splitlines()]
    scp = work / "many" / "wav.scp"
    scp.parent.mkdir()
    scp.write_text("".join(f"k{i:02d} {wavs[i % len(wavs)]}\n" for i in range(NUM_KEYS)))
    return work, cfg, scp


def _cmd(job, out):
    work, cfg, scp = job
    return [sys.executable, "-m", "espnet_tagspeech.bin.tagspeech_inference", "--train_config", cfg,
            "--model_file", str(work / "model.pth"), "--data_path_and_name_and_type", f"{scp},speech,sound",
            "--output_dir", str(out), "--batch_size", "1", "--max_new_tokens", "60", "--num_threads", "1"]


def _outputs(out):
    return {name: (out / name).read_text() for name in ("text", "rttm", "hyp.seglst.json", "warnings")}


@pytest.mark.slow
def test_killed_decoding_decodes_only_the_keys_it_lacks(job, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(_cmd(job, whole), check=True, capture_output=True)
    expected = _outputs(whole)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(job, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "decoded.jsonl"
    deadline = time.time() + 300
    while proc.poll() is None and not (journal.is_file() and journal.read_text().count("\n") >= 4):
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "decoding ended before it could be killed"
    assert not (out / "text").exists()  # no outputs from a killed job
    done = journal.read_text().count("\n") - 1

    rerun = subprocess.run(_cmd(job, out), check=True, capture_output=True, text=True)
    assert f"{done} of {NUM_KEYS} keys decoded by an earlier run" in rerun.stderr
    assert _outputs(out) == expected


def test_journal_drops_a_line_cut_short_and_a_stale_fingerprint(job, tmp_path):
    from espnet_tagspeech.bin.tagspeech_inference import main

    out = tmp_path / "out"
    assert main(_cmd(job, out)[3:]) == 0
    expected = _outputs(out)
    journal = out / "decoded.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    assert len(lines) == NUM_KEYS + 1 and "fingerprint" in json.loads(lines[0])
    # as if killed while writing the 11th result: 10 whole lines and half a line
    journal.write_text("".join(lines[:11]) + lines[11][: len(lines[11]) // 2])
    for name in expected:
        (out / name).unlink()
    assert main(_cmd(job, out)[3:]) == 0
    assert _outputs(out) == expected
    assert journal.read_text().count("\n") == NUM_KEYS + 1
    # other decoding settings: the journal is not reused
    main(_cmd(job, out)[3:-4] + ["--max_new_tokens", "10", "--num_threads", "1"])
    assert _outputs(out)["text"] != expected["text"]
    assert json.loads(journal.read_text().splitlines()[0]) != json.loads(lines[0])


def test_recording_voices_are_looked_up_per_key_and_bad_files_are_named(tmp_path):
    from espnet_tagspeech.bin.tagspeech_inference import _recording_voices
    from espnet_tagspeech.data.errors import DataFormatError

    items = [("c1", "c1.wav", 0.0, None, "c1"), ("c2", "c2.wav", 0.0, None, "c2")]
    (tmp_path / "cut2reco").write_text("c1 recA 0.0 5.0\nc2 recB 5.0 9.0\n")
    voices = tmp_path / "voices.json"
    voices.write_text(json.dumps({"recA": {"spk2": [0.0, 1.0], "spk1": [1.0, 0.0]}, "recB": {"spk1": [0.6, 0.8]}}))
    got = _recording_voices(str(voices), str(tmp_path / "cut2reco"), items)
    assert got["c1"].tolist() == [[1.0, 0.0], [0.0, 1.0]] and got["c2"].tolist() == [[0.6, 0.8]]  # speakers sorted
    assert _recording_voices(None, None, items) == {}
    with pytest.raises(DataFormatError, match=r"voices.json.*no voices for recordings \['c1', 'c2'\]"):
        _recording_voices(str(voices), None, items)  # keys taken as recordings
    with pytest.raises(DataFormatError, match=r"short: no entry for keys \['c2'\]"):
        (tmp_path / "short").write_text("c1 recA 0.0 5.0\n")
        _recording_voices(str(voices), str(tmp_path / "short"), items)
    voices.write_text("{not json")
    with pytest.raises(DataFormatError, match="voices.json.*not a voices.json"):
        _recording_voices(str(voices), str(tmp_path / "cut2reco"), items)
    with pytest.raises(DataFormatError, match="no such voices file"):
        _recording_voices(str(tmp_path / "nope.json"), None, items)


def test_kept_answers_are_read_per_key_and_bad_files_are_named(tmp_path):
    from espnet_tagspeech.bin.tagspeech_inference import _kept_answers
    from espnet_tagspeech.data.errors import DataFormatError

    items = [("c1", "c1.wav", 0.0, None, "c1"), ("c2", "c2.wav", 0.0, None, "c2")]
    text = tmp_path / "text"
    text.write_text("c2 <text>\\n0.00-1.00>hi there\\n</text>\\n<speaker>\nc1 <text>\\n</text>\n")
    assert _kept_answers(str(text), items) == {"c1": "<text>\n</text>", "c2": "<text>\n0.00-1.00>hi there\n</text>\n<speaker>"}
    assert _kept_answers(None, items) == {}
    with pytest.raises(DataFormatError, match=r"short: no answer for keys \['c2'\]"):
        (tmp_path / "short").write_text("c1 <text>\n")
        _kept_answers(str(tmp_path / "short"), items)
    with pytest.raises(DataFormatError, match=r"bad:2: expected at least 2 fields"):
        (tmp_path / "bad").write_text("c1 <text>\nc2\n")
        _kept_answers(str(tmp_path / "bad"), items)
    with pytest.raises(DataFormatError, match="nope: no such file"):
        _kept_answers(str(tmp_path / "nope"), items)


def test_print_config_writes_the_checked_settings_and_stops(tmp_path, capsys):
    """What stage 8 reads before its jobs: the yaml, then the flags; a bad one exits 2 by key."""
    import yaml

    from espnet_tagspeech.bin.tagspeech_inference import main

    conf = tmp_path / "decode.yaml"
    conf.write_text("speaker_voice_passes: 2\nspeaker_voice_bias: 10.0\nspeaker_constraint: true\n")
    assert main(["--print_config", "--config", str(conf), "--beam_size", "1"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["speaker_voice_passes"] == 2 and printed["speaker_voice_bias"] == 10.0
    assert main(["--print_config", "--config", str(conf), "--speaker_voice_passes", "1"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["speaker_voice_passes"] == 1  # the flag wins
    with pytest.raises(SystemExit) as e:
        main(["--print_config", "--config", str(conf), "--speaker_voice_passes", "3"])
    assert e.value.code == 2 and "speaker_voice_passes must be 1 or 2, got 3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # decoding needs its inputs and outputs
        main(["--config", str(conf)])
    assert e.value.code == 2 and "--data_path_and_name_and_type and --output_dir are required" in capsys.readouterr().err
