"""Tests of the audio formatting stage tool (espnet_tagspeech/bin/format_wav_scp.py)."""

import numpy as np
import pytest
import soundfile as sf

from espnet_tagspeech.bin.format_wav_scp import main
from espnet_tagspeech.data.kaldi import read_durations, read_scp


def _data_dir(tmp_path, extra_wav=""):
    d = tmp_path / "data"
    d.mkdir()
    t = np.arange(22050 * 2) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], 1) * 0.5
    sf.write(tmp_path / "a.wav", stereo, 22050)
    sf.write(tmp_path / "b.wav", np.full(16000, 0.25), 16000, subtype="PCM_16")
    (d / "wav.scp").write_text(f"a {tmp_path}/a.wav\nb {tmp_path}/b.wav\n{extra_wav}")
    (d / "segments").write_text("a_1 a 0.50 1.50\nb_1 b 0.00 0.50\n")
    (d / "utt2spk").write_text("a_1 a\nb_1 b\n")
    (d / "text").write_text("a_1 hello\nb_1 world\n")
    (d / "rttm").write_text("SPEAKER a 1 0.5 1.0 <NA> <NA> x <NA> <NA>\n")
    return d


def test_recordings_are_resampled_to_16k_mono(tmp_path):
    d = _data_dir(tmp_path)
    out = tmp_path / "dump"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--nj", "1", "--recordings"]) == 0
    wav = read_scp(out / "wav.scp")
    audio, rate = sf.read(wav["a"])
    assert rate == 16000 and audio.ndim == 1 and len(audio) == 32000
    # channel 0 kept: a 440 Hz tone, peak near 0.5
    spec = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spec) * 16000 / len(audio) - 440) < 2
    assert read_durations(out / "reco2dur") == {"a": 2.0, "b": 1.0}
    assert (out / "segments").read_text() == (d / "segments").read_text()
    assert (out / "rttm").exists()


def test_segments_are_applied_and_cut2reco_written(tmp_path):
    d = _data_dir(tmp_path)
    out = tmp_path / "cuts"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--nj", "2"]) == 0
    wav = read_scp(out / "wav.scp")
    assert sorted(wav) == ["a_1", "b_1"]
    b, rate = sf.read(wav["b_1"])
    assert len(b) == 8000 and np.allclose(b, 0.25, atol=1e-3)
    assert read_scp(out / "cut2reco") == {"a_1": "a 0.500 1.500", "b_1": "b 0.000 0.500"}
    assert not (out / "segments").exists() and not (out / "rttm").exists()
    assert read_durations(out / "utt2dur") == {"a_1": 1.0, "b_1": 0.5}


def test_bad_entries_are_all_reported_and_nothing_is_written(tmp_path, caplog):
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1] * 100, np.float32), 16000, subtype="FLOAT")
    (tmp_path / "empty.wav").write_bytes(b"")
    d = _data_dir(tmp_path, f"c {tmp_path}/nan.wav\nd {tmp_path}/missing.wav\ne {tmp_path}/empty.wav\n")
    out = tmp_path / "dump"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--nj", "1", "--recordings"]) == 1
    text = caplog.text
    for key in ("'c'", "'d'", "'e'"):
        assert key in text
    assert "NaN" in text and "no such file" in text
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dump")]


def test_missing_wav_scp(tmp_path, caplog):
    (tmp_path / "d").mkdir()
    assert main(["--in_dir", str(tmp_path / "d"), "--out_dir", str(tmp_path / "o")]) == 1
    assert "wav.scp: no such file" in caplog.text
