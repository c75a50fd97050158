"""The whole-meeting CLI on a random-init tiny model: outputs, resume, jobs, bad input."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from espnet_tagspeech.bin.tagspeech_meeting_inference import main
from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

SR = 16000


def _meeting(seconds: int, seed: int) -> np.ndarray:
    """Noise bursts of 1 s (speech-like energy) between half-second pauses."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(seconds):
        parts += [np.zeros(SR // 2, np.float32), (0.3 * rng.standard_normal(SR)).astype(np.float32)]
    return np.concatenate(parts + [np.zeros(SR // 2, np.float32)])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    work = tmp_path_factory.mktemp("meeting_cli")
    _, cfg = setup_tiny(str(work), num_cuts=2)
    torch.manual_seed(0)
    torch.save(TagSpeechTask.build_model(args_from_config(cfg)).state_dict(), work / "model.pth")
    (work / "decode.yaml").write_text("max_new_tokens: 12\n")
    wavs = work / "wavs"
    wavs.mkdir()
    for i, n in enumerate((3, 2)):
        sf.write(wavs / f"rec{i}.wav", _meeting(n, i), SR)
    stereo = np.stack([_meeting(2, 5), np.zeros(int(SR * 3.5), np.float32)], 1)
    sf.write(wavs / "stereo8k.wav", stereo[::2], SR // 2)
    sf.write(wavs / "quiet.wav", np.zeros(SR * 2, np.float32), SR)
    return work


def _args(work: Path, out: Path, *extra: str):
    return ["--train_config", str(work / "config.yaml"), "--model_file", str(work / "model.pth"),
            "--inference_config", str(work / "decode.yaml"), "--segmenter", "energy",
            "--max_window", "2.5", "--out_dir", str(out), *extra]


def test_wav_files_give_every_output_and_resume(model, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    wavs = sorted(str(p) for p in (model / "wavs").glob("*.wav"))
    out = tmp_path / "out"
    assert main(_args(model, out, *wavs)) == 0
    for name in ("rttm", "hyp.seglst.json", "hyp.stm", "text", "answers", "warnings"):
        assert (out / name).is_file(), name
    assert sorted(p.stem for p in (out / "recordings").glob("*.json")) == ["quiet", "rec0", "rec1", "stereo8k"]
    seglst = json.loads((out / "hyp.seglst.json").read_text())
    assert {s["session_id"] for s in seglst} <= {"rec0", "rec1", "stereo8k"}
    for line in (out / "rttm").read_text().splitlines():
        f = line.split()
        assert f[0] == "SPEAKER" and f[1] in {"rec0", "rec1", "stereo8k"} and float(f[4]) > 0
    # windows named by their start in the recording: rec0 has 3 bursts, windows of <= 2.5 s
    answers = (out / "answers").read_text()
    assert any(a.startswith("rec0_") for a in answers.splitlines())
    assert "quiet no speech found" in (out / "warnings").read_text()
    assert "2 channels" in caplog.text and "resampling 8000 Hz" in caplog.text
    # a second run decodes nothing and rewrites the same files
    rttm = (out / "rttm").read_text()
    caplog.clear()
    assert main(_args(model, out, *wavs)) == 0
    assert "4 of 4 recordings already decoded" in caplog.text
    assert (out / "rttm").read_text() == rttm


def test_wav_scp_in_two_jobs_equals_one_job(model, tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"rec{i} {model / 'wavs' / f'rec{i}.wav'}\n" for i in range(2)))
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_args(model, one, "--wav_scp", str(scp))) == 0
    assert main(_args(model, two, "--wav_scp", str(scp), "--nj", "2")) == 0
    assert len(list((two / "log").glob("decode.*.log"))) == 2
    for name in ("rttm", "hyp.seglst.json", "text"):
        assert (one / name).read_text() == (two / name).read_text(), name


@pytest.mark.parametrize("case", ["missing_wav", "missing_in_scp", "bad_key_file", "unreadable", "empty"])
def test_bad_input_is_named_and_nothing_is_written(model, tmp_path, caplog, case):
    out = tmp_path / "out"
    if case == "missing_wav":
        extra, named = [str(tmp_path / "nope.wav")], "nope.wav"
    elif case == "missing_in_scp":
        scp = tmp_path / "wav.scp"
        scp.write_text(f"a {model / 'wavs' / 'rec0.wav'}\nb {tmp_path / 'gone.wav'}\n")
        extra, named = ["--wav_scp", str(scp)], "wav.scp"
    elif case == "bad_key_file":
        scp, keys = tmp_path / "wav.scp", tmp_path / "keys"
        scp.write_text(f"a {model / 'wavs' / 'rec0.wav'}\n")
        keys.write_text("zz\n")
        extra, named = ["--wav_scp", str(scp), "--key_file", str(keys)], "keys"
    elif case == "unreadable":
        bad = tmp_path / "broken.wav"
        bad.write_bytes(b"RIFF\x00\x00not a wav at all")
        extra, named = [str(bad)], "broken"
    else:
        empty = tmp_path / "nothing.wav"
        sf.write(empty, np.zeros(0, np.float32), SR)
        extra, named = [str(empty)], "nothing"
    assert main(_args(model, out, *extra)) == 1
    assert named in caplog.text
    assert not (out / "rttm").exists()


def _window_seconds(out: Path) -> list:
    """The length of every decoded window, from the ids of the answers (<reco>_<start ms>_<end ms>)."""
    ids = [line.split()[0] for line in (out / "answers").read_text().splitlines() if line.strip()]
    return [(int(i.split("_")[-1]) - int(i.split("_")[-2])) / 1000 for i in ids]


def test_a_segment_yaml_sets_the_windows_and_flags_win(model, tmp_path, caplog):
    seg = tmp_path / "segment.yaml"
    seg.write_text("segmenter: energy\nmax_window: 1.2\npad: 0.05\nmerge_gap: 0.6\n")  # pauses are 0.5 s
    base = ["--train_config", str(model / "config.yaml"), "--model_file", str(model / "model.pth"),
            "--inference_config", str(model / "decode.yaml"), str(model / "wavs" / "rec0.wav")]
    assert main([*base, "--segment_config", str(seg), "--out_dir", str(tmp_path / "a")]) == 0
    short = _window_seconds(tmp_path / "a")
    assert short and max(short) <= 1.2
    assert main([*base, "--segment_config", str(seg), "--max_window", "4", "--out_dir", str(tmp_path / "b")]) == 0
    assert max(_window_seconds(tmp_path / "b")) > 1.2
    seg.write_text("segmenter: energy\nmax_windw: 1.2\n")
    assert main([*base, "--segment_config", str(seg), "--out_dir", str(tmp_path / "c")]) == 1
    assert f"{seg}: unknown segmentation setting(s) ['max_windw']" in caplog.text
    assert not (tmp_path / "c").exists()
